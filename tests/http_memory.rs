//! What a hostile body can make the HTTP transport allocate: 2 MiB bodies of
//! the smallest possible rows, in every format the transport reads, are
//! refused with the memory they cost bounded by a small multiple of the
//! body limit. A counting allocator measures the whole process (server and
//! client), so the bound is an upper bound on the server's share.
//!
//! One test, so no other test's allocations mix into the figures.
#![cfg(feature = "http")]

mod support;

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use modelhost::InProcessServer;
use modelhost::transport::http::{DEFAULT_BODY_LIMIT, HttpTransport};
use support::MockModel;
use support::http::Running;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The peak a body may add over what was allocated before it, as a multiple
/// of the body limit. Before the limits were enforced while decoding, a
/// 2 MiB CSV of one-character rows peaked at 788 MB (about 375x).
const PEAK_MULTIPLE: usize = 8;

/// A body of about `DEFAULT_BODY_LIMIT - 64` bytes: `head`, then `item`
/// repeated (joined by `sep`), then `tail`.
fn body(head: &str, item: &str, sep: &str, tail: &str) -> (usize, Vec<u8>) {
    let room = DEFAULT_BODY_LIMIT - 64 - head.len() - tail.len();
    let n = room / (item.len() + sep.len());
    let mut b = Vec::with_capacity(DEFAULT_BODY_LIMIT);
    b.extend_from_slice(head.as_bytes());
    for i in 0..n {
        if i > 0 {
            b.extend_from_slice(sep.as_bytes());
        }
        b.extend_from_slice(item.as_bytes());
    }
    b.extend_from_slice(tail.as_bytes());
    (n, b)
}

/// Builds a body, returning its row count and bytes.
type MakeBody = Box<dyn Fn() -> (usize, Vec<u8>)>;

#[test]
fn bodies_of_tiny_rows_are_refused_within_a_small_multiple_of_the_body_limit() {
    let server = Arc::new(InProcessServer::new(MockModel::new(1).deploy()).unwrap());
    let s = Running::start(HttpTransport::new().model(server).build().unwrap());
    // Warm up every path once (lazy statics, connection pools, metrics).
    assert_eq!(s.get("/v2/health/live").status, 200);
    let oip = "/v2/models/mock/infer";
    let cases: Vec<(&str, &str, MakeBody)> = vec![
        (
            "csv",
            "/invocations",
            Box::new(|| body("x\n", "1", "\n", "\n")),
        ),
        (
            "dataframe_records",
            "/invocations",
            Box::new(|| body(r#"{"dataframe_records":["#, "{}", ",", "]}")),
        ),
        (
            "dataframe_split",
            "/invocations",
            Box::new(|| {
                body(
                    r#"{"dataframe_split":{"columns":["x"],"data":["#,
                    "[1]",
                    ",",
                    "]}}",
                )
            }),
        ),
        (
            "instances",
            "/invocations",
            Box::new(|| body(r#"{"instances":["#, "[1]", ",", "]}")),
        ),
        (
            "inputs",
            "/invocations",
            Box::new(|| body(r#"{"inputs":{"x":["#, "1", ",", "]}}")),
        ),
        (
            "oip_json",
            oip,
            Box::new(|| {
                body(
                    r#"{"inputs":[{"name":"x","shape":[1000000],"datatype":"FP64","data":["#,
                    "1",
                    ",",
                    "]}]}",
                )
            }),
        ),
        (
            "oip_strings",
            oip,
            Box::new(|| {
                body(
                    r#"{"inputs":[{"name":"x","shape":[1000000],"datatype":"BYTES","data":["#,
                    r#""""#,
                    ",",
                    "]}]}",
                )
            }),
        ),
    ];
    let mut report = Vec::new();
    for (name, path, make) in &cases {
        let (rows, bytes) = make();
        assert!(
            bytes.len() <= DEFAULT_BODY_LIMIT,
            "{name}: {} bytes",
            bytes.len()
        );
        let content_type = if *name == "csv" {
            "text/csv"
        } else {
            "application/json"
        };
        let before = ALLOCATOR.allocated();
        let peak_before = ALLOCATOR.max_allocated();
        assert!(peak_before >= before);
        let reply = s.post_with(path, &[("content-type", content_type)], &bytes);
        drop(bytes);
        assert!(
            reply.status == 413 || reply.status == 400,
            "{name}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        // The peak is monotonic, so a new peak is this request's; no new
        // peak means it stayed under an earlier one.
        let added = ALLOCATOR.max_allocated().saturating_sub(peak_before);
        report.push(format!(
            "{name}: {rows} rows -> {} (raised the process's peak by {:.1} MiB)",
            reply.status,
            added as f64 / (1 << 20) as f64
        ));
        assert!(
            ALLOCATOR.max_allocated() - before <= PEAK_MULTIPLE * DEFAULT_BODY_LIMIT,
            "{name}: peak {} MiB over the {} MiB before the request",
            (ALLOCATOR.max_allocated() - before) >> 20,
            before >> 20
        );
    }

    // Binary tensor data: a million booleans in 1 MiB.
    let n = 1 << 20;
    let header = format!(
        r#"{{"inputs":[{{"name":"x","shape":[{n}],"datatype":"BOOL","parameters":{{"binary_data_size":{n}}}}}]}}"#
    );
    let mut bytes = header.clone().into_bytes();
    bytes.resize(header.len() + n, 1);
    let before = ALLOCATOR.allocated();
    let len = header.len().to_string();
    let reply = s.post_with(
        oip,
        &[
            ("content-type", "application/octet-stream"),
            ("inference-header-content-length", &len),
        ],
        &bytes,
    );
    drop(bytes);
    assert_eq!(
        reply.status,
        413,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(ALLOCATOR.max_allocated() - before <= PEAK_MULTIPLE * DEFAULT_BODY_LIMIT);
    eprintln!("{}", report.join("\n"));
}
