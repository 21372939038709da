//! HTTP transport throughput and latency over loopback.
//!
//! A plain load generator (hyper HTTP/1.1 client connections with
//! keep-alive, each sending one request at a time) drives single-row Open
//! Inference Protocol `infer` requests against:
//!
//! - **bare axum**: a handler that parses the same JSON body into a
//!   `serde_json::Value` and returns a constant, the floor any JSON-over-axum
//!   server pays;
//! - **modelhost inline**: the `HttpTransport` router calling the webshop
//!   depth-8 decision tree on the async worker ([`Blocking::Inline`]);
//! - **modelhost pool**: the same with calls on tokio's blocking pool
//!   ([`Blocking::Pool`]),
//! - **modelhost gRPC** (with the `grpc` feature): `ModelInfer` with one
//!   typed input per feature, each concurrent caller on its own HTTP/2
//!   stream, 8 streams per connection (`GRPC_STREAMS_PER_CONNECTION`),
//!
//! with 1 and 32 concurrent connections (streams for gRPC), side by side in
//! one run. The
//! server runs on its own multi-threaded tokio runtime (2 workers), the
//! client on another (2 workers), on one 2-core machine, so client and
//! server share the cores as they would on a loaded host.
//!
//! Run with `cargo bench --features http --bench http`. Each case runs
//! `HTTP_BENCH_ROUNDS` times (default 3), interleaved with the other
//! servers so background load hits them alike, for `HTTP_BENCH_SECS`
//! measured seconds (default 2, after 0.5 s of warm-up); the table shows
//! the medians.
//! `HTTP_BENCH_EXTERNAL=127.0.0.1:PORT` adds a row for another server on this
//! machine that answers the same `POST /v2/models/recommender/infer` (for
//! example the FastAPI comparison in `benches/fastapi/app.py`), measured by
//! the same load generator.

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use modelhost::transport::http::{Blocking, HttpTransport, serve_on};
use modelhost::{Deployment, InProcessServer, LinfaModel};
use serde_json::{Value, json};

const PATH: &str = "/v2/models/recommender/infer";

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

fn model_server() -> Arc<InProcessServer> {
    let (batch, tree) = common::train_tree(8_000, 2, 8).expect("fit");
    let model =
        LinfaModel::decision_tree(tree, batch.schema().clone(), common::LABELS).expect("model");
    Arc::new(InProcessServer::new(Deployment::new("recommender", 1, model)).expect("server"))
}

/// One row as one OIP input per feature, as tritonclient sends JSON data.
fn request_body() -> Bytes {
    let body = json!({
        "id": "bench",
        "inputs": [
            { "name": "recency_days", "shape": [1], "datatype": "INT64", "data": [12] },
            { "name": "frequency", "shape": [1], "datatype": "INT64", "data": [4] },
            { "name": "basket_value", "shape": [1], "datatype": "FP64", "data": [83.5] },
            { "name": "product_price", "shape": [1], "datatype": "FP64", "data": [24.99] },
            { "name": "device", "shape": [1], "datatype": "BYTES", "data": ["desktop"] },
            { "name": "is_returning", "shape": [1], "datatype": "BOOL", "data": [true] },
        ]
    });
    Bytes::from(serde_json::to_vec(&body).expect("json"))
}

fn bare_router() -> axum::Router {
    const ANSWER: &str = r#"{"model_name":"recommender","model_version":"1","id":"bench","outputs":[{"name":"label","datatype":"BYTES","shape":[1],"data":["buy"]}]}"#;
    axum::Router::new().route(
        PATH,
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move {
            std::hint::black_box(v);
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                ANSWER,
            )
        }),
    )
}

/// A server on 127.0.0.1:0 in its own runtime; stopped on drop.
struct Server {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    grpc: bool,
}

