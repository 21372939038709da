//! The gRPC transport over real sockets, driven by a tonic client of the
//! same protocol: health, metadata, inference with typed and raw tensors,
//! configuration, statistics shared with REST, the repository methods with
//! their token, and each error code.

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use modelhost::artifact::ReadOptions;
use modelhost::transport::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use modelhost::transport::grpc::proto::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use modelhost::transport::grpc::proto::*;
use modelhost::transport::http::HttpTransport;
use modelhost::{FeatureMap, FeatureValue, InProcessServer, ModelServer, PredictRequest};
use support::http::Running;
use support::{Gate, MockModel};
use tonic::transport::Channel;

type Client = GrpcInferenceServiceClient<Channel>;

const TOKEN: &str = "grpc-test-token";

/// Serves `service` on a free loopback port; the client connected to it.
async fn connect(service: modelhost::transport::grpc::GrpcService) -> Client {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(
        tokio::net::TcpListener::from_std(listener).unwrap(),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    GrpcInferenceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// The webshop tree, with leaf probabilities, in process.
fn shop() -> Arc<InProcessServer> {
    let loaded = common::tree_artifact("shop", 400, 3, 4)
        .unwrap()
        .into_loaded(ReadOptions::new())
        .unwrap();
    Arc::new(InProcessServer::new(loaded.deployment().unwrap()).unwrap())
}

/// One typed input tensor per feature for `rows`.
fn typed_inputs(rows: &[FeatureMap]) -> Vec<InferInputTensor> {
    let schema = common::webshop_schema();
    schema
        .features()
        .iter()
        .map(|f| {
            let values: Vec<&FeatureValue> = rows
                .iter()
                .map(|r| r.get(f.name()).unwrap_or(&FeatureValue::Bool(false)))
                .collect();
            let mut contents = InferTensorContents::default();
            let datatype = match f.kind() {
                modelhost::FeatureKind::Float { .. } => {
                    contents.fp64_contents = values
                        .iter()
                        .map(|v| match v {
                            FeatureValue::Float(x) => *x,
                            FeatureValue::Int(i) => *i as f64,
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    "FP64"
                }
                modelhost::FeatureKind::Integer { .. } => {
                    contents.int64_contents = values
                        .iter()
                        .map(|v| match v {
                            FeatureValue::Int(i) => *i,
                            FeatureValue::Float(x) => *x as i64,
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    "INT64"
                }
                modelhost::FeatureKind::Boolean => {
                    contents.bool_contents = values
                        .iter()
                        .map(|v| matches!(v, FeatureValue::Bool(true)))
                        .collect();
                    "BOOL"
                }
                _ => {
                    contents.bytes_contents = values
                        .iter()
                        .map(|v| match v {
                            FeatureValue::Str(s) => s.clone().into_bytes(),
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    "BYTES"
                }
            };
            InferInputTensor {
                name: f.name().to_owned(),
                datatype: datatype.to_owned(),
                shape: vec![rows.len() as i64],
                parameters: HashMap::new(),
                contents: Some(contents),
            }
        })
        .collect()
}

/// The same tensors with their values moved to `raw_input_contents`.
/// A runtime for the gRPC server and client; the HTTP helpers block.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn raw_inputs(typed: Vec<InferInputTensor>) -> (Vec<InferInputTensor>, Vec<Vec<u8>>) {
    let mut raw = Vec::new();
    let inputs = typed
        .into_iter()
        .map(|mut t| {
            let c = t.contents.take().unwrap();
            let mut bytes = Vec::new();
            match t.datatype.as_str() {
                "FP64" => c
                    .fp64_contents
                    .iter()
                    .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
                "INT64" => c
                    .int64_contents
                    .iter()
                    .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
                "BOOL" => c
                    .bool_contents
                    .iter()
                    .for_each(|v| bytes.push(u8::from(*v))),
                _ => c.bytes_contents.iter().for_each(|v| {
                    bytes.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    bytes.extend_from_slice(v);
                }),
            }
            raw.push(bytes);
            t
        })
        .collect();
    (inputs, raw)
}

fn infer_request(inputs: Vec<InferInputTensor>, raw: Vec<Vec<u8>>) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "shop".into(),
        model_version: String::new(),
        id: "req-1".into(),
        parameters: HashMap::new(),
        inputs,
        outputs: Vec::new(),
        raw_input_contents: raw,
    }
}

/// The labels and probabilities of a response's raw outputs.
fn decode_outputs(r: &ModelInferResponse) -> (Vec<String>, Vec<f64>) {
    let mut labels = Vec::new();
    let mut probabilities = Vec::new();
    for (tensor, raw) in r.outputs.iter().zip(&r.raw_output_contents) {
        match tensor.datatype.as_str() {
            "BYTES" => {
                let mut at = 0;
                while at < raw.len() {
                    let n = u32::from_le_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
                    labels.push(String::from_utf8(raw[at + 4..at + 4 + n].to_vec()).unwrap());
                    at += 4 + n;
                }
            }
            "FP64" => probabilities.extend(
                raw.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap())),
            ),
            other => panic!("{other}"),
        }
    }
    (labels, probabilities)
}

#[test]
fn health_metadata_inference_config_and_statistics() {
    let rt = runtime();
    let server = shop();
    let (router, grpc) = HttpTransport::new()
        .model(server.clone())
        .build_with_grpc()
        .unwrap();
    let http = Running::start(router);
    let mut client = rt.block_on(connect(grpc));

    assert!(
        rt.block_on(client.server_live(ServerLiveRequest {}))
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        rt.block_on(client.server_ready(ServerReadyRequest {}))
            .unwrap()
            .into_inner()
            .ready
    );
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    assert!(
        rt.block_on(client.model_ready(ready("shop", "")))
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !rt.block_on(client.model_ready(ready("nope", "")))
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !rt.block_on(client.model_ready(ready("shop", "9")))
            .unwrap()
            .into_inner()
            .ready
    );

    let meta = rt
        .block_on(client.model_metadata(ModelMetadataRequest {
            name: "shop".into(),
            version: String::new(),
        }))
        .unwrap()
        .into_inner();
    let features: Vec<String> = common::webshop_schema()
        .features()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let inputs: Vec<String> = meta.inputs.iter().map(|t| t.name.clone()).collect();
    assert_eq!(inputs, features);
    let outputs: Vec<&str> = meta.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(outputs, ["label", "probabilities"]);

    // Typed contents and raw contents, 1 and 100 rows: the same answers as
    // in process.
    let (rows, _) = common::webshop_data(100, 77, 0.2);
    for n in [1, 100] {
        let rows = &rows[..n];
        let want = server.predict(PredictRequest::rows(rows.to_vec())).unwrap();
        let want_labels: Vec<String> = (0..n).map(|i| want.label(i).unwrap().to_owned()).collect();
        let want_p: Vec<f64> = (0..n)
            .flat_map(|i| want.predictions.probabilities(i).unwrap().to_vec())
            .collect();
        let typed = typed_inputs(rows);
        let (raw_tensors, raw) = raw_inputs(typed.clone());
        for request in [
            infer_request(typed, Vec::new()),
            infer_request(raw_tensors, raw),
        ] {
            let r = rt
                .block_on(client.model_infer(request))
                .unwrap()
                .into_inner();
            assert_eq!(r.model_name, "shop");
            assert_eq!(r.id, "req-1");
            assert_eq!(r.outputs[1].shape, vec![n as i64, 2]);
            let (labels, p) = decode_outputs(&r);
            assert_eq!(labels, want_labels);
            assert_eq!(p, want_p);
        }
    }

    // Triton's classification parameter on the label output.
    let mut request = infer_request(typed_inputs(&rows[..3]), Vec::new());
    request.outputs = vec![InferRequestedOutputTensor {
        name: "label".into(),
        parameters: HashMap::from([(
            "classification".to_owned(),
            InferParameter {
                parameter_choice: Some(infer_parameter::ParameterChoice::Int64Param(2)),
            },
        )]),
    }];
    let r = rt
        .block_on(client.model_infer(request))
        .unwrap()
        .into_inner();
    assert_eq!(r.outputs.len(), 1);
    assert_eq!(r.outputs[0].shape, vec![3, 2]);
    let (cells, _) = decode_outputs(&r);
    assert_eq!(cells.len(), 6);
    assert!(cells.iter().all(|c| c.split(':').count() == 3), "{cells:?}");

    let config = rt
        .block_on(client.model_config(ModelConfigRequest {
            name: "shop".into(),
            version: String::new(),
        }))
        .unwrap()
        .into_inner()
        .config
        .unwrap();
    assert_eq!(config.backend, "modelhost");
    assert_eq!(config.input.len(), features.len());
    assert_eq!(config.output[1].dims, vec![2]);

    // One more inference over REST: the statistics count both protocols.
    let body = serde_json::json!({
        "inputs": support::http::oip_inputs(&common::webshop_schema(), &rows[..2]),
    });
    let reply = http.post("/v2/models/shop/infer", body.to_string());
    assert_eq!(reply.status, 200, "{}", reply.error());
    let stats = rt
        .block_on(client.model_statistics(ModelStatisticsRequest {
            name: "shop".into(),
            version: String::new(),
        }))
        .unwrap()
        .into_inner();
    let successes: u64 = stats
        .model_stats
        .iter()
        .map(|s| s.inference_stats.as_ref().unwrap().success.unwrap().count)
        .sum();
    assert_eq!(successes, 4 + 1 + 1);
    let rest = http.get("/v2/models/shop/stats").json();
    assert_eq!(
        rest["model_stats"][0]["inference_stats"]["success"]["count"],
        6
    );
}

#[test]
fn errors_have_their_codes() {
    let rt = runtime();
    let server = shop();
    let grpc = HttpTransport::new()
        .model(server)
        .max_rows(50)
        .body_limit(64 << 10)
        .build_grpc()
        .unwrap();
    let mut client = rt.block_on(connect(grpc));
    let (rows, _) = common::webshop_data(60, 5, 0.0);
    let code = |r: Result<tonic::Response<ModelInferResponse>, tonic::Status>| {
        r.map(|_| ()).unwrap_err().code()
    };

    let mut unknown = infer_request(typed_inputs(&rows[..1]), Vec::new());
    unknown.model_name = "nope".into();
    assert_eq!(
        code(rt.block_on(client.model_infer(unknown))),
        tonic::Code::NotFound
    );

    let mut bad_type = infer_request(typed_inputs(&rows[..1]), Vec::new());
    bad_type.inputs[0].datatype = "FP16".into();
    let e = rt.block_on(client.model_infer(bad_type)).unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("datatype"), "{}", e.message());

    let mut short = infer_request(typed_inputs(&rows[..2]), Vec::new());
    short.inputs[0].shape = vec![3];
    assert_eq!(
        code(rt.block_on(client.model_infer(short))),
        tonic::Code::InvalidArgument
    );

    let mut violation = infer_request(typed_inputs(&rows[..1]), Vec::new());
    let device = violation
        .inputs
        .iter_mut()
        .find(|t| t.name == "device")
        .unwrap();
    device.contents.as_mut().unwrap().bytes_contents = vec![b"fridge".to_vec()];
    let e = rt.block_on(client.model_infer(violation)).unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("device"), "{}", e.message());

    let (tensors, mut raw) = raw_inputs(typed_inputs(&rows[..1]));
    raw.pop();
    assert_eq!(
        code(rt.block_on(client.model_infer(infer_request(tensors, raw)))),
        tonic::Code::InvalidArgument
    );

    let mut version = infer_request(typed_inputs(&rows[..1]), Vec::new());
    version.model_version = "x".into();
    assert_eq!(
        code(rt.block_on(client.model_infer(version))),
        tonic::Code::InvalidArgument
    );
    let mut not_held = infer_request(typed_inputs(&rows[..1]), Vec::new());
    not_held.model_version = "7".into();
    assert_eq!(
        code(rt.block_on(client.model_infer(not_held))),
        tonic::Code::NotFound
    );

    let mut unknown_output = infer_request(typed_inputs(&rows[..1]), Vec::new());
    unknown_output.outputs = vec![InferRequestedOutputTensor {
        name: "score".into(),
        parameters: HashMap::new(),
    }];
    assert_eq!(
        code(rt.block_on(client.model_infer(unknown_output))),
        tonic::Code::InvalidArgument
    );

    // Over the row limit, and over the message limit (refused undecoded).
    let over = infer_request(typed_inputs(&rows[..60]), Vec::new());
    assert_eq!(
        code(rt.block_on(client.model_infer(over))),
        tonic::Code::ResourceExhausted
    );
    // A message over the body limit is refused before it is decoded, with
    // RESOURCE_EXHAUSTED as gRPC's own servers answer (tonic says
    // OUT_OF_RANGE), naming the limit.
    let mut huge = infer_request(typed_inputs(&rows[..1]), Vec::new());
    huge.id = "x".repeat(100 << 10);
    let refused = rt.block_on(client.model_infer(huge)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        refused.message().contains("the limit is"),
        "{}",
        refused.message()
    );

    // Repository methods need the token, and there is none.
    let unload = rt
        .block_on(
            client.repository_model_unload(RepositoryModelUnloadRequest {
                repository_name: String::new(),
                model_name: "shop".into(),
                parameters: HashMap::new(),
            }),
        )
        .unwrap_err();
    assert_eq!(unload.code(), tonic::Code::NotFound);
}

#[test]
fn repository_methods_need_the_token_and_share_the_unloaded_state() {
    let rt = runtime();
    let server = shop();
    let (router, grpc) = HttpTransport::new()
        .model(server)
        .admin_token(TOKEN)
        .build_with_grpc()
        .unwrap();
    let http = Running::start(router);
    let mut client = rt.block_on(connect(grpc));
    let unload = |token: Option<&str>| {
        let mut request = tonic::Request::new(RepositoryModelUnloadRequest {
            repository_name: String::new(),
            model_name: "shop".into(),
            parameters: HashMap::new(),
        });
        if let Some(t) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        request
    };
    let code = |r: Result<tonic::Response<RepositoryModelUnloadResponse>, tonic::Status>| {
        r.map(|_| ()).unwrap_err().code()
    };
    assert_eq!(
        code(rt.block_on(client.repository_model_unload(unload(None)))),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        code(rt.block_on(client.repository_model_unload(unload(Some("wrong"))))),
        tonic::Code::PermissionDenied
    );
    rt.block_on(client.repository_model_unload(unload(Some(TOKEN))))
        .unwrap();
    // Unloaded over gRPC: not ready over both protocols, inference refused.
    let index = rt
        .block_on(client.repository_index(RepositoryIndexRequest {
            repository_name: String::new(),
            ready: false,
        }))
        .unwrap()
        .into_inner();
    assert_eq!(index.models[0].state, "UNAVAILABLE");
    assert_eq!(http.get("/v2/models/shop/ready").status, 503);
    let (rows, _) = common::webshop_data(1, 5, 0.0);
    let e = rt
        .block_on(client.model_infer(infer_request(typed_inputs(&rows), Vec::new())))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);

    let mut load = tonic::Request::new(RepositoryModelLoadRequest {
        repository_name: String::new(),
        model_name: "shop".into(),
        parameters: HashMap::new(),
    });
    load.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    rt.block_on(client.repository_model_load(load)).unwrap();
    assert_eq!(http.get("/v2/models/shop/ready").status, 200);
    rt.block_on(client.model_infer(infer_request(typed_inputs(&rows), Vec::new())))
        .unwrap();
}

