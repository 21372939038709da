//! Batched against direct calls, with 1, 8 and 64 concurrent caller threads.
//!
//! Two models, both behind an `InProcessServer` and fed the same validated
//! webshop rows (`FeatureMap`s, so validation is part of every request):
//!
//! - `device`: strongly sub-linear batch cost. Each call holds one device
//!   (a mutex, as a GPU stream or a single-threaded foreign runtime would)
//!   for 200 µs plus 1 µs per row, so direct calls queue for the device one
//!   by one and batches share its fixed cost.
//! - `tree`: a depth-10 linfa-trees decision tree, well under a microsecond
//!   per row, that many threads can run at once.
//!
//! First a measured report is printed: for each model, caller count and
//! mode, every caller thread sends requests back to back for a fixed time;
//! the report gives throughput, p50 and p99 latency, and for the batcher
//! the mean batch size and the fitted cost line. Then criterion measures
//! the time per request (`iter_custom`, requests spread over the callers),
//! so throughput regressions show in criterion's comparisons.
//!
//! Run with `cargo bench --bench batching` (about a minute).

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelhost::{
    BatchConfig, Batcher, Deployment, FeatureMap, FeatureSchema, InProcessServer, LinfaModel,
    Model, ModelServer, OutputKind, PredictRequest, Predictions,
};
use ndarray::ArrayView2;

/// Fixed cost of one call to the device model.
const PER_CALL: Duration = Duration::from_micros(200);
/// Cost of one row on the device model.
const PER_ROW: Duration = Duration::from_micros(1);
/// How long each measured report run lasts.
const REPORT_RUN: Duration = Duration::from_millis(600);
const CALLERS: [usize; 3] = [1, 8, 64];

/// A model on one serialized device with a large fixed cost per call.
#[derive(Debug)]
struct DeviceModel {
    schema: FeatureSchema,
    output: OutputKind,
    device: Mutex<()>,
}

impl Model for DeviceModel {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }
    fn output(&self) -> &OutputKind {
        &self.output
    }
    fn predict_batch(
        &self,
        rows: ArrayView2<'_, f64>,
    ) -> Result<Predictions, modelhost::model::ModelError> {
        let _device = self.device.lock().unwrap_or_else(|e| e.into_inner());
        thread::sleep(PER_CALL + PER_ROW * rows.nrows() as u32);
        Ok(Predictions::scores(rows.column(0).to_vec()))
    }
}

fn device_server() -> Arc<InProcessServer> {
    let model = DeviceModel {
        schema: common::webshop_schema(),
        output: OutputKind::Regression,
        device: Mutex::new(()),
    };
    Arc::new(InProcessServer::new(Deployment::new("device", 1, model)).expect("server"))
}

fn tree_server() -> Arc<InProcessServer> {
    let (batch, tree) = common::train_tree(5_000, 7, 10).expect("fit");
    let model =
        LinfaModel::decision_tree(tree, batch.schema().clone(), common::LABELS).expect("model");
    Arc::new(InProcessServer::new(Deployment::new("tree", 1, model)).expect("server"))
}

fn batch_config() -> BatchConfig {
    BatchConfig::builder()
        .max_batch_rows(64)
        .max_wait(Duration::from_millis(2))
        .queue_capacity(1024)
        .build()
        .expect("valid config")
}

/// `callers` threads each send requests back to back until `stop` (a time
/// limit) or `count` requests each; returns the wall time and every latency.
fn drive(
    server: &dyn ModelServer,
    inputs: &[FeatureMap],
    callers: usize,
    limit: Limit,
) -> (Duration, Vec<Duration>) {
    let barrier = Barrier::new(callers + 1);
    let (started, latencies) = thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|c| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    barrier.wait();
                    let start = Instant::now();
                    let mut i = c * 97;
                    loop {
                        match limit {
                            Limit::Time(t) if start.elapsed() >= t => break,
                            Limit::Count(n) if latencies.len() >= n => break,
                            _ => {}
                        }
                        let input = &inputs[i % inputs.len()];
                        i += 1;
                        let t0 = Instant::now();
                        server
                            .predict(PredictRequest::new(input))
                            .expect("prediction");
                        latencies.push(t0.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let all: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("caller"))
            .collect();
        (started, all)
    });
    (started.elapsed(), latencies)
}

