//! Three `modelhost serve` replicas follow `shop@production` in one S3
//! registry (SeaweedFS on 127.0.0.1) while load runs against all three;
//! the alias is promoted 20 times. No request may fail, every response
//! names a version the alias pointed at, each replica changes version
//! exactly once per promotion, and the time until every replica serves
//! the promoted version is printed (p50 and max; the target is at
//! most two poll intervals).
//!
//! `cargo test --features cli,http,s3,azure --test replicas -- --nocapture`
//! with `.ci/object-stores.sh` sourced shows the figures.
#![cfg(unix)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/ports.rs"]
mod ports;
#[path = "support/object_servers.rs"]
mod servers;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use servers::{Kind, Server};

const REPLICAS: usize = 3;
const PROMOTIONS: usize = 20;
const POLL_MS: u64 = 500;

/// Kills a replica however the test ends.
struct Replica(Child, String);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_replica(server: &Server, cache: &std::path::Path) -> Replica {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelhost"));
    cmd.args(["--registry", &server.url("replicas")])
        .arg("--cache-dir")
        .arg(cache)
        .args([
            "serve",
            "--model",
            "shop@production",
            "--addr",
            "127.0.0.1:0",
        ])
        .args(["--watch-interval-ms", &POLL_MS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in server.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line[line.find("http://").expect("the address line")..]
        .trim()
        .to_owned();
    Replica(child, url)
}

/// One OIP request body for a single webshop row.
fn body() -> String {
    serde_json::json!({"inputs": [
        {"name": "recency_days", "shape": [1], "datatype": "FP64", "data": [2.0]},
        {"name": "frequency", "shape": [1], "datatype": "INT64", "data": [14]},
        {"name": "basket_value", "shape": [1], "datatype": "FP64", "data": [180.5]},
        {"name": "product_price", "shape": [1], "datatype": "FP64", "data": [19.99]},
        {"name": "device", "shape": [1], "datatype": "BYTES", "data": ["desktop"]}
    ]})
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn replicas_follow_promotions_under_load_without_a_failed_request() {
    let Some(python) = servers::python() else {
        return;
    };
    let server = Server::start(&python, Kind::S3);
    let reg = server.open("replicas");
    let v1 = reg
        .register(common::tree_artifact("shop", 300, 5, 3).unwrap())
        .unwrap();
    let v2 = reg
        .register(common::tree_artifact("shop", 300, 6, 4).unwrap())
        .unwrap();
    reg.set_alias("shop", "production", v1).unwrap();

    let caches = tempfile::tempdir().unwrap();
    let replicas: Vec<Replica> = (0..REPLICAS)
        .map(|i| start_replica(&server, &caches.path().join(i.to_string())))
        .collect();

    // Load: one client per replica, one request in flight each, recording
    // when its replica's answers change version.
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let changes: Arc<Mutex<Vec<(usize, Instant, u64)>>> = Arc::default();
    let clients: Vec<_> = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let url = format!("{}/v2/models/shop/infer", r.1);
            let (stop, requests, failures, changes) = (
                stop.clone(),
                requests.clone(),
                failures.clone(),
                changes.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let body = body();
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let answer = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body);
                    requests.fetch_add(1, Ordering::Relaxed);
                    let mut answer = match answer {
                        Ok(a) => a,
                        Err(e) => {
                            failures.lock().unwrap().push(format!("replica {i}: {e}"));
                            continue;
                        }
                    };
                    let status = answer.status().as_u16();
                    let text = answer.body_mut().read_to_string().unwrap_or_default();
                    if status != 200 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("replica {i}: {status} {text}"));
                        continue;
                    }
                    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let version: u64 = json["model_version"].as_str().unwrap().parse().unwrap();
                    if version != last {
                        changes.lock().unwrap().push((i, Instant::now(), version));
                        last = version;
                    }
                }
            })
        })
        .collect();

    // Wait until every replica answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..REPLICAS).any(|i| !changes.lock().unwrap().iter().any(|c| c.0 == i))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut convergence = Vec::new();
    for k in 0..PROMOTIONS {
        let target = if k % 2 == 0 { v2 } else { v1 };
        let promoted = Instant::now();
        reg.set_alias("shop", "production", target).unwrap();
        let deadline = promoted + Duration::from_secs(30);
        let all_moved = loop {
            let moved: Vec<Option<Instant>> = (0..REPLICAS)
                .map(|i| {
                    changes
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|c| c.0 == i && c.2 == target && c.1 >= promoted)
                        .map(|c| c.1)
                })
                .collect();
            if moved.iter().all(Option::is_some) {
                break moved.into_iter().flatten().max();
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let at =
            all_moved.unwrap_or_else(|| panic!("promotion {k}: not every replica moved in 30 s"));
        convergence.push(at - promoted);
        // Let load run on the new version for a moment.
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let changes = changes.lock().unwrap();
    for i in 0..REPLICAS {
        let seen: Vec<u64> = changes.iter().filter(|c| c.0 == i).map(|c| c.2).collect();
        assert_eq!(
            seen.len(),
            PROMOTIONS + 1,
            "replica {i} changed version {seen:?}"
        );
        assert!(seen.iter().all(|v| *v == v1 || *v == v2), "{seen:?}");
    }
    convergence.sort();
    eprintln!(
        "{REPLICAS} replicas, poll interval {POLL_MS} ms, {PROMOTIONS} promotions, {} requests, 0 failed; \
         time until every replica serves the promoted version: p50 {} ms, max {} ms ({:.2} poll intervals)",
        requests.load(Ordering::Relaxed),
        percentile(&convergence, 0.5).as_millis(),
        convergence.last().unwrap().as_millis(),
        convergence.last().unwrap().as_secs_f64() * 1000.0 / POLL_MS as f64
    );
    drop(replicas);
}