impl Server {
    fn start(router: axum::Router) -> Self {
        let runtime = runtime("server");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, task) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let task = tokio::spawn(serve_on(listener, router, async {
                let _ = stopped.await;
            }));
            (addr, task)
        });
        Self {
            addr,
            runtime,
            stop: Some(stop),
            task: Some(task),
            grpc: false,
        }
    }

    /// The gRPC service of `transport` on 127.0.0.1:0.
    #[cfg(feature = "grpc")]
    fn start_grpc(transport: HttpTransport) -> Self {
        let runtime = runtime("server");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = transport.build_grpc().expect("grpc service");
        let (addr, task) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let task = tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(std::io::Error::other)
            });
            (addr, task)
        });
        Self {
            addr,
            runtime,
            stop: Some(stop),
            task: Some(task),
            grpc: true,
        }
    }
}

/// Single-row `ModelInfer` calls back to back on one stream of `client`
/// until `end`; latencies (µs) of the calls started after `measure_from`.
#[cfg(feature = "grpc")]
async fn grpc_caller(
    mut client: modelhost::transport::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient<
        tonic::transport::Channel,
    >,
    measure_from: Instant,
    end: Instant,
) -> Vec<u32> {
    use modelhost::transport::grpc::proto::model_infer_request::InferInputTensor;
    use modelhost::transport::grpc::proto::{InferTensorContents, ModelInferRequest};
    let tensor = |name: &str, datatype: &str, contents: InferTensorContents| InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape: vec![1],
        parameters: Default::default(),
        contents: Some(contents),
    };
    let request = ModelInferRequest {
        model_name: "recommender".into(),
        id: "bench".into(),
        inputs: vec![
            tensor(
                "recency_days",
                "INT64",
                InferTensorContents {
                    int64_contents: vec![12],
                    ..Default::default()
                },
            ),
            tensor(
                "frequency",
                "INT64",
                InferTensorContents {
                    int64_contents: vec![4],
                    ..Default::default()
                },
            ),
            tensor(
                "basket_value",
                "FP64",
                InferTensorContents {
                    fp64_contents: vec![83.5],
                    ..Default::default()
                },
            ),
            tensor(
                "product_price",
                "FP64",
                InferTensorContents {
                    fp64_contents: vec![24.99],
                    ..Default::default()
                },
            ),
            tensor(
                "device",
                "BYTES",
                InferTensorContents {
                    bytes_contents: vec![b"desktop".to_vec()],
                    ..Default::default()
                },
            ),
            tensor(
                "is_returning",
                "BOOL",
                InferTensorContents {
                    bool_contents: vec![true],
                    ..Default::default()
                },
            ),
        ],
        ..Default::default()
    };
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let response = client.model_infer(request.clone()).await.expect("infer");
        std::hint::black_box(response);
        if start >= measure_from {
            latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    latencies
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), t).await });
        }
    }
}

/// One keep-alive connection sending requests back to back until `end`;
/// returns latencies (µs) of the requests started after `measure_from`.
async fn connection(
    addr: SocketAddr,
    body: Bytes,
    measure_from: Instant,
    end: Instant,
) -> Vec<u32> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    let conn = tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let request = hyper::Request::post(PATH)
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .expect("request");
        sender.ready().await.expect("ready");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), 200);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        std::hint::black_box(bytes);
        if start >= measure_from {
            latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    drop(sender);
    let _ = conn.await;
    latencies
}

struct Figures {
    rps: f64,
    p50_us: u32,
    p99_us: u32,
}

fn load(
    client: &tokio::runtime::Runtime,
    addr: SocketAddr,
    grpc: bool,
    connections: usize,
    secs: f64,
) -> Figures {
    let body = request_body();
    let start = Instant::now();
    let measure_from = start + Duration::from_millis(500);
    let end = measure_from + Duration::from_secs_f64(secs);
    let mut all: Vec<u32> = client.block_on(async {
        let tasks: Vec<_> = if grpc {
            grpc_callers(addr, connections, measure_from, end).await
        } else {
            (0..connections)
                .map(|_| tokio::spawn(connection(addr, body.clone(), measure_from, end)))
                .collect()
        };
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("connection task"));
        }
        all
    });
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Figures {
        rps: all.len() as f64 / secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    }
}

