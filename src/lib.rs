//! Serve machine-learning models inside your own process.
//!
//! modelhost gives an application (a webshop backend, a stream processor) the
//! safety and operations features of a model-serving stack without a network
//! hop: inputs checked against the model's feature schema, versioned models,
//! and predictions from any fitted linfa model.
//!
//! # The request path
//!
//! 1. Describe the model's input as a [`FeatureSchema`] (by hand with
//!    [`SchemaBuilder`], or from a host struct with
//!    [`FeatureSchema::from_type`]).
//! 2. Turn raw input ([`FeatureMap`], from code or JSON) into a validated
//!    [`FeatureVector`] with [`FeatureSchema::validate`]; bad input yields a
//!    [`SchemaError`] naming every offending feature.
//! 3. Predict with a [`Model`], e.g. a [`LinfaModel`] around a linfa-trees
//!    decision tree.
//!
//! ```
//! use linfa::prelude::*;
//! use linfa_trees::DecisionTree;
//! use modelhost::{Feature, FeatureMap, FeatureSchema, LinfaModel, Model};
//! use ndarray::array;
//!
//! let schema = FeatureSchema::builder()
//!     .feature(Feature::integer("recency_days").min(0.0))
//!     .feature(Feature::categorical("device", ["mobile", "desktop"]))
//!     .build()?;
//! let x = array![[1.0, 0.0], [2.0, 1.0], [40.0, 0.0], [50.0, 1.0]];
//! let tree = DecisionTree::params().fit(&Dataset::new(x, array![1usize, 1, 0, 0])).unwrap();
//! let model = LinfaModel::decision_tree(tree, schema.clone(), ["no", "yes"])?;
//!
//! let input: FeatureMap = serde_json::from_str(r#"{"recency_days": 3, "device": "mobile"}"#).unwrap();
//! let row = schema.validate(&input)?;
//! assert_eq!(model.predict_vector(&row)?.label(0, model.output()), Some("yes"));
//!
//! let bad: FeatureMap = serde_json::from_str(r#"{"recency_days": -1, "device": "tv"}"#).unwrap();
//! assert_eq!(schema.validate(&bad).unwrap_err().violations().len(), 2);
//! # Ok::<(), modelhost::Error>(())
//! ```
//!
//! # Serving a registry alias
//!
//! In production, models come from a [`Registry`] and the server follows an
//! alias: promoting a version swaps it in while requests flow. [`Serving`]
//! builds all of it in one call, here with a [`Monitor`] for drift and live
//! quality:
//!
//! ```no_run
//! use modelhost::{FeatureMap, ModelServer, PredictRequest, Registry, Serving};
//!
//! let registry = Registry::open("/var/lib/models")?;
//! let served = Serving::from_registry(&registry, "recommender@production")?
//!     .monitor(|monitor| monitor)
//!     .start()?;
//! let input: FeatureMap = serde_json::from_str(r#"{"recency_days": 3, "device": "mobile"}"#).unwrap();
//! let response = served.predict(PredictRequest::new(&input).with_id("visit-17"))?;
//! println!("{:?} from version {}", response.label(0), response.version);
//! // When the outcome is known:
//! served.monitor().expect("configured").record_outcome("visit-17", "buy")?;
//! # Ok::<(), modelhost::Error>(())
//! ```
//!
//! # Monitoring
//!
//! A [`Monitor`] attached to an [`InProcessServer`] records Prometheus-named
//! metrics through the `metrics` facade, scores input drift against the
//! training statistics in the model's artifact, joins feedback to
//! predictions for live accuracy, and fires [`AlertRule`]s; see
//! [`monitor`].
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `linfa` | yes | [`LinfaModel`], the adapter for linfa and linfa-trees models |
//! | `http` | no | [`transport::http`]: an axum `Router` speaking Open Inference Protocol v2 and MLflow scoring, with `/metrics`, admin endpoints and OpenAPI (adds axum and tokio) |
//! | `grpc` | no | [`transport::grpc`]: the Open Inference Protocol over gRPC (tonic), sharing the HTTP transport's models and limits |
//! | `nats` | no | [`transport::stream`]: predictions for NATS JetStream event streams, at least once end to end and de-duplicated (adds async-nats and tokio) |
//! | `prometheus` | no | [`monitor::prometheus`]: install `metrics-exporter-prometheus` as the recorder |
//! | `tracing` | no | the crate's events (alerts, failed loads, connection trouble) through `tracing`, which hands them to `log` when no subscriber is set |
//! | `logistic`, `forest`, `linear` | no | pack fitted linfa-logistic, linfa-ensemble and linfa-linear models as artifacts ([`Artifact::random_forest`](artifact::Artifact) and others); serving them needs no feature |
//!
//! The default build needs no async runtime and no network.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Emits a diagnostic event (`error`, `warn`, `info` or `debug`, as the
/// first argument) through `log`, or with the `tracing` feature through
/// `tracing`, which hands it to `log` when no tracing subscriber is set. So
/// an application that uses either sees the crate's events without a bridge.
macro_rules! emit {
    ($level:ident, target: $target:expr, $($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        tracing::$level!(target: $target, $($arg)+);
        #[cfg(not(feature = "tracing"))]
        log::$level!(target: $target, $($arg)+);
    }};
    ($level:ident, $($arg:tt)+) => {
        emit!($level, target: module_path!(), $($arg)+)
    };
}

// The modules in layer order, lowest first: each imports only from the
// modules listed before it (checked by `tests/layers.rs`; see
// ARCHITECTURE.md).
pub mod artifact;
pub mod batching;
pub mod deployment;
pub mod error;
pub mod import;
pub mod model;
pub mod monitor;
pub mod rank;
pub mod registry;
pub mod reload;
pub mod schema;
pub mod server;
pub mod serving;
pub mod transport;

pub use batching::{BatchConfig, Batcher};
pub use deployment::Deployment;
pub use error::{Error, Result};
#[cfg(feature = "linfa")]
pub use model::LinfaModel;
pub use model::{Model, OutputKind, Prediction, Predictions};
pub use monitor::{AlertRule, AlertSink, Monitor, MonitorSnapshot};
pub use registry::{ModelRef, Registry};
pub use reload::{AliasWatcher, WatchOptions};
pub use schema::{
    Feature, FeatureBatch, FeatureKind, FeatureMap, FeatureSchema, FeatureValue, FeatureVector,
    SchemaBuilder, SchemaError,
};
pub use server::{InProcessServer, ModelServer, PredictRequest, PredictResponse};
pub use serving::{Served, Serving};
