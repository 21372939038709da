//! The webshop: a recommender embedded in a backend, from training to
//! monitoring, in one run.
//!
//! Run with `cargo run --example webshop`. It needs no network and no other
//! service, and finishes in seconds. The story:
//!
//! 1. A data scientist trains two versions of the "will this customer buy the
//!    recommended product?" model on deterministic synthetic webshop data
//!    and registers both, with their holdout metrics.
//! 2. The backend embeds modelhost: an `InProcessServer` following
//!    `recommender@production`, with a `Monitor` attached. Eight threads play
//!    the backend's request handlers; the shop reports, for each
//!    recommendation, whether the customer bought.
//! 3. While traffic flows, the better version is promoted in the registry
//!    (no request fails), then rolled back, then promoted again.
//! 4. A marketing campaign shifts the traffic: the drift alert fires, and the
//!    outcome feedback shows the precision falling, which fires the quality
//!    alert.
//! 5. The shop recommends: for each visit, 20 candidate products are
//!    scored in one ranking call and the top 3 shown.
//! 6. The monitor writes its HTML report, and a summary table shows who
//!    served what, how fast, and which alerts fired.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use modelhost::monitor::{Alert, AlertRule, AlertState, CallbackSink, Metric, Monitor};
use modelhost::rank::{Candidates, RankRequest, rank};
use modelhost::registry::{Better, Registry};
use modelhost::reload::{AliasWatcher, WatchEvent, WatchOptions};
use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest};

/// What the backend's handlers saw in one phase.
#[derive(Default)]
struct Tally {
    served: BTreeMap<u64, u64>,
    failed: u64,
    latencies_ns: Vec<u64>,
}

