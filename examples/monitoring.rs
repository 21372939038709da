//! Watch a served model drift, and hear about it.
//!
//! Run with `cargo run --example monitoring -- [DIR]` (DIR for the report
//! and snapshot defaults to a new temporary directory, which is printed).
//!
//! The story: the webshop recommender is trained on last quarter's
//! customers and served with a `Monitor` attached. For a while traffic
//! looks like the training data and the shop reports, for every
//! recommendation, whether the customer bought. Then a marketing campaign
//! brings in occasional tablet shoppers who rarely come back: the inputs
//! move away from the training data, the drift alerts fire, and the live
//! precision falls. At the end the monitor writes an HTML report.

mod common;

use std::sync::Arc;

use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::monitor::{Alert, AlertRule, AlertState, CallbackSink, Metric, Monitor};
use modelhost::{InProcessServer, ModelServer, PredictRequest};

fn main() -> modelhost::Result<()> {
    let dir = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("modelhost-monitoring-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir).map_err(|e| modelhost::monitor::MonitorError::Io {
        path: dir.clone(),
        source: Arc::new(e),
    })?;

    // 1. Train and package the model. The artifact carries reference
    //    statistics of the training data, which the monitor compares with.
    let schema = common::webshop_schema();
    let (training, tree) = common::train_tree(6_000, 1, 6)?;
    let mut artifact =
        Artifact::decision_tree("recommender", &tree, &schema, common::LABELS, &training)?;
    artifact.header_mut().version = 1; // a registry would assign it
    let bytes = artifact.to_bytes()?;
    let deployment = Artifact::from_bytes(&bytes, ReadOptions::new())?
        .into_loaded(ReadOptions::new())?
        .deployment()?;
    println!(
        "Serving recommender v{} (trained on 6,000 customers).",
        deployment.version()
    );

    // 2. The monitor: windows of 1,000 requests, quality over the last 500
    //    outcomes, and four alert rules. Alerts go to a callback; a real host
    //    would post them to chat or send an e-mail.
    //
    //    Every request is counted. Timing requests and sketching rows for
    //    drift cost more, so by default each thread does that for every
    //    request only up to 1,000 a second, and samples above. This demo
    //    sends its traffic as fast as the CPU allows, so it asks for every
    //    request (`sample_every(1)`) to fill its windows at once.
    let sink = CallbackSink::new(|a: &Alert| {
        let mark = match a.state {
            AlertState::Firing => "ALERT",
            AlertState::Resolved => "resolved",
        };
        println!(
            "    >>> {mark}: {} (value {:.3}, threshold {})",
            a.rule, a.value, a.threshold
        );
    });
    let monitor = Monitor::builder(&deployment)
        .sample_every(1)
        .window_rows(1_000)
        .quality_window(500)
        .alert(AlertRule::above(
            Metric::FeaturePsi("recency_days".into()),
            0.25,
        ))
        .alert(AlertRule::above(Metric::DriftShare, 0.3).named("many features drift"))
        .alert(AlertRule::above(Metric::PredictionPsi, 0.25))
        .alert(AlertRule::below(Metric::Precision, 0.7).min_count(500))
        .sink(Arc::new(sink))
        .build()?;
    let server = InProcessServer::builder(deployment)
        .observer(monitor.clone())
        .build()?;

    // 3. Serve traffic; the shop reports each outcome (from the same
    //    generator, so we know the truth).
    let mut next_id = 0u64;
    let mut phase = |name: &str, n: usize, seed: u64, shift: f64| -> modelhost::Result<()> {
        println!("\n{name}: {n} requests (shift {shift})");
        let (rows, truth) = common::webshop_data(n, seed, shift);
        for (row, &bought) in rows.iter().zip(&truth) {
            next_id += 1;
            let id = format!("visit-{next_id}");
            server.predict(PredictRequest::new(row).with_id(id.as_str()))?;
            monitor.record_outcome(&id, bought)?;
        }
        if let Some(d) = monitor.drift() {
            println!(
                "  last window #{}: {} of {} features drift{}",
                d.window,
                d.drifted,
                d.features.len(),
                if d.dataset_drift {
                    " -> DATASET DRIFT"
                } else {
                    ""
                }
            );
            for f in &d.features {
                println!(
                    "    {:<14} {:<13} {:>10.4} (threshold {})  PSI {:>7.3}  {:?}",
                    f.name,
                    f.test.name(),
                    f.score.unwrap_or(f64::NAN),
                    f.threshold,
                    f.psi.unwrap_or(f64::NAN),
                    f.verdict
                );
            }
        }
        if let Some(q) = monitor.quality().first() {
            println!(
                "  live quality over the last {} outcomes: accuracy {:.3}, precision {:.3}, recall {:.3}",
                q.count,
                q.accuracy.unwrap_or(f64::NAN),
                q.precision.unwrap_or(f64::NAN),
                q.recall.unwrap_or(f64::NAN)
            );
        }
        Ok(())
    };
    phase("Business as usual", 3_000, 11, 0.0)?;
    phase("The campaign starts", 3_000, 12, 0.5)?;
    phase("Campaign traffic dominates", 3_000, 13, 1.0)?;

    // 4. What is firing now, and the report.
    println!("\nFiring now:");
    for a in monitor.active_alerts() {
        println!("  {a}");
    }
    let report = dir.join("monitoring-report.html");
    let snapshot = dir.join("monitoring-snapshot.json");
    monitor.write_report(&report)?;
    monitor.write_snapshot(&snapshot)?;
    println!("\nReport:   {}", report.display());
    println!("Snapshot: {}", snapshot.display());
    println!(
        "Render the snapshot again with: cargo run --features cli --bin modelhost -- report --snapshot {} --out report.html",
        snapshot.display()
    );
    Ok(())
}