/// HTTP/2 streams per connection of the gRPC load: `GRPC_STREAMS_PER_CONNECTION`
/// (default 8), so 32 callers share 4 connections.
#[cfg(feature = "grpc")]
fn streams_per_connection() -> usize {
    std::env::var("GRPC_STREAMS_PER_CONNECTION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8usize)
        .max(1)
}

/// `n` callers, each on its own HTTP/2 stream, sharing connections
/// [`streams_per_connection`] at a time.
#[cfg(feature = "grpc")]
async fn grpc_callers(
    addr: SocketAddr,
    n: usize,
    measure_from: Instant,
    end: Instant,
) -> Vec<tokio::task::JoinHandle<Vec<u32>>> {
    let per = streams_per_connection();
    let mut tasks = Vec::with_capacity(n);
    for first in (0..n).step_by(per) {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect");
        let client = modelhost::transport::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient::new(channel);
        for _ in first..(first + per).min(n) {
            tasks.push(tokio::spawn(grpc_caller(client.clone(), measure_from, end)));
        }
    }
    tasks
}

#[cfg(not(feature = "grpc"))]
async fn grpc_callers(
    _: SocketAddr,
    _: usize,
    _: Instant,
    _: Instant,
) -> Vec<tokio::task::JoinHandle<Vec<u32>>> {
    unreachable!("gRPC targets need the grpc feature")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let env = |k: &str, d: f64| -> f64 {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let secs = env("HTTP_BENCH_SECS", 2.0);
    let rounds = env("HTTP_BENCH_ROUNDS", 3.0).max(1.0) as usize;
    let external: Option<SocketAddr> = std::env::var("HTTP_BENCH_EXTERNAL")
        .ok()
        .map(|a| a.parse().expect("HTTP_BENCH_EXTERNAL is HOST:PORT"));
    let server = model_server();
    let mut targets: Vec<(String, Option<Server>, SocketAddr)> = Vec::new();
    let mut add = |name: &str, s: Server| {
        let addr = s.addr;
        targets.push((name.to_owned(), Some(s), addr));
    };
    add(
        "bare axum (parse JSON, constant answer)",
        Server::start(bare_router()),
    );
    add(
        "modelhost OIP infer, inline",
        Server::start(
            HttpTransport::new()
                .model(server.clone())
                .build()
                .expect("router"),
        ),
    );
    add(
        "modelhost OIP infer, blocking pool",
        Server::start(
            HttpTransport::new()
                .model(server.clone())
                .blocking(Blocking::Pool)
                .build()
                .expect("router"),
        ),
    );
    #[cfg(feature = "grpc")]
    add(
        "modelhost gRPC ModelInfer",
        Server::start_grpc(HttpTransport::new().model(server.clone())),
    );
    if let Some(addr) = external {
        targets.push((format!("external {addr}"), None, addr));
    }
    let client = runtime("client");
    println!(
        "single-row OIP infer over loopback, HTTP/1.1 keep-alive; medians of {rounds} interleaved rounds of {secs} s"
    );
    println!(
        "{:<42} {:>5} {:>10} {:>9} {:>9} {:>8}",
        "server", "conns", "req/s", "p50 µs", "p99 µs", "vs bare"
    );
    for connections in [1, 32] {
        let mut figures: Vec<Vec<Figures>> = targets.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Rotate the order so no server always runs first or last.
            for k in 0..targets.len() {
                let i = (k + round) % targets.len();
                let grpc = targets[i].1.as_ref().is_some_and(|s| s.grpc);
                figures[i].push(load(&client, targets[i].2, grpc, connections, secs));
            }
        }
        let summary: Vec<(f64, f64, f64)> = figures
            .iter()
            .map(|f| {
                (
                    median(f.iter().map(|x| x.rps).collect()),
                    median(f.iter().map(|x| f64::from(x.p50_us)).collect()),
                    median(f.iter().map(|x| f64::from(x.p99_us)).collect()),
                )
            })
            .collect();
        let bare = summary[0].0;
        for ((name, _, _), (rps, p50, p99)) in targets.iter().zip(&summary) {
            println!(
                "{name:<42} {connections:>5} {rps:>10.0} {p50:>9.0} {p99:>9.0} {:>7.0}%",
                rps / bare * 100.0
            );
        }
    }
}
