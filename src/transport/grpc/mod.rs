//! The Open Inference Protocol v2 over gRPC: Triton's and KServe's
//! `inference.GRPCInferenceService`, so `tritonclient.grpc` and KServe's
//! `InferenceGRPCClient` work unchanged.
//!
//! The service is built by the same [`HttpTransport`](crate::transport::http::HttpTransport)
//! configuration as the REST router
//! ([`build_grpc`](crate::transport::http::HttpTransport::build_grpc), or
//! [`build_with_grpc`](crate::transport::http::HttpTransport::build_with_grpc) for both sharing one set of models,
//! admission slots, statistics and unloaded states), and added to a tonic
//! server:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use modelhost::InProcessServer;
//! use modelhost::transport::http::HttpTransport;
//!
//! # async fn run(server: Arc<InProcessServer>) -> Result<(), Box<dyn std::error::Error>> {
//! let (router, grpc) = HttpTransport::new().model(server).build_with_grpc()?;
//! let grpc = tonic::transport::Server::builder()
//!     .add_service(grpc)
//!     .serve("127.0.0.1:8001".parse()?);
//! # let _ = router;
//! grpc.await?;
//! # Ok(()) }
//! ```
//!
//! | method | answer |
//! |---|---|
//! | `ServerLive`, `ServerReady` | live; ready when every model is |
//! | `ModelReady` | `ready: false` for a model not served, unloaded or not ready, or a version not held |
//! | `ServerMetadata`, `ModelMetadata` | as the REST metadata: one `[-1]` input per feature, exactly the outputs the model has |
//! | `ModelInfer` | typed `contents` or `raw_input_contents` in; outputs as `raw_output_contents` (as Triton answers), `label`, `probabilities` or `score`, with Triton's `classification` parameter |
//! | `ModelConfig`, `ModelStatistics` | Triton's configuration and per-version statistics (shared with REST) |
//! | `RepositoryIndex` | open, read-only |
//! | `RepositoryModelLoad`, `RepositoryModelUnload` | admin: `authorization: Bearer <token>` in the call's metadata |
//!
//! Streaming inference, shared memory, trace and log settings answer
//! `UNIMPLEMENTED`. Limits are the REST ones: a message over the body limit
//! is refused before it is decoded, with `RESOURCE_EXHAUSTED` (as gRPC's own
//! servers answer; tonic's `OUT_OF_RANGE` is rewritten), rows
//! over the row limit with `RESOURCE_EXHAUSTED`, and inference beyond the
//! admission limit with `UNAVAILABLE` at once. Errors carry the REST
//! message; codes follow the REST status: 400 `INVALID_ARGUMENT`, 401
//! `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`, 404 `NOT_FOUND`, 409
//! `FAILED_PRECONDITION`, 413 `RESOURCE_EXHAUSTED`, 503 `UNAVAILABLE`,
//! 504 `DEADLINE_EXCEEDED`, 500 `INTERNAL`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::http::StatusCode;
use tonic::{Request, Response, Status};

use crate::model::OutputKind;
use crate::schema::FeatureKind;
use crate::transport::http::codec::{self, Datatype, Values};
use crate::transport::http::error::Rejection;
use crate::transport::http::oip::decode::{Decoded, OutputSpec, to_request};
use crate::transport::http::oip::response::{OutputData, feature_datatype, outputs};
use crate::transport::http::oip::{LABEL, PROBABILITIES, SCORE};
use crate::transport::http::router::{ModelEntry, Shared};
use crate::transport::http::{admin, stats};

/// Messages and service code generated from `proto/inference.proto`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod proto;

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::infer_parameter::ParameterChoice;
use proto::model_infer_request::InferInputTensor;
use proto::model_infer_response::InferOutputTensor;
use proto::model_metadata_response::TensorMetadata;
use proto::*;

/// The tonic service to add to a `tonic::transport::Server`: the
/// generated `GRPCInferenceService` server, with one change to tonic's
/// answers. A message over the body limit is refused before it is decoded;
/// tonic reports that as `OUT_OF_RANGE`, gRPC's own servers (and so Triton)
/// as `RESOURCE_EXHAUSTED`, which is what clients retry-classify as a limit,
/// so the status is rewritten to `RESOURCE_EXHAUSTED` with tonic's message.
#[derive(Debug, Clone)]
pub struct GrpcService {
    inner: GrpcInferenceServiceServer<Inference>,
}

