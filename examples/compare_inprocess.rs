//! modelhost in-process, for the side-by-side comparison in `bench/compare/`:
//! the same figures the HTTP targets get from the load generator, but with
//! the caller's threads calling `InProcessServer::predict` directly.
//!
//! ```text
//! cargo run --release --example compare_inprocess -- \
//!     --registry DIR --data DATA_DIR --work WORK_DIR [--threads 1,32] [--warmup S] [--duration S]
//! ```
//!
//! 1. Serves `recommender@tree` from the registry (the decision tree
//!    `webshop_train` leaves there).
//! 2. Predicts the check customers of `DATA_DIR/check.csv` (from the
//!    `compare_export_data` example) and writes the classes to
//!    `WORK_DIR/modelhost_check.json`: the expected answers of the modelhost
//!    HTTP targets.
//! 3. If `WORK_DIR/sklearn_holdout.json` exists (written by
//!    `bench/compare/python/train.py`), reports how often this model and the
//!    scikit-learn tree agree on the 2,000 holdout customers.
//! 4. For each thread count, every thread sends the first check customer
//!    (as a `FeatureMap`, so validation against the schema is included)
//!    back to back; calls finishing during the warm-up are not counted.
//!    Prints one JSON object per thread count with calls per second and
//!    latency percentiles in microseconds (from buckets 1% wide; each call
//!    is timed with two `Instant::now()`, some 20-40 ns of the figure), and
//!    the process's peak RSS.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use modelhost::artifact::ReadOptions;
use modelhost::registry::Registry;
use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest};

type BoxError = Box<dyn std::error::Error>;

/// Rows of a CSV written by `compare_export_data`, decoded back to the raw
/// feature values a caller sends.
fn customers(path: &std::path::Path) -> Result<Vec<FeatureMap>, BoxError> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let v: Vec<f64> = line.split(',').map(str::parse).collect::<Result<_, _>>()?;
        out.push(
            FeatureMap::new()
                .with("recency_days", v[0] as i64)
                .with("frequency", v[1] as i64)
                .with("basket_value", v[2])
                .with("product_price", v[3])
                .with("device", common::DEVICES[v[4] as usize])
                .with("is_returning", v[5] != 0.0),
        );
    }
    Ok(out)
}

fn class(server: &InProcessServer, customer: &FeatureMap) -> Result<usize, BoxError> {
    let response = server.predict(PredictRequest::new(customer))?;
    let label = response.label(0).ok_or("no label in the response")?;
    Ok(common::LABELS
        .iter()
        .position(|l| *l == label)
        .ok_or("unknown label")?)
}

/// Latencies in buckets 1% wide (a few million calls a second would not fit
/// in a vector of samples).
#[derive(Clone)]
struct Histogram(Vec<u64>);

impl Histogram {
    const GROWTH: f64 = 1.01;

    fn new() -> Self {
        Self(vec![0; 2_500]) // up to 1.01^2500 ns, far beyond any call
    }

    fn record(&mut self, ns: u64) {
        let i = ((ns.max(1) as f64).ln() / Self::GROWTH.ln()) as usize;
        let last = self.0.len() - 1;
        self.0[i.min(last)] += 1;
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The upper edge of the bucket holding the p-th percentile, in µs.
    fn percentile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::GROWTH.powi(i as i32 + 1) / 1_000.0;
            }
        }
        f64::INFINITY
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn measure(
    server: &InProcessServer,
    customer: &FeatureMap,
    threads: usize,
    warmup: Duration,
    duration: Duration,
) -> String {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let warm_until = start + warmup;
    let (latencies, errors) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Histogram::new();
                    let mut errors = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        let ok = server.predict(PredictRequest::new(customer)).is_ok();
                        let t1 = Instant::now();
                        if t0 >= warm_until {
                            if ok {
                                lat.record((t1 - t0).as_nanos() as u64);
                            } else {
                                errors += 1;
                            }
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        std::thread::sleep(warmup + duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .fold((Histogram::new(), 0), |(mut all, e), (lat, errors)| {
                all.merge(&lat);
                (all, e + errors)
            })
    });
    let measured = (Instant::now() - warm_until).as_secs_f64();
    format!(
        "{{\"threads\":{threads},\"seconds\":{measured:.3},\"requests\":{},\"errors\":{errors},\
         \"rps\":{:.1},\"p50_us\":{:.3},\"p90_us\":{:.3},\"p99_us\":{:.3},\"max_us\":{:.3},\
         \"peak_rss_kib\":{}}}",
        latencies.count(),
        latencies.count() as f64 / measured,
        latencies.percentile(50.0),
        latencies.percentile(90.0),
        latencies.percentile(99.0),
        latencies.percentile(100.0),
        peak_rss_kib(),
    )
}

fn main() -> Result<(), BoxError> {
    let mut registry = None;
    let mut model = "recommender@tree".to_owned();
    let mut data = None;
    let mut work = None;
    let mut threads = vec![1, 32];
    let mut warmup = 10.0;
    let mut duration = 20.0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--registry" => registry = Some(PathBuf::from(value)),
            "--model" => model = value,
            "--data" => data = Some(PathBuf::from(value)),
            "--work" => work = Some(PathBuf::from(value)),
            "--threads" => {
                threads = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--warmup" => warmup = value.parse()?,
            "--duration" => duration = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let registry = Registry::open(registry.ok_or("--registry DIR is required")?)?;
    let data = data.ok_or("--data DIR is required")?;
    let work = work.ok_or("--work DIR is required")?;

    let loaded = registry.load(&model.parse()?, ReadOptions::default())?;
    let server = InProcessServer::new(loaded.deployment()?)?;
    let version = server.metadata()?.version;
    eprintln!("serving {model} (version {version}) in-process");

    let check = customers(&data.join("check.csv"))?;
    let classes = check
        .iter()
        .map(|c| class(&server, c))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::write(work.join("modelhost_check.json"), format!("{classes:?}"))?;

    let sklearn = work.join("sklearn_holdout.json");
    if sklearn.exists() {
        let theirs: Vec<usize> = std::fs::read_to_string(&sklearn)?
            .trim_matches(|c| c == '[' || c == ']' || char::is_whitespace(c))
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()?;
        let holdout = customers(&data.join("holdout.csv"))?;
        let mut same = 0;
        for (c, &t) in holdout.iter().zip(&theirs) {
            same += usize::from(class(&server, c)? == t);
        }
        println!(
            "{{\"agreement_with_sklearn\":{:.4},\"holdout_rows\":{}}}",
            same as f64 / holdout.len() as f64,
            holdout.len()
        );
    }

    for &n in &threads {
        println!(
            "{}",
            measure(
                &server,
                &check[0],
                n,
                Duration::from_secs_f64(warmup),
                Duration::from_secs_f64(duration)
            )
        );
    }
    Ok(())
}
