//! A small closed-loop load generator for the comparison in `bench/compare/`.
//!
//! ```text
//! loadgen run   --url URL --body FILE [--connections N] [--warmup SECS] [--duration SECS] [--threads T]
//! loadgen check --url URL --cases FILE
//! ```
//!
//! `run` opens N keep-alive HTTP/1.1 connections to one loopback address and
//! on each sends the same POST (JSON body from FILE) back to back, waiting for
//! the whole response before sending the next. Requests that complete during
//! the warm-up are not counted. It prints one JSON object: completed requests,
//! errors (non-2xx answers and failed connections), requests per second, and
//! latency percentiles in microseconds, measured from just before the request
//! is written to when the last byte of the response body has been read.
//!
//! `check` sends each case of a JSON file `[{"body": ..., "expected": 0|1}]`
//! once and compares the prediction in the answer with the expected class.
//! It exits non-zero if any answer is not a 2xx or predicts the wrong class,
//! so that a server returning errors quickly can never be measured as fast;
//! exit code 3 means the connection was refused (not listening yet).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Target {
    addr: SocketAddr,
    host: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority
        .parse()
        .map_err(|e| format!("{authority}: want IP:PORT ({e})"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; this tool only loads 127.0.0.0/8 and ::1"
        )
        .into());
    }
    Ok(Target {
        addr,
        host: authority.to_owned(),
        path: path.to_owned(),
    })
}

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Sends one POST and reads the whole answer: (status, body).
    async fn post(&mut self, t: &Target, body: &Bytes) -> Result<(u16, Bytes), Error> {
        self.sender.ready().await?;
        let req = Request::post(t.path.as_str())
            .header("host", t.host.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(body.clone()))?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn worker(
    target: Arc<Target>,
    body: Bytes,
    warm_until: Instant,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match Conn::open(target.addr).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if Instant::now() >= warm_until {
                        tally.errors += 1;
                        tally
                            .first_error
                            .get_or_insert_with(|| format!("connect: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let start = Instant::now();
        let outcome = c.post(&target, &body).await;
        let end = Instant::now();
        if stop.load(Ordering::Relaxed) {
            break; // finished after the measured window closed
        }
        let counted = start >= warm_until;
        match outcome {
            Ok((status, _)) if (200..300).contains(&status) => {
                if counted {
                    tally.latencies_ns.push((end - start).as_nanos() as u64);
                }
            }
            Ok((status, bytes)) => {
                if counted {
                    tally.errors += 1;
                    tally.first_error.get_or_insert_with(|| {
                        format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                        )
                    });
                }
            }
            Err(e) => {
                if counted {
                    tally.errors += 1;
                    tally
                        .first_error
                        .get_or_insert_with(|| format!("request: {e}"));
                }
                conn = None; // reconnect
            }
        }
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1_000.0
}

async fn run(args: &Args) -> Result<Value, Error> {
    let target = Arc::new(parse_url(&args.url)?);
    let body = Bytes::from(std::fs::read(
        args.body.as_deref().ok_or("--body FILE is required")?,
    )?);
    let start = Instant::now();
    let warm_until = start + Duration::from_secs_f64(args.warmup);
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(worker(
                target.clone(),
                body.clone(),
                warm_until,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep_until((warm_until + Duration::from_secs_f64(args.duration)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let measured = (Instant::now() - warm_until).as_secs_f64();
    let mut all = Tally::default();
    for h in handles {
        // A request still in flight at the stop finishes or times out here.
        match tokio::time::timeout(Duration::from_secs(10), h).await {
            Ok(Ok(t)) => {
                all.latencies_ns.extend(t.latencies_ns);
                all.errors += t.errors;
                if all.first_error.is_none() {
                    all.first_error = t.first_error;
                }
            }
            _ => all.errors += 1,
        }
    }
    all.latencies_ns.sort_unstable();
    let n = all.latencies_ns.len();
    Ok(serde_json::json!({
        "url": args.url,
        "connections": args.connections,
        "seconds": measured,
        "requests": n,
        "errors": all.errors,
        "first_error": all.first_error,
        "rps": n as f64 / measured,
        "p50_us": percentile(&all.latencies_ns, 50.0),
        "p90_us": percentile(&all.latencies_ns, 90.0),
        "p99_us": percentile(&all.latencies_ns, 99.0),
        "max_us": percentile(&all.latencies_ns, 100.0),
    }))
}

/// The predicted class (0 or 1) in an answer, in any of the shapes the
/// targets use: `{"predictions": [1]}`, OIP v2 `{"outputs": [{"name":
/// "label", "data": [1]}]}`, `[1]`, `{"label": "buy"}`, ...
fn prediction(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let f = n.as_f64()?;
            (f == 0.0 || f == 1.0).then_some(f as i64)
        }
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => match s.as_str() {
            "0" | "ignore" => Some(0),
            "1" | "buy" => Some(1),
            _ => None,
        },
        Value::Array(a) => a.first().and_then(prediction),
        Value::Object(o) => {
            if let Some(Value::Array(outputs)) = o.get("outputs") {
                let named = |want: &str| {
                    outputs.iter().find(|out| {
                        out.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.to_ascii_lowercase().contains(want))
                    })
                };
                let chosen = named("label")
                    .or_else(|| named("class"))
                    .or_else(|| named("predict"))
                    .or_else(|| outputs.first())?;
                return chosen.get("data").and_then(prediction);
            }
            for key in [
                "predictions",
                "prediction",
                "label",
                "class",
                "result",
                "outputs",
            ] {
                if let Some(p) = o.get(key).and_then(prediction) {
                    return Some(p);
                }
            }
            None
        }
        Value::Null => None,
    }
}

async fn check(args: &Args) -> Result<bool, Error> {
    let target = parse_url(&args.url)?;
    let cases: Value = serde_json::from_slice(&std::fs::read(
        args.cases.as_deref().ok_or("--cases FILE is required")?,
    )?)?;
    let cases = cases.as_array().ok_or("cases: want a JSON array")?;
    let mut conn = Conn::open(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut passed = 0;
    for (i, case) in cases.iter().enumerate() {
        let body = Bytes::from(serde_json::to_vec(&case["body"])?);
        let expected = case["expected"]
            .as_i64()
            .ok_or("case without an integer \"expected\"")?;
        let (status, bytes) = conn.post(&target, &body).await?;
        let text = String::from_utf8_lossy(&bytes);
        let got = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .as_ref()
            .and_then(prediction);
        if (200..300).contains(&status) && got == Some(expected) {
            passed += 1;
        } else {
            eprintln!(
                "case {i}: HTTP {status}, expected class {expected}, got {got:?}: {}",
                &text[..text.len().min(300)]
            );
        }
    }
    println!(
        "{passed} of {} cases answered with the expected class",
        cases.len()
    );
    Ok(passed == cases.len() && passed > 0)
}

struct Args {
    mode: String,
    url: String,
    body: Option<String>,
    cases: Option<String>,
    connections: usize,
    warmup: f64,
    duration: f64,
    threads: usize,
}

fn parse_args() -> Result<Args, Error> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: loadgen run|check --url URL ...")?;
    let mut a = Args {
        mode,
        url: String::new(),
        body: None,
        cases: None,
        connections: 1,
        warmup: 10.0,
        duration: 20.0,
        threads: 1,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = value,
            "--body" => a.body = Some(value),
            "--cases" => a.cases = Some(value),
            "--connections" | "-c" => a.connections = value.parse()?,
            "--warmup" => a.warmup = value.parse()?,
            "--duration" | "-d" => a.duration = value.parse()?,
            "--threads" => a.threads = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread by default, so the generator uses at most one core.
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let outcome = rt.block_on(async {
        match args.mode.as_str() {
            "run" => run(&args).await.map(|v| {
                println!("{v}");
                true
            }),
            "check" => check(&args).await,
            other => Err(format!("unknown mode {other}").into()),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e}");
            // 3: nothing listens yet (run.sh polls for readiness with check).
            let refused = e.to_string().starts_with("connect:");
            ExitCode::from(if refused { 3 } else { 1 })
        }
    }
}