impl tonic::server::NamedService for GrpcService {
    const NAME: &'static str =
        <GrpcInferenceServiceServer<Inference> as tonic::server::NamedService>::NAME;
}

impl<B> tonic::codegen::Service<tonic::codegen::http::Request<B>> for GrpcService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = tonic::codegen::http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tonic::codegen::Service::<tonic::codegen::http::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            over_limit_is_resource_exhausted(response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrites tonic's `OUT_OF_RANGE` for a request message over the decoding
/// limit (a trailers-only answer: the status is in the headers) to
/// `RESOURCE_EXHAUSTED`.
fn over_limit_is_resource_exhausted(headers: &mut tonic::codegen::http::HeaderMap) {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if headers.get("grpc-status").and_then(|v| v.to_str().ok()) != Some(out_of_range.as_str()) {
        return;
    }
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            m.replace("%20", " ")
                .starts_with("Error, decoded message length too large")
        });
    if too_large {
        headers.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from(tonic::Code::ResourceExhausted as i32),
        );
    }
}

/// The implementation of `inference.GRPCInferenceService` over the models
/// of one [`HttpTransport`](crate::transport::http::HttpTransport) configuration.
pub struct Inference {
    shared: Arc<Shared>,
}

impl fmt::Debug for Inference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inference")
            .field("models", &self.shared.models.len())
            .finish()
    }
}

/// The service over `shared`, refusing messages over the body limit before
/// decoding them.
pub(crate) fn service(shared: Arc<Shared>) -> GrpcService {
    let limit = shared.body_limit;
    GrpcService {
        inner: GrpcInferenceServiceServer::new(Inference { shared })
            .max_decoding_message_size(limit),
    }
}

/// The gRPC status of a rejection: the code of its REST status, and the
/// same message.
fn status(rejection: Rejection) -> Status {
    let message = rejection.message();
    let code = match rejection.status().0 {
        StatusCode::BAD_REQUEST
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY => tonic::Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::NOT_FOUND => tonic::Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => tonic::Code::Unimplemented,
        StatusCode::CONFLICT => tonic::Code::FailedPrecondition,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => {
            tonic::Code::ResourceExhausted
        }
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => tonic::Code::DeadlineExceeded,
        StatusCode::INTERNAL_SERVER_ERROR => tonic::Code::Internal,
        _ => tonic::Code::Unknown,
    };
    Status::new(code, message)
}

fn model_is_ready(m: &ModelEntry) -> bool {
    !m.is_unloaded() && m.server.health().is_ready()
}

/// An optional version string: empty means the serving version.
fn version_of(v: &str) -> Result<Option<u64>, Rejection> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .map(Some)
        .ok_or_else(|| Rejection::InvalidVersion(v.to_owned()))
}

/// A non-negative integer parameter (`classification`).
fn count_parameter(p: &InferParameter) -> Option<usize> {
    match p.parameter_choice.as_ref()? {
        ParameterChoice::Int64Param(n) => usize::try_from(*n).ok(),
        ParameterChoice::Uint64Param(n) => usize::try_from(*n).ok(),
        _ => None,
    }
}