/// Beyond the admission limit an inference is refused at once with
/// UNAVAILABLE, never queued.
#[test]
fn inference_over_the_admission_limit_is_refused_at_once() {
    let rt = runtime();
    let gate = Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let entered = model.entered.clone();
    let server = Arc::new(InProcessServer::new(model.deploy()).unwrap());
    let grpc = HttpTransport::new()
        .model(server)
        .max_in_flight(1)
        .blocking(modelhost::transport::http::Blocking::Pool)
        .build_grpc()
        .unwrap();
    let client = rt.block_on(connect(grpc));
    let request = || ModelInferRequest {
        model_name: "mock".into(),
        model_version: String::new(),
        id: String::new(),
        parameters: HashMap::new(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "FP64".into(),
            shape: vec![1],
            parameters: HashMap::new(),
            contents: Some(InferTensorContents {
                fp64_contents: vec![1.0],
                ..InferTensorContents::default()
            }),
        }],
        outputs: Vec::new(),
        raw_input_contents: Vec::new(),
    };
    let mut first = client.clone();
    let held = rt.spawn(async move { first.model_infer(request()).await });
    // The first call holds the only slot once it reaches the model.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while entered.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first call never reached the model"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = rt
        .block_on(client.clone().model_infer(request()))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    gate.open();
    rt.block_on(held).unwrap().unwrap();
    rt.block_on(client.clone().model_infer(request())).unwrap();
}