fn main() -> modelhost::Result<()> {
    let dir = std::env::temp_dir().join(format!("modelhost-webshop-demo-{}", std::process::id()));
    println!(
        "== 1. Train and register two versions (registry in {})",
        dir.display()
    );
    let registry = Registry::open(&dir)?;
    for (label, n, seed, depth) in [("shallow", 2_000, 1, 3), ("deep", 8_000, 2, 8)] {
        let artifact = common::tree_artifact("recommender", n, seed, depth)?;
        // Score on a holdout the model never saw.
        let model = artifact.clone().into_loaded(Default::default())?.model;
        let (rows, truth) = common::webshop_data(2_000, 99, 0.0);
        let predicted =
            model.predict_batch(artifact.header().schema.validate_batch(&rows)?.rows())?;
        let classes = predicted.class_indices().unwrap_or_default();
        let accuracy =
            classes.iter().zip(&truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64;
        let version = registry.register(
            artifact
                .with_metric("accuracy", accuracy)
                .with_tag("variant", label),
        )?;
        println!(
            "   recommender/{version}: {label} tree, depth {depth}, {n} customers, holdout accuracy {accuracy:.3}"
        );
    }
    registry.set_alias("recommender", "production", 1)?;
    println!("   production -> version 1 (what the shop ran until today)");

    println!("\n== 2. Embed the server with a monitor, following recommender@production");
    let alerts: Arc<Mutex<Vec<String>>> = Arc::default();
    let alert_log = alerts.clone();
    let sink = CallbackSink::new(move |a: &Alert| {
        if a.state == AlertState::Firing {
            println!(
                "   >>> ALERT {}: value {:.3} (threshold {})",
                a.rule, a.value, a.threshold
            );
            alert_log
                .lock()
                .unwrap()
                .push(format!("{} on v{}", a.rule, a.version));
        }
    });
    let initial = registry
        .load(&"recommender@production".parse()?, Default::default())?
        .deployment()?;
    // Our simulated shop sends requests as fast as the CPU allows. A real
    // shop's threads serve far fewer than the 1,000 requests a second up to
    // which the monitor sketches every row for drift by default; above that
    // it samples. Sketch every row here, so the story plays out at once.
    let monitor = Monitor::builder(&initial)
        .sample_every(1)
        .window_rows(2_000)
        .quality_window(2_000)
        .alert(AlertRule::above(Metric::DriftShare, 0.3).named("input drift"))
        .alert(
            AlertRule::below(Metric::Precision, 0.8)
                .min_count(1_000)
                .named("precision of \"buy\" below 0.8"),
        )
        .sink(Arc::new(sink))
        .build()?;
    let server = Arc::new(
        InProcessServer::builder(initial)
            .observer(monitor.clone())
            .build()?,
    );
    let watcher = AliasWatcher::spawn(
        server.clone(),
        registry.clone(),
        "recommender@production".parse()?,
        WatchOptions::new()
            .interval(Duration::from_millis(20))
            .on_event(|e| {
                if let WatchEvent::Swapped(r) = e {
                    println!("   [watcher] serving version {} (was {})", r.to, r.from);
                }
            }),
    )?;

    // The backend: 8 handler threads. Each request carries an id; the shop
    // later reports whether that customer bought.
    let shift = Arc::new(AtomicU64::new(0)); // traffic shift in percent
    let stop = Arc::new(AtomicBool::new(false));
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let handlers: Vec<_> = (0..8u64)
        .map(|t| {
            let (server, monitor, shift, stop, tally) = (
                server.clone(),
                monitor.clone(),
                shift.clone(),
                stop.clone(),
                tally.clone(),
            );
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let s = shift.load(Ordering::Relaxed) as f64 / 100.0;
                    let (customers, bought) = common::webshop_data(200, t * 1_000_000 + i, s);
                    let mut local = Tally::default();
                    for (customer, &truth) in customers.iter().zip(&bought) {
                        let id = format!("visit-{t}-{i}");
                        i += 1;
                        let start = Instant::now();
                        match server.predict(PredictRequest::new(customer).with_id(id.as_str())) {
                            Ok(r) => {
                                local.latencies_ns.push(start.elapsed().as_nanos() as u64);
                                *local.served.entry(r.version).or_default() += 1;
                                // Campaign shoppers on tablets rarely buy,
                                // whatever the model thinks: the concept
                                // shifts along with the inputs.
                                let tablet = customer.get("device") == Some(&"tablet".into());
                                let truth = if s > 0.0 && tablet && !i.is_multiple_of(3) {
                                    0
                                } else {
                                    truth
                                };
                                monitor.record_outcome(&id, truth).ok();
                            }
                            Err(_) => local.failed += 1,
                        }
                    }
                    let mut all = tally.lock().unwrap();
                    for (v, n) in local.served {
                        *all.served.entry(v).or_default() += n;
                    }
                    all.failed += local.failed;
                    all.latencies_ns.extend(local.latencies_ns);
                }
            })
        })
        .collect();

    // Phases: let traffic run, then read what the handlers saw.
    let mut summary: Vec<(String, Tally)> = Vec::new();
    let mut phase = |name: &str, millis: u64| {
        thread::sleep(Duration::from_millis(millis));
        let t = std::mem::take(&mut *tally.lock().unwrap());
        let served: Vec<String> = t.served.iter().map(|(v, n)| format!("v{v}: {n}")).collect();
        println!(
            "   {name:<34} served by {} ({} failed)",
            served.join(", "),
            t.failed
        );
        summary.push((name.to_owned(), t));
    };

    phase("normal traffic", 400);
    println!("\n== 3. Promote the better version while traffic flows");
    let best = registry.promote_best("recommender", "accuracy", Better::Higher, "production")?;
    println!("   production -> version {best} (best holdout accuracy)");
    phase("during and after the promotion", 400);
    println!("   ...a dashboard looks odd; roll back to be safe");
    registry.set_alias("recommender", "production", 1)?;
    phase("after the rollback", 400);
    println!("   ...false alarm; promote again");
    registry.set_alias("recommender", "production", best)?;
    phase("promoted again", 400);

    println!("\n== 4. A marketing campaign shifts the traffic");
    shift.store(100, Ordering::Relaxed);
    phase("campaign traffic", 1_500);
    stop.store(true, Ordering::Relaxed);
    for h in handlers {
        h.join().expect("handler thread");
    }
    watcher.shutdown();
    if let Some(d) = monitor.drift() {
        println!(
            "   last drift window: {} of {} features drift",
            d.drifted,
            d.features.len()
        );
        for f in d
            .features
            .iter()
            .filter(|f| f.verdict == modelhost::monitor::Verdict::Drift)
        {
            println!(
                "     {:<14} {} {:.3} (threshold {})",
                f.name,
                f.test.name(),
                f.score.unwrap_or(f64::NAN),
                f.threshold
            );
        }
    }
    for q in monitor.quality() {
        println!(
            "   live quality of v{} over its last {} outcomes: precision {:.3}, recall {:.3}, ROC AUC {:.3}",
            q.version,
            q.count,
            q.precision.unwrap_or(f64::NAN),
            q.recall.unwrap_or(f64::NAN),
            q.auc.unwrap_or(f64::NAN)
        );
    }

    println!("\n== 5. Recommend: the top 3 of 20 candidate products per visit");
    // The catalogue: 20 products at different prices. The session's
    // features are shared; each candidate adds its own. The products'
    // features are checked once, when the catalogue loads; each visit then
    // checks only its own features.
    let products: Vec<FeatureMap> = (0..20)
        .map(|i| FeatureMap::new().with("product_price", 4.99 + 7.5 * f64::from(i)))
        .collect();
    let catalogue = Candidates::new(server.current().schema(), &products)?;
    let (visits, _) = common::webshop_data(3, 777, 0.0);
    let mut ties = Vec::new();
    for (n, visit) in visits.iter().enumerate() {
        let mut session = visit.clone();
        session.remove("product_price");
        // All 20 ranked, to see how many share the best score; 3 shown.
        let top = rank(
            &*server,
            RankRequest::prepared(&session, &catalogue, catalogue.len())
                .with_id(format!("visit-{n}")),
        )?;
        let best = top.items.first().map_or(f64::NAN, |r| r.score);
        let tied = top.items.iter().filter(|r| r.score == best).count();
        let shown: Vec<String> = top
            .items
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "product {} at {:.2} (p(buy) {:.2})",
                    r.index,
                    4.99 + 7.5 * r.index as f64,
                    r.score
                )
            })
            .collect();
        println!(
            "   {} (v{}): {}",
            top.id.as_deref().unwrap_or("?"),
            top.version,
            shown.join(", ")
        );
        ties.push(tied);
    }
    if ties.iter().any(|&t| t > 3) {
        let counts: Vec<String> = ties.iter().map(usize::to_string).collect();
        println!(
            "   ({} of the {} products share each visit's best score: a tree scores by its \
             leaves' shares, so equal scores keep catalogue order; the forest and the logistic \
             regression of webshop_train score more finely)",
            counts.join(", "),
            catalogue.len()
        );
    }

    println!("\n== 6. Report and summary");
    let report = dir.join("monitoring-report.html");
    monitor.write_report(&report)?;
    println!("   monitoring report: {}", report.display());
    println!();
    println!(
        "   {:<34} {:>9} {:>8} {:>9} {:>9}  served by",
        "phase", "requests", "failed", "p50", "p99"
    );
    let (mut total, mut failed) = (0, 0);
    for (name, t) in &mut summary {
        t.latencies_ns.sort_unstable();
        let pct = |q: f64| {
            t.latencies_ns
                .get(
                    ((t.latencies_ns.len() as f64 * q) as usize)
                        .min(t.latencies_ns.len().saturating_sub(1)),
                )
                .copied()
                .unwrap_or(0)
        };
        let n: u64 = t.served.values().sum();
        total += n;
        failed += t.failed;
        let served: Vec<String> = t.served.iter().map(|(v, n)| format!("v{v} {n}")).collect();
        println!(
            "   {name:<34} {n:>9} {:>8} {:>7.1}µs {:>7.1}µs  {}",
            t.failed,
            pct(0.50) as f64 / 1e3,
            pct(0.99) as f64 / 1e3,
            served.join(", ")
        );
    }
    println!("   {:<34} {total:>9} {failed:>8}", "total");
    let fired = alerts.lock().unwrap();
    println!(
        "\n   alerts fired: {}",
        if fired.is_empty() {
            "none".to_owned()
        } else {
            fired.join("; ")
        }
    );
    let _ = std::fs::remove_dir_all(dir.join("recommender"));
    Ok(())
}