/// One input tensor's values from its typed contents, `count` of them.
fn typed_values(
    datatype: Datatype,
    contents: Option<InferTensorContents>,
    count: usize,
) -> Result<Values, String> {
    let c = contents.unwrap_or_default();
    let check = |n: usize, field: &str| {
        if n == count {
            Ok(())
        } else {
            Err(format!(
                "has {n} values in `{field}`, its shape holds {count}"
            ))
        }
    };
    Ok(match datatype {
        Datatype::Bool => {
            check(c.bool_contents.len(), "bool_contents")?;
            Values::Bool(c.bool_contents)
        }
        Datatype::I8 | Datatype::I16 | Datatype::I32 => {
            check(c.int_contents.len(), "int_contents")?;
            Values::Int(c.int_contents.into_iter().map(i64::from).collect())
        }
        Datatype::I64 => {
            check(c.int64_contents.len(), "int64_contents")?;
            Values::Int(c.int64_contents)
        }
        Datatype::U8 | Datatype::U16 | Datatype::U32 => {
            check(c.uint_contents.len(), "uint_contents")?;
            Values::Int(c.uint_contents.into_iter().map(i64::from).collect())
        }
        Datatype::U64 => {
            check(c.uint64_contents.len(), "uint64_contents")?;
            Values::Int(
                c.uint64_contents
                    .into_iter()
                    .map(|v| i64::try_from(v).map_err(|_| format!("value {v} is out of range")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Datatype::F32 => {
            check(c.fp32_contents.len(), "fp32_contents")?;
            Values::Float(c.fp32_contents.into_iter().map(f64::from).collect())
        }
        Datatype::F64 => {
            check(c.fp64_contents.len(), "fp64_contents")?;
            Values::Float(c.fp64_contents)
        }
        Datatype::Bytes => {
            check(c.bytes_contents.len(), "bytes_contents")?;
            Values::Str(
                c.bytes_contents
                    .into_iter()
                    .map(|b| {
                        String::from_utf8(b)
                            .map_err(|_| "holds bytes that are not UTF-8".to_owned())
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// The request's input tensors, each from its typed contents or from the
/// raw contents at its position (all or none of them raw).
fn decode_inputs(
    inputs: Vec<InferInputTensor>,
    raw: Vec<Vec<u8>>,
    max_rows: usize,
) -> Result<Vec<Decoded>, Rejection> {
    if !raw.is_empty() && raw.len() != inputs.len() {
        return Err(Rejection::BadBinary(format!(
            "{} raw_input_contents for {} inputs: give one per input, or none",
            raw.len(),
            inputs.len()
        )));
    }
    let mut raw = raw.into_iter();
    let mut out: Vec<Decoded> = Vec::with_capacity(inputs.len());
    let mut names: Vec<String> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let bad = |reason: String| Rejection::BadTensor {
            input: input.name.clone(),
            reason,
        };
        if names.contains(&input.name) {
            return Err(bad("appears more than once".into()));
        }
        let datatype = Datatype::parse(&input.datatype)
            .ok_or_else(|| bad(format!("unsupported datatype {:?}", input.datatype)))?;
        let count = codec::element_count(&input.shape).map_err(bad)?;
        if let Some(&rows) = input.shape.first()
            && rows as u64 > max_rows as u64
        {
            return Err(Rejection::TooManyRows {
                rows: rows as usize,
                limit: max_rows,
            });
        }
        let values = match raw.next() {
            Some(bytes) => codec::decode_binary(datatype, &bytes, count).map_err(bad)?,
            None => typed_values(datatype, input.contents, count).map_err(bad)?,
        };
        names.push(input.name.clone());
        out.push(Decoded::new(input.name, datatype, input.shape, values));
    }
    Ok(out)
}

/// The tensor metadata of a model's outputs, as the REST metadata lists
/// them.
fn output_metadata(output: &OutputKind) -> Vec<TensorMetadata> {
    let tensor = |name: &str, datatype: &str, shape: Vec<i64>| TensorMetadata {
        name: name.to_owned(),
        datatype: datatype.to_owned(),
        shape,
    };
    match output {
        OutputKind::Classification {
            labels,
            probabilities: true,
        } => vec![
            tensor(LABEL, "BYTES", vec![-1]),
            tensor(
                PROBABILITIES,
                "FP64",
                vec![-1, i64::try_from(labels.len()).unwrap_or(i64::MAX)],
            ),
        ],
        OutputKind::Classification { .. } => vec![tensor(LABEL, "BYTES", vec![-1])],
        OutputKind::Regression => vec![tensor(SCORE, "FP64", vec![-1])],
    }
}

fn data_type(kind: &FeatureKind) -> DataType {
    match stats::triton_type(kind) {
        "TYPE_FP64" => DataType::TypeFp64,
        "TYPE_INT64" => DataType::TypeInt64,
        "TYPE_BOOL" => DataType::TypeBool,
        _ => DataType::TypeString,
    }
}

fn duration(count: u64, ns: u64) -> Option<StatisticDuration> {
    Some(StatisticDuration { count, ns })
}

impl Inference {
    /// Checks the admin token in the call's metadata.
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let headers = request.metadata().clone().into_headers();
        admin::authorize(&self.shared, &headers).map_err(status)
    }

    async fn infer(&self, req: ModelInferRequest) -> Result<ModelInferResponse, Rejection> {
        let shared = &self.shared;
        let entry = shared.model(&req.model_name)?;
        let version = version_of(&req.model_version)?;
        if entry.is_unloaded() {
            return Err(Rejection::Unloaded(entry.name.to_string()));
        }
        let specs = if req.outputs.is_empty() {
            None
        } else {
            Some(
                req.outputs
                    .into_iter()
                    .map(|o| {
                        let classification = match o.parameters.get("classification") {
                            None => None,
                            Some(p) => {
                                Some(count_parameter(p).filter(|&k| k > 0).ok_or_else(|| {
                                    Rejection::BadRequest(
                                        "parameter `classification` must be a positive integer"
                                            .into(),
                                    )
                                })?)
                            }
                        };
                        OutputSpec::checked(o.name, false, classification)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let inputs = decode_inputs(req.inputs, req.raw_input_contents, shared.max_rows)?;
        let mut request = to_request(entry, inputs, shared.max_rows)?;
        if !req.id.is_empty() {
            request = request.with_id(req.id);
        }
        if let Some(v) = version {
            request = request.with_version(v);
        }
        let response = shared.predict(entry, request).await?;
        let mut tensors = Vec::new();
        let mut raw = Vec::new();
        for o in outputs(&response, specs, false)? {
            let mut bytes = Vec::new();
            match &o.data {
                OutputData::Strings(v) => {
                    codec::encode_bytes_elements(v.iter().map(String::as_str), &mut bytes);
                }
                OutputData::F64(v) => codec::encode_f64(v.iter().copied(), &mut bytes),
            }
            raw.push(bytes);
            tensors.push(InferOutputTensor {
                name: o.name,
                datatype: o.datatype.to_owned(),
                shape: o
                    .shape
                    .iter()
                    .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
                    .collect(),
                parameters: HashMap::new(),
                contents: None,
            });
        }
        Ok(ModelInferResponse {
            model_name: response.model.to_string(),
            model_version: response.version.to_string(),
            id: response.id.clone().unwrap_or_default(),
            parameters: HashMap::new(),
            outputs: tensors,
            raw_output_contents: raw,
        })
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = self.shared.models.iter().all(model_is_ready);
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let req = request.into_inner();
        let version = version_of(&req.version).map_err(status)?;
        let ready = self.shared.model(&req.name).is_ok_and(|entry| {
            model_is_ready(entry)
                && version.is_none_or(|v| {
                    entry
                        .server
                        .metadata()
                        .is_ok_and(|m| m.held_versions.contains(&v))
                })
        });
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        let mut extensions = vec!["binary_tensor_data".to_owned(), "statistics".to_owned()];
        if self.shared.admin_token.is_some() {
            extensions.push("model_repository".to_owned());
        }
        Ok(Response::new(ServerMetadataResponse {
            name: "modelhost".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions,
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let req = request.into_inner();
        let entry = self.shared.model(&req.name).map_err(status)?;
        let meta = entry.server.metadata().map_err(|e| status(e.into()))?;
        if let Some(v) = version_of(&req.version).map_err(status)?
            && !meta.held_versions.contains(&v)
        {
            return Err(Status::not_found(format!(
                "model `{}` does not hold version {v}",
                req.name
            )));
        }
        let inputs = meta
            .schema
            .features()
            .iter()
            .map(|f| TensorMetadata {
                name: f.name().to_owned(),
                datatype: feature_datatype(f.kind()).to_owned(),
                shape: vec![-1],
            })
            .collect();
        Ok(Response::new(ModelMetadataResponse {
            name: meta.name.to_string(),
            versions: meta.held_versions.iter().map(u64::to_string).collect(),
            platform: "modelhost".to_owned(),
            inputs,
            outputs: output_metadata(&meta.output),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        // Admission: refused at once beyond the limit, as over REST.
        let Ok(_slot) = self.shared.admission.try_acquire() else {
            return Err(status(Rejection::Busy {
                limit: self.shared.max_in_flight,
            }));
        };
        self.infer(request.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        let req = request.into_inner();
        let entry = self.shared.model(&req.name).map_err(status)?;
        let meta = entry.server.metadata().map_err(|e| status(e.into()))?;
        let input = meta
            .schema
            .features()
            .iter()
            .map(|f| ModelInput {
                name: f.name().to_owned(),
                data_type: data_type(f.kind()).into(),
                dims: vec![1],
                optional: f.default_value().is_some(),
            })
            .collect();
        let output = output_metadata(&meta.output)
            .into_iter()
            .map(|t| ModelOutput {
                data_type: if t.datatype == "BYTES" {
                    DataType::TypeString
                } else {
                    DataType::TypeFp64
                }
                .into(),
                dims: if t.shape.len() == 2 {
                    vec![t.shape[1]]
                } else {
                    vec![1]
                },
                name: t.name,
            })
            .collect();
        Ok(Response::new(ModelConfigResponse {
            config: Some(ModelConfig {
                name: meta.name.to_string(),
                platform: "modelhost".to_owned(),
                backend: "modelhost".to_owned(),
                max_batch_size: i32::try_from(self.shared.max_rows).unwrap_or(i32::MAX),
                input,
                output,
            }),
        }))
    }

    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        let req = request.into_inner();
        let version = version_of(&req.version).map_err(status)?;
        let models: Vec<&ModelEntry> = if req.name.is_empty() {
            self.shared.models.iter().collect()
        } else {
            vec![self.shared.model(&req.name).map_err(status)?]
        };
        let mut model_stats = Vec::new();
        for m in models {
            for s in m.stats.snapshot() {
                if version.is_some_and(|v| v != s.version) {
                    continue;
                }
                model_stats.push(ModelStatistics {
                    name: m.name.to_string(),
                    version: s.version.to_string(),
                    last_inference: s.last_ms,
                    inference_count: s.success,
                    execution_count: s.success,
                    inference_stats: Some(InferStatistics {
                        success: duration(s.success, s.success_ns),
                        fail: duration(s.fail, s.fail_ns),
                        queue: duration(0, 0),
                        compute_input: duration(0, 0),
                        compute_infer: duration(s.success, s.success_ns),
                        compute_output: duration(0, 0),
                        cache_hit: duration(0, 0),
                        cache_miss: duration(0, 0),
                    }),
                    batch_stats: Vec::new(),
                    memory_usage: Vec::new(),
                    response_stats: HashMap::new(),
                });
            }
        }
        Ok(Response::new(ModelStatisticsResponse { model_stats }))
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        let req = request.into_inner();
        let models = admin::index_entries(&self.shared, req.ready)
            .into_iter()
            .map(|e| repository_index_response::ModelIndex {
                name: e.name,
                version: e.version,
                state: e.state.to_owned(),
                reason: e.reason,
            })
            .collect();
        Ok(Response::new(RepositoryIndexResponse { models }))
    }

    async fn repository_model_load(
        &self,
        request: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        self.authorize(&request)?;
        let req = request.into_inner();
        let version = match req
            .parameters
            .get("version")
            .and_then(|p| p.parameter_choice.as_ref())
        {
            None => None,
            Some(choice) => Some(
                match choice {
                    model_repository_parameter::ParameterChoice::Int64Param(n) => {
                        u64::try_from(*n).ok()
                    }
                    model_repository_parameter::ParameterChoice::StringParam(s) => s.parse().ok(),
                    _ => None,
                }
                .filter(|&v| v > 0)
                .ok_or_else(|| status(Rejection::InvalidVersion(format!("{choice:?}"))))?,
            ),
        };
        admin::load_model(&self.shared, &req.model_name, version)
            .await
            .map_err(status)?;
        Ok(Response::new(RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        request: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        self.authorize(&request)?;
        admin::unload_model(&self.shared, &request.get_ref().model_name).map_err(status)?;
        Ok(Response::new(RepositoryModelUnloadResponse {}))
    }
}
