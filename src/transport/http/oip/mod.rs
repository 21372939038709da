//! Open Inference Protocol v2 (KServe / Triton REST): health, metadata and
//! inference, with the binary tensor data extension.
//!
//! - `handlers`: the endpoints, from path and body to an answer;
//! - `decode`: request JSON and binary tensors into a [`PredictRequest`](crate::PredictRequest),
//!   with every length and shape checked before anything is allocated for it;
//! - `response`: model metadata and inference responses, JSON or binary.

pub(crate) mod decode;
mod handlers;
pub(crate) mod response;

pub(crate) use handlers::{
    infer, live, model_metadata, model_ready, ready, server_metadata, version_infer,
    version_metadata, version_ready,
};
pub(crate) use response::{feature_datatype, output_tensors};

/// The output tensor names.
pub(crate) const LABEL: &str = "label";
pub(crate) const PROBABILITIES: &str = "probabilities";
pub(crate) const SCORE: &str = "score";
