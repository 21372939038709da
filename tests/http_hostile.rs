//! The HTTP transport against hostile and careless clients, on real loopback
//! sockets: slow headers, slow and short bodies, idle connections, more
//! connections than the cap, overload, oversized and compressed bodies,
//! error amplification, and shutdown with requests in flight.
//!
//! No outcome here depends on timing luck: timeouts are set short and the
//! assertions wait (bounded) for the server to act, or hold a model behind
//! a gate the test opens.
#![cfg(feature = "http")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use modelhost::transport::http::{Blocking, HttpTransport, ServeOptions};
use modelhost::{Batcher, InProcessServer};
use serde_json::json;
use support::http::Running;
use support::{Gate, MockModel};

fn mock() -> Arc<InProcessServer> {
    Arc::new(InProcessServer::new(MockModel::new(1).deploy()).unwrap())
}

fn infer_body(x: f64) -> String {
    json!({ "inputs": [{ "name": "x", "shape": [1], "datatype": "FP64", "data": [x] }] })
        .to_string()
}

/// Reads until the server closes the connection (or `limit` passes, which
/// fails the test), returning what it sent.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "the server kept the connection open for {:?}: {e}",
                started.elapsed()
            ),
        }
    }
}

fn connect(s: &Running) -> TcpStream {
    TcpStream::connect(s.addr()).unwrap()
}

fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[test]
fn slow_headers_and_idle_connections_are_closed_by_the_header_timeout() {
    let s = Running::start_with(
        HttpTransport::new().model(mock()).build().unwrap(),
        ServeOptions::new().header_read_timeout(Duration::from_millis(300)),
    );
    // Slowloris: a request line and one header, then nothing.
    let mut slow = connect(&s);
    slow.write_all(b"POST /v2/models/mock/infer HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // Idle: connected, never a byte.
    let mut idle = connect(&s);
    // Kept alive: one request answered, then silence.
    let mut kept = connect(&s);
    kept.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    read_until_closed(&mut slow, Duration::from_secs(10));
    read_until_closed(&mut idle, Duration::from_secs(10));
    let answered = read_until_closed(&mut kept, Duration::from_secs(10));
    assert_eq!(status_of(&answered), 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The server still serves.
    assert_eq!(s.get("/v2/health/live").status, 200);
}

#[test]
fn a_short_or_slow_body_gets_408_from_the_request_timeout() {
    let s = Running::start_with(
        HttpTransport::new().model(mock()).build().unwrap(),
        ServeOptions::new().request_timeout(Duration::from_millis(300)),
    );
    // Announces 100 bytes, sends 10.
    let mut short = connect(&s);
    short
        .write_all(
            b"POST /v2/models/mock/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"inputs\":",
        )
        .unwrap();
    let answer = read_until_closed(&mut short, Duration::from_secs(10));
    assert_eq!(status_of(&answer), 408);
    assert_eq!(s.post("/v2/models/mock/infer", infer_body(1.0)).status, 200);
}

#[test]
fn connections_over_the_cap_get_503_and_are_closed_while_the_rest_serve() {
    const CAP: usize = 4;
    let s = Running::start_with(
        HttpTransport::new().model(mock()).build().unwrap(),
        ServeOptions::new().max_connections(CAP),
    );
    // CAP connections, each proven open by a served request.
    let mut held: Vec<TcpStream> = (0..CAP)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(status_of(&buf[..n]), 200);
            c
        })
        .collect();
    for _ in 0..3 {
        let mut extra = connect(&s);
        let answer = read_until_closed(&mut extra, Duration::from_secs(10));
        assert_eq!(status_of(&answer), 503);
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(text.contains("retry-after: 1"), "{text}");
    }
    // The held connections still serve.
    held[0]
        .write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = held[0].read(&mut buf).unwrap();
    assert_eq!(status_of(&buf[..n]), 200);
    // Closing one frees its slot (bounded wait for the server to notice).
    drop(held.pop());
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = connect(&s);
        c.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        if status_of(&read_until_closed(&mut c, Duration::from_secs(10))) == 200 {
            break;
        }
        assert!(Instant::now() < give_up, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_oversized_declared_body_gets_413_without_100_continue() {
    let s = Running::start(HttpTransport::new().model(mock()).build().unwrap());
    for path in ["/v2/models/mock/infer", "/invocations"] {
        let mut c = connect(&s);
        write!(
            c,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
            3 << 20
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 2048];
        let n = c.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(status_of(&buf[..n]), 413, "{path}: {text}");
        assert!(!text.contains("100 Continue"), "{text}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn compressed_bodies_are_decoded_under_the_body_limit() {
    let s = Running::start(
        HttpTransport::new()
            .model(mock())
            .body_limit(64 * 1024)
            .build()
            .unwrap(),
    );
    let json = [("content-type", "application/json")];
    let with = |encoding: &'static str| [json[0], ("content-encoding", encoding)];

    let ok = s.post_with(
        "/v2/models/mock/infer",
        &with("gzip"),
        gzip(infer_body(2.0).as_bytes()),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflated.write_all(infer_body(3.0).as_bytes()).unwrap();
    let ok = s.post_with(
        "/v2/models/mock/infer",
        &with("deflate"),
        deflated.finish().unwrap(),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));

    // A bomb: 64 KiB limit, 16 MiB of zeros compressed to a few KiB.
    let bomb = gzip(&vec![b' '; 16 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let refused = s.post_with("/v2/models/mock/infer", &with("gzip"), &bomb);
    assert_eq!(refused.status, 413);
    let refused = s.post_with("/invocations", &with("gzip"), &bomb);
    assert_eq!(refused.status, 413);

    let garbled = s.post_with("/v2/models/mock/infer", &with("gzip"), b"not gzip at all");
    assert_eq!(garbled.status, 400);
    let unknown = s.post_with("/v2/models/mock/infer", &with("br"), infer_body(1.0));
    assert_eq!(unknown.status, 415);
    assert!(
        unknown.error().contains("content encoding"),
        "{}",
        unknown.error()
    );
}

#[test]
fn inference_beyond_the_admission_limit_is_shed_with_503_while_probes_answer() {
    const LIMIT: usize = 3;
    let gate = Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let entered = model.entered.clone();
    let server = Arc::new(InProcessServer::new(model.deploy()).unwrap());
    let s = Arc::new(Running::start(
        HttpTransport::new()
            .model(server)
            .blocking(Blocking::Pool)
            .max_in_flight(LIMIT)
            .build()
            .unwrap(),
    ));
    let held: Vec<_> = (0..LIMIT)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.post("/v2/models/mock/infer", infer_body(i as f64)))
        })
        .collect();
    // Every slot is taken once the model holds LIMIT calls behind its gate.
    let give_up = Instant::now() + Duration::from_secs(20);
    while entered.load(std::sync::atomic::Ordering::SeqCst) < LIMIT {
        assert!(
            Instant::now() < give_up,
            "the held requests never reached the model"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for path in ["/v2/models/mock/infer", "/invocations"] {
        let shed = s.post(path, infer_body(9.0));
        assert_eq!(shed.status, 503, "{path}");
        assert_eq!(shed.header("retry-after"), Some("1"));
    }
    assert_eq!(s.get("/v2/health/ready").status, 200);
    assert_eq!(s.get("/v2/models/mock").status, 200);
    gate.open();
    for h in held {
        assert_eq!(h.join().unwrap().status, 200);
    }
    assert_eq!(s.post("/v2/models/mock/infer", infer_body(1.0)).status, 200);
}

#[test]
fn error_bodies_stay_small_whatever_the_request() {
    let s = Running::start(
        HttpTransport::new()
            .model(mock())
            .max_rows(10_000)
            .build()
            .unwrap(),
    );
    // 10,000 rows, each missing the one feature and out of every range.
    let rows: Vec<_> = (0..10_000).map(|_| json!({ "y": 1e300 })).collect();
    let request = json!({ "dataframe_records": rows }).to_string();
    let reply = s.post("/invocations", &request);
    assert_eq!(reply.status, 400);
    assert!(reply.body.len() < 8 * 1024, "{} bytes", reply.body.len());
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("more"), "{message}");

    let values: Vec<f64> = vec![1e300; 5_000];
    let reply = s.post(
        "/v2/models/mock/infer",
        json!({ "inputs": [{ "name": "x", "shape": [5_000], "datatype": "FP64", "data": values }] })
            .to_string(),
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body.len() < 8 * 1024, "{} bytes", reply.body.len());
    assert!(!String::from_utf8_lossy(&reply.body).contains("00000000000000000000"));
}

#[test]
fn shutdown_answers_requests_in_flight_and_a_stuck_one_cannot_hold_it() {
    let gate = Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let entered = model.entered.clone();
    let server = Arc::new(InProcessServer::new(model.deploy()).unwrap());
    let router = HttpTransport::new()
        .model(Arc::new(Batcher::new(
            server,
            modelhost::BatchConfig::builder().build().unwrap(),
        )))
        .build()
        .unwrap();
    let mut s = Running::start_with(
        router,
        ServeOptions::new().drain_timeout(Duration::from_secs(5)),
    );
    let agent = s.agent.clone();
    let url = s.url("/v2/models/mock/infer");
    let in_flight = std::thread::spawn(move || {
        let mut r = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(infer_body(1.0).as_bytes())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    });
    let give_up = Instant::now() + Duration::from_secs(20);
    while entered.load(std::sync::atomic::Ordering::SeqCst) < 1 {
        assert!(Instant::now() < give_up);
        std::thread::sleep(Duration::from_millis(1));
    }
    // A slowloris connection that never completes its headers.
    let mut slow = connect(&s);
    slow.write_all(b"POST /v2/models/mock/infer HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    s.signal_stop();
    // New connections are refused once the listener is closed.
    let give_up = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(s.addr()).is_ok() {
        assert!(Instant::now() < give_up, "the listener stayed open");
        std::thread::sleep(Duration::from_millis(5));
    }
    gate.open();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");

    // A request that never finishes: shutdown still ends within the drain.
    let gate = Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let entered = model.entered.clone();
    let mut s = Running::start_with(
        HttpTransport::new()
            .model(Arc::new(InProcessServer::new(model.deploy()).unwrap()))
            .blocking(Blocking::Pool)
            .build()
            .unwrap(),
        ServeOptions::new().drain_timeout(Duration::from_millis(300)),
    );
    let agent = s.agent.clone();
    let url = s.url("/v2/models/mock/infer");
    let stuck = std::thread::spawn(move || {
        agent
            .post(&url)
            .header("content-type", "application/json")
            .send(infer_body(1.0).as_bytes())
            .map(|r| r.status().as_u16())
    });
    let give_up = Instant::now() + Duration::from_secs(20);
    while entered.load(std::sync::atomic::Ordering::SeqCst) < 1 {
        assert!(Instant::now() < give_up);
        std::thread::sleep(Duration::from_millis(1));
    }
    // `stop` fails the test if the server has not returned within 10 s.
    s.stop().unwrap();
    assert!(
        stuck.join().unwrap().is_err(),
        "the stuck request was dropped"
    );
    gate.open();
}

/// Requests already sent when shutdown begins are answered, not dropped:
/// each of many kept-alive connections sends a request right before the
/// stop signal, and every one gets its 200 before the server closes it.
#[test]
fn requests_sent_before_shutdown_are_answered() {
    const CONNECTIONS: usize = 24;
    let mut s = Running::start(HttpTransport::new().model(mock()).build().unwrap());
    let request = format!(
        "POST /v2/models/mock/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        infer_body(1.0).len(),
        infer_body(1.0)
    );
    let mut connections: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut c = connect(&s);
            // One request served first: the connection is open and idle.
            c.write_all(request.as_bytes()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(status_of(&buf[..n]), 200);
            c
        })
        .collect();
    for c in &mut connections {
        c.write_all(request.as_bytes()).unwrap();
    }
    s.signal_stop();
    for (i, c) in connections.iter_mut().enumerate() {
        let answer = read_until_closed(c, Duration::from_secs(10));
        assert!(
            !answer.is_empty(),
            "connection {i} was closed without an answer"
        );
        // Answered, then closed by the server (read_until_closed returned).
        assert_eq!(status_of(&answer), 200, "connection {i}");
    }
}
