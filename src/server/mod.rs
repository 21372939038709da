//! The serving interface and the in-process server.
//!
//! - [`ModelServer`] is the small, object-safe trait that host code, the
//!   batcher and the transports talk to: [`PredictRequest`] in,
//!   [`PredictResponse`] (naming the exact version that served it) out.
//! - [`InProcessServer`] holds one model in an atomically swappable slot.
//!   Its type documentation states the guarantees: one version per request,
//!   every fallible step before the store, old versions freed when their last
//!   request ends.
//! - [`Deployment`] is one model version ready to serve; [`SchemaDiff`]
//!   describes how a swap changes the input contract.
//! - [`PredictObserver`] lets monitoring see every request (or a sample,
//!   with the rest counted in [`RequestCounts`]) and every swap.
//! - [`ReloadPolicy`]: swap by hand, or let an [`AliasWatcher`] follow a
//!   registry alias such as `recommender@production`.

mod deployment;
mod diff;
mod in_process;
mod observe;
mod service;
mod watcher;

pub use deployment::Deployment;
pub(crate) use deployment::panic_message;
pub use diff::{FeatureChange, SchemaDiff};
pub use in_process::{InProcessServer, PinnedModel, ServerBuilder, SwapOptions, SwapReport};
pub use observe::{Counted, PredictEvent, PredictObserver, RequestCounts, SwapEvent};
pub(crate) use observe::{Tally, bump, take_new};
pub use service::{Health, ModelMetadata, ModelServer, PredictRequest, PredictResponse};
pub use watcher::{AliasWatcher, ReloadPolicy, WatchEvent, WatchOptions};
