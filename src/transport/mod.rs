//! Ways to reach a [`ModelServer`](crate::ModelServer) from outside the
//! process.
//!
//! The in-process path needs no transport: host code calls
//! [`ModelServer::predict`](crate::ModelServer::predict) directly. A transport
//! exposes the same servers to other processes, each behind its own cargo
//! feature so the default build stays free of async runtimes and network
//! code.
//!
//! | transport | feature | what it speaks |
//! |---|---|---|
//! | [`http`] | `http` | Open Inference Protocol v2 (KServe / Triton REST, with the binary tensor extension), MLflow's `/invocations` scoring protocol, KServe V1, Prometheus `/metrics`, model repository and alias admin endpoints, OpenAPI |
//! | [`grpc`] | `grpc` | Open Inference Protocol v2 over gRPC (Triton's and KServe's `inference.GRPCInferenceService`: health, metadata, inference with typed or raw tensors, config, statistics, repository), built by the same [`HttpTransport`](http::HttpTransport) configuration |
//! | [`stream`] | `nats` | event streams: a broker-agnostic loop (decode, predict, publish with a de-duplication id, then acknowledge; dead letters; bounded retries) with a NATS JetStream adapter |
//!
//! Transports only translate: they parse the wire format into a
//! [`PredictRequest`](crate::PredictRequest), call the server, and map its
//! answer or its [`Error`](crate::Error) to the protocol. Validation, version
//! pinning and every guarantee of the server hold unchanged over the wire.

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;

#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod stream;

mod error;

pub use error::TransportError;
