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
//! - [`PredictObserver`] lets monitoring see a sample of the requests,
//!   every failed one, every swap and failed load; the server counts every
//!   request itself ([`RequestTotals`]).
//!
//! Where versions come from is not this module's concern: the
//! [`reload`](crate::reload) module's `AliasWatcher` follows a registry
//! alias and swaps what it finds into an [`InProcessServer`].

mod counts;
mod future;
mod in_process;
mod observe;
mod service;

pub use crate::deployment::Deployment;
pub use crate::schema::{FeatureChange, SchemaDiff};
pub use future::PredictFuture;
pub use in_process::{InProcessServer, PinnedModel, ServerBuilder, SwapOptions, SwapReport};
pub use observe::{
    Outcome, PredictEvent, PredictObserver, RequestTotals, SwapEvent, VersionTotals,
};
pub use service::{
    Health, ModelMetadata, ModelServer, PredictRequest, PredictResponse, ValidatedRows,
};