#[derive(Clone, Copy)]
enum Limit {
    Time(Duration),
    Count(usize),
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints throughput and latency percentiles for every configuration.
fn report(inputs: &[FeatureMap]) {
    println!();
    println!(
        "batching report ({REPORT_RUN:?} per run, max_batch_rows 64, max_wait 2 ms, 1 worker)"
    );
    println!(
        "{:<7} {:>7} {:<8} {:>12} {:>10} {:>10} {:>20} {:>22}",
        "model",
        "callers",
        "mode",
        "req/s",
        "p50 µs",
        "p99 µs",
        "mean rows",
        "fit: per call / row µs"
    );
    let only = std::env::var("BATCHING_REPORT_CALLERS").ok();
    for (name, make) in [
        ("device", device_server as fn() -> Arc<InProcessServer>),
        ("tree", tree_server),
    ] {
        for callers in CALLERS {
            if only.as_ref().is_some_and(|o| *o != callers.to_string()) {
                continue;
            }
            let mut direct_rate = 0.0;
            for batched in [false, true] {
                let server = make();
                let batcher = batched.then(|| Batcher::new(server.clone(), batch_config()));
                let target: &dyn ModelServer = match &batcher {
                    Some(b) => b,
                    None => &*server,
                };
                // Warm up (and, for the batcher, learn the cost line).
                drive(target, inputs, callers, Limit::Time(REPORT_RUN / 4));
                let (elapsed, mut latencies) =
                    drive(target, inputs, callers, Limit::Time(REPORT_RUN));
                latencies.sort_unstable();
                let rate = latencies.len() as f64 / elapsed.as_secs_f64();
                let (rows, fit) = match &batcher {
                    Some(b) => {
                        let s = b.stats();
                        (
                            format!(
                                "{:.1} ({:.0}% direct)",
                                s.mean_batch_rows(),
                                100.0 * s.direct as f64 / s.batches as f64
                            ),
                            format!("{:.0} / {:.2}", us(s.fitted_per_call), us(s.fitted_per_row)),
                        )
                    }
                    None => ("-".into(), "-".into()),
                };
                let gain = if batched {
                    format!("  ({:.2}x direct)", rate / direct_rate)
                } else {
                    direct_rate = rate;
                    String::new()
                };
                println!(
                    "{:<7} {:>7} {:<8} {:>12.0} {:>10.1} {:>10.1} {:>20} {:>22}{gain}",
                    name,
                    callers,
                    if batched { "batched" } else { "direct" },
                    rate,
                    us(percentile(&latencies, 0.5)),
                    us(percentile(&latencies, 0.99)),
                    rows,
                    fit,
                );
                if let Some(b) = batcher {
                    b.shutdown(Duration::from_secs(5));
                }
            }
        }
    }
    println!();
}

fn bench(c: &mut Criterion) {
    let (inputs, _) = common::webshop_data(1_000, 11, 0.0);
    report(&inputs);

    for (name, make) in [
        ("device", device_server as fn() -> Arc<InProcessServer>),
        ("tree", tree_server),
    ] {
        let mut group = c.benchmark_group(format!("batching/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .throughput(Throughput::Elements(1));
        for callers in CALLERS {
            let server = make();
            group.bench_function(format!("direct/{callers}"), |b| {
                b.iter_custom(|iters| {
                    let each = (iters as usize).div_ceil(callers);
                    drive(&*server, &inputs, callers, Limit::Count(each)).0
                })
            });
            let batcher = Batcher::new(server.clone(), batch_config());
            group.bench_function(format!("batched/{callers}"), |b| {
                b.iter_custom(|iters| {
                    let each = (iters as usize).div_ceil(callers);
                    drive(&batcher, &inputs, callers, Limit::Count(each)).0
                })
            });
            batcher.shutdown(Duration::from_secs(5));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
