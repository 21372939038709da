//! Monitoring: drift scores against hand-computed and numpy/scipy values,
//! the monitor's memory bounds, alert de-duplication, feedback quality,
//! metrics counters under concurrency, snapshots and the report.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use modelhost::deployment::{FeatureStats, ReferenceStats};
use modelhost::model::ModelError;
use modelhost::monitor::MonitorError;
use modelhost::monitor::{
    Alert, AlertRule, AlertSink, AlertState, Binning, CallbackSink, Metric, Monitor,
    MonitorSnapshot, Sampling, Verdict, histogram_bin_edges, jensen_shannon, ks_statistic, psi,
};
use modelhost::{
    Deployment, FeatureMap, FeatureSchema, InProcessServer, Model, ModelServer, OutputKind,
    PredictRequest, Predictions,
};
use ndarray::{Array2, ArrayView2};
use serde::Deserialize;
use support::MockModel;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn psi_and_ks_match_hand_computed_values() {
    // 50/50 against 75/25: 0.25 ln 1.5 + 0.25 ln 2.
    let p = psi(
        &[0.0, 0.0, 1.0, 1.0],
        &[0.0, 0.0, 0.0, 1.0],
        true,
        Binning::Sturges,
    )
    .unwrap();
    assert!(close(p, 0.25 * 1.5f64.ln() + 0.25 * 2f64.ln()), "{p}");

    // A category missing from the reference: its share 0 becomes 0.0001
    // (the smallest non-zero share, 0.5, is above 0.0001), and the current
    // side has no zero. Reference [0.5, 0.5, 0.0001], current [1/3; 3].
    let p = psi(&[0.0, 1.0], &[0.0, 1.0, 2.0], true, Binning::Sturges).unwrap();
    let third: f64 = 1.0 / 3.0;
    let want = 2.0 * (third - 0.5) * (third / 0.5).ln() + (third - 0.0001) * (third / 0.0001).ln();
    assert!(close(p, want), "{p} vs {want}");

    // Numeric with more than 20 distinct values: 21 values 0..=20 against
    // the same shifted by 21. Combined: 42 values, sturges bins
    // ceil(log2(42) + 1) = 7 over [0, 41]; reference fills bins 0-3 (6, 6,
    // 6, 3 values), current bins 3-6 (3, 6, 6, 6).
    let r: Vec<f64> = (0..21).map(f64::from).collect();
    let c: Vec<f64> = (21..42).map(f64::from).collect();
    let mut all = r.clone();
    all.extend(&c);
    let edges = histogram_bin_edges(&all, Binning::Sturges);
    assert_eq!(edges.len(), 8);
    assert!(close(edges[1], 41.0 / 7.0));
    let (six, three, fill) = (6.0 / 21.0, 3.0 / 21.0, 0.0001);
    let term = |a: f64, b: f64| (a - b) * (a / b).ln();
    let want = 3.0 * term(six, fill) + term(three, three) + 3.0 * term(fill, six);
    let got = psi(&r, &c, false, Binning::Sturges).unwrap();
    assert!(close(got, want), "{got} vs {want}");

    assert_eq!(
        ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]),
        Some(0.5)
    );
    assert_eq!(
        ks_statistic(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]),
        Some(1.0 / 3.0)
    );
    let js = jensen_shannon(&[0.0, 1.0], &[0.0, 1.0], true, Binning::Sturges).unwrap();
    assert!(js.abs() < 1e-12);
}

#[derive(Deserialize)]
struct ReferenceFile {
    cases: Vec<ReferenceCase>,
}

#[derive(Deserialize)]
struct ReferenceCase {
    name: String,
    categorical: bool,
    bins: Option<usize>,
    reference: Vec<f64>,
    current: Vec<f64>,
    psi: f64,
    ks: f64,
    js: f64,
    edges: Option<Vec<f64>>,
}

/// Values computed by numpy and scipy with `tests/data/drift_reference.py`.
#[test]
fn drift_scores_match_numpy_and_scipy() {
    let file: ReferenceFile =
        serde_json::from_str(include_str!("data/drift_reference.json")).unwrap();
    assert!(file.cases.len() >= 8);
    let mut worst = 0.0f64;
    for c in &file.cases {
        let binning = c.bins.map_or(Binning::Sturges, Binning::Fixed);
        if let Some(edges) = &c.edges {
            let mut all = c.reference.clone();
            all.extend(&c.current);
            let got = histogram_bin_edges(&all, binning);
            assert_eq!(got.len(), edges.len(), "{}: bin count", c.name);
            for (g, e) in got.iter().zip(edges) {
                assert!(close(*g, *e), "{}: edge {g} vs numpy {e}", c.name);
            }
        }
        let p = psi(&c.reference, &c.current, c.categorical, binning).unwrap();
        assert!(close(p, c.psi), "{}: psi {p} vs {}", c.name, c.psi);
        let k = ks_statistic(&c.reference, &c.current).unwrap();
        assert!(close(k, c.ks), "{}: ks {k} vs {}", c.name, c.ks);
        let j = jensen_shannon(&c.reference, &c.current, c.categorical, binning).unwrap();
        assert!(close(j, c.js), "{}: js {j} vs {}", c.name, c.js);
        worst = worst
            .max((p - c.psi).abs())
            .max((k - c.ks).abs())
            .max((j - c.js).abs());
    }
    eprintln!("largest difference from numpy/scipy: {worst:e}");
}

/// A classifier over the mock schema: P(class 1) = x / 1000.
#[derive(Debug)]
struct ProbModel {
    schema: FeatureSchema,
    output: OutputKind,
}

impl ProbModel {
    fn deploy(name: &str, version: u64) -> Deployment {
        Deployment::new(
            name,
            version,
            Self {
                schema: support::mock_schema(),
                output: OutputKind::classification(["no", "yes"]),
            },
        )
    }
}

impl Model for ProbModel {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }
    fn output(&self) -> &OutputKind {
        &self.output
    }
    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        let p: Vec<f64> = rows.column(0).iter().map(|x| x / 1000.0).collect();
        let classes = p.iter().map(|&p| usize::from(p > 0.5)).collect();
        let probs = Array2::from_shape_fn(
            (p.len(), 2),
            |(i, j)| if j == 1 { p[i] } else { 1.0 - p[i] },
        );
        Predictions::classes(classes, 2)?.with_probabilities(probs)
    }
}

fn x(v: f64) -> FeatureMap {
    FeatureMap::new().with("x", v)
}

/// Training-time statistics for the mock schema: x uniform on [0, 500).
fn reference() -> ReferenceStats {
    let values: Vec<f64> = (0..5_000).map(|i| f64::from(i) / 10.0).collect();
    let mut stats = ReferenceStats::from_batch(
        &support::mock_schema()
            .validate_batch(&values.iter().map(|&v| x(v)).collect::<Vec<_>>())
            .unwrap(),
        None,
        5_000,
    );
    stats.predictions = Some(FeatureStats::from_values(
        "prediction",
        true,
        values.iter().map(|_| 0.0),
        5_000,
    ));
    stats
}

/// Alerts a sink has received.
type Seen = Arc<Mutex<Vec<Alert>>>;

fn collecting() -> (Seen, Arc<dyn AlertSink>) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let sink = CallbackSink::new(move |a: &Alert| s.lock().unwrap().push(a.clone()));
    (seen, Arc::new(sink))
}

#[test]
fn drift_is_detected_per_window_and_alerts_fire_once() {
    let d = ProbModel::deploy("drifty", 1);
    let (seen, sink) = collecting();
    let monitor = Monitor::builder(&d)
        .sample_every(1)
        .reference(reference())
        .window_rows(500)
        .alert(AlertRule::above(Metric::FeaturePsi("x".into()), 0.25))
        .alert(AlertRule::above(Metric::DriftShare, 0.5).named("dataset drift"))
        .sink(sink)
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    let serve = |from: f64, to: f64, n: usize| {
        for i in 0..n {
            let v = from + (to - from) * (i as f64 / n as f64);
            server.predict(PredictRequest::new(&x(v))).unwrap();
        }
    };
    assert!(monitor.drift().is_none());
    // Training-like traffic: no drift.
    serve(0.0, 500.0, 500);
    let r = monitor.drift().expect("one window scored");
    assert_eq!((r.window, r.rows, r.kept_rows), (0, 500, 500));
    assert_eq!(r.features[0].verdict, Verdict::Stable, "{r:?}");
    assert!(!r.dataset_drift);
    // Shifted traffic, three windows long: the alert fires once.
    serve(600.0, 1000.0, 1_500);
    let r = monitor.drift().unwrap();
    assert_eq!(r.window, 3);
    assert_eq!(r.features[0].verdict, Verdict::Drift);
    assert!(r.dataset_drift);
    assert!(
        r.prediction.as_ref().unwrap().psi.unwrap() > 1.0,
        "every prediction is class 1 now"
    );
    {
        let alerts = seen.lock().unwrap();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert!(alerts.iter().all(|a| a.state == AlertState::Firing));
    }
    // Evaluating on demand does not fire again.
    assert!(monitor.evaluate().is_empty());
    assert_eq!(monitor.active_alerts().len(), 2);
    // Back to normal for two windows: both resolve, once.
    serve(0.0, 500.0, 500);
    serve(0.0, 500.0, 500);
    // Windows are scored, and sinks called, on the monitor's thread; a
    // read waits for the windows handed to it.
    monitor.flush();
    let alerts = seen.lock().unwrap();
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    assert!(alerts[2..].iter().all(|a| a.state == AlertState::Resolved));
    assert!(monitor.active_alerts().is_empty());
}

#[test]
fn sliding_windows_score_every_step() {
    let d = ProbModel::deploy("sliding", 1);
    let monitor = Monitor::builder(&d)
        .sample_every(1)
        .reference(reference())
        .window_rows(400)
        .step_rows(100)
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    for i in 0..1_000 {
        server
            .predict(PredictRequest::new(&x(f64::from(i % 500))))
            .unwrap();
    }
    // Scored at rows 400, 500, ..., 1000.
    assert_eq!(monitor.drift().unwrap().window, 6);
    assert_eq!(monitor.drift().unwrap().rows, 400);
    assert_eq!(monitor.snapshot().windows.len(), 10);
}

#[test]
fn windows_can_be_scored_in_the_background() {
    let d = ProbModel::deploy("background", 1);
    let (seen, sink) = collecting();
    let monitor = Monitor::builder(&d)
        .sample_every(1)
        .reference(reference())
        .window_rows(200)
        .score_in_background(true)
        .alert(AlertRule::above(Metric::FeaturePsi("x".into()), 0.25))
        .sink(sink)
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    for i in 0..2_000u32 {
        let v = if i < 1_000 { f64::from(i % 500) } else { 900.0 };
        server.predict(PredictRequest::new(&x(v))).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while monitor.snapshot().windows.len() < 10 && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let s = monitor.snapshot();
    assert_eq!(s.windows.len(), 10, "every window scored, none lost");
    assert_eq!(s.drift.unwrap().window, 9);
    assert_eq!(seen.lock().unwrap().len(), 1, "the drift alert fired once");
    // The scoring thread ends with the monitor.
    drop(server);
    let weak = Arc::downgrade(&monitor);
    drop(monitor);
    // The thread may still be finishing its last dispatch.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while weak.upgrade().is_some() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_swap_takes_the_reference_from_the_artifact_header() {
    use linfa::prelude::*;
    use linfa_trees::DecisionTree;
    use modelhost::artifact::{Artifact, ReadOptions};

    let schema = support::mock_schema();
    let rows: Vec<FeatureMap> = (0..400).map(|i| x(f64::from(i))).collect();
    let training = schema.validate_batch(&rows).unwrap();
    let y = ndarray::Array1::from_iter((0..400).map(|i| usize::from(i >= 200)));
    let tree = DecisionTree::params()
        .fit(&Dataset::new(training.rows().to_owned(), y))
        .unwrap();
    let artifact =
        Artifact::decision_tree("tree", &tree, &schema, ["lo", "hi"], &training).unwrap();
    let bytes = artifact.to_bytes().unwrap();
    let load = |version: u64| {
        let mut a = Artifact::from_bytes(&bytes, ReadOptions::new()).unwrap();
        a.header_mut().version = version;
        a.into_loaded(ReadOptions::new())
            .unwrap()
            .deployment()
            .unwrap()
    };
    // Version 1 is monitored without a reference; version 2 brings one.
    let v1 = ProbModel::deploy("tree", 1);
    let monitor = Monitor::builder(&v1)
        .window_rows(100)
        .sample_every(1)
        .build()
        .unwrap();
    let server = server_with(v1, &monitor);
    for i in 0..100 {
        server
            .predict(PredictRequest::new(&x(f64::from(i))))
            .unwrap();
    }
    assert!(monitor.drift().is_none(), "no reference, no drift");
    server.swap(load(2)).unwrap();
    for i in 0..100 {
        server
            .predict(PredictRequest::new(&x(f64::from(i * 4))))
            .unwrap();
    }
    let r = monitor
        .drift()
        .expect("scored against the header's reference");
    assert_eq!((r.version, r.window), (2, 0));
    assert!(r.features[0].psi.unwrap() < 0.1, "{r:?}");
    assert!(r.prediction.is_some());
}

#[test]
fn quality_alert_fires_once_per_breach_and_resolves() {
    let d = ProbModel::deploy("quality", 1);
    let (seen, sink) = collecting();
    let monitor = Monitor::builder(&d)
        .quality_window(200)
        .evaluate_every(10)
        .alert(AlertRule::below(Metric::Recall, 0.7).min_count(200))
        .sink(sink)
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    let mut id = 0;
    let mut round = |n: usize, truth: &dyn Fn(f64) -> &'static str| {
        for i in 0..n {
            id += 1;
            let v = if i % 2 == 0 { 900.0 } else { 100.0 };
            let key = format!("r{id}");
            server
                .predict(PredictRequest::new(&x(v)).with_id(key.clone()))
                .unwrap();
            assert!(monitor.record_outcome(&key, truth(v)).unwrap());
        }
    };
    // A perfect model: recall 1.
    round(400, &|v| if v > 500.0 { "yes" } else { "no" });
    let q = &monitor.quality()[0];
    assert_eq!(
        (q.accuracy, q.recall, q.auc),
        (Some(1.0), Some(1.0), Some(1.0))
    );
    // Every customer buys now: recall 0.5, for a long time.
    round(1_000, &|_| "yes");
    assert_eq!(monitor.quality()[0].recall, Some(0.5));
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "fired once over 100 evaluations"
    );
    monitor.evaluate();
    monitor.evaluate();
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Back to normal: resolves once.
    round(400, &|v| if v > 500.0 { "yes" } else { "no" });
    let alerts = seen.lock().unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.state).collect::<Vec<_>>(),
        [AlertState::Firing, AlertState::Resolved]
    );
    assert_eq!(alerts[0].metric, "recall");
}

/// The live quality gauges and an active alert's current value show the
/// quality `Monitor::quality` computes, not the value of the last periodic
/// evaluation: they are refreshed on every read and on `flush`.
#[test]
fn quality_gauges_and_active_alerts_tell_the_current_truth() {
    recorder();
    let d = ProbModel::deploy("truthful", 1);
    let monitor = Monitor::builder(&d)
        .quality_window(100)
        // Far apart: only reads and flushes can refresh in between.
        .evaluate_every(1_000_000)
        .alert(AlertRule::below(Metric::Accuracy, 0.9).min_count(10))
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    let gauge =
        || match metrics_of("truthful").get("modelhost_live_quality{metric=accuracy,version=1}") {
            Some(DebugValue::Gauge(g)) => g.0,
            other => panic!("no accuracy gauge: {other:?}"),
        };
    let serve = |from: usize, n: usize, right: bool| {
        for k in from..from + n {
            let key = format!("t{k}");
            server
                .predict(PredictRequest::new(&x(900.0)).with_id(key.clone()))
                .unwrap();
            let truth = if right { "yes" } else { "no" };
            assert!(monitor.record_outcome(&key, truth).unwrap());
        }
    };
    serve(0, 20, false);
    let q = monitor.quality()[0].accuracy.unwrap();
    assert_eq!(q, 0.0);
    assert_eq!(gauge(), q, "refreshed by the quality read");
    monitor.evaluate();
    let fired = monitor.active_alerts();
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].value, fired[0].current), (0.0, 0.0));

    // Quality improves without an evaluation in between.
    serve(20, 20, true);
    monitor.flush();
    assert_eq!(gauge(), 0.5, "refreshed by flush");
    let q = monitor.quality()[0].accuracy.unwrap();
    assert_eq!(q, 0.5);
    let active = monitor.active_alerts();
    assert_eq!(active.len(), 1, "still below 0.9");
    assert_eq!(active[0].value, 0.0, "the value it fired at");
    assert_eq!(active[0].current, 0.5, "the value now");
    assert!(active[0].to_string().contains("now 0.5"), "{}", active[0]);
}

#[test]
fn outcomes_that_do_not_fit_are_rejected_and_kept() {
    let d = ProbModel::deploy("outcomes", 1);
    let monitor = Monitor::builder(&d).build().unwrap();
    let server = server_with(d, &monitor);
    server
        .predict(PredictRequest::new(&x(700.0)).with_id("a"))
        .unwrap();
    let unknown = monitor.record_outcome("a", "maybe").unwrap_err();
    assert!(matches!(
        unknown.downcast_ref::<MonitorError>(),
        Some(MonitorError::UnknownLabel { .. })
    ));
    assert!(monitor.record_outcome("a", 7usize).is_err());
    assert!(monitor.record_outcome("a", 0.5).is_err());
    assert!(!monitor.record_outcome("nope", 1usize).unwrap());
    assert!(
        monitor.record_outcome("a", 1.0).unwrap(),
        "still waiting after the errors"
    );
    assert!(!monitor.record_outcome("a", 1usize).unwrap(), "joined once");
    // The rows of a multi-row request are joined one by one, as `id#row`.
    let rows = [x(1.0), x(2.0), x(900.0)];
    server
        .predict(PredictRequest::rows(&rows[..]).with_id("b"))
        .unwrap();
    assert!(
        !monitor.record_outcome("b", 0usize).unwrap(),
        "the request id alone is no row"
    );
    for row in [2, 0] {
        assert!(monitor.record_outcome(&format!("b#{row}"), 1usize).unwrap());
    }
    assert!(
        !monitor.record_outcome("b#0", 1usize).unwrap(),
        "joined once"
    );
    assert!(
        !monitor.record_outcome("b#3", 1usize).unwrap(),
        "no such row"
    );
    assert!(monitor.record_outcome("b#1", 0usize).unwrap());
    let q = monitor.quality();
    assert_eq!(q.iter().map(|q| q.total).sum::<u64>(), 4, "{q:?}");
}

#[test]
fn bad_configuration_is_rejected() {
    let d = ProbModel::deploy("config", 1);
    let bad = [
        Monitor::builder(&d).window_rows(1).build(),
        Monitor::builder(&d).window_rows(100).step_rows(101).build(),
        Monitor::builder(&d).max_kept_rows(0).build(),
        Monitor::builder(&d).positive_class(2).build(),
        Monitor::builder(&d).sample_every(0).build(),
        Monitor::builder(&d)
            .sampling(Sampling::UpTo { per_second: 0 })
            .build(),
        Monitor::builder(&d).quality_window(0).build(),
        Monitor::builder(&d)
            .alert(AlertRule::above(Metric::DriftShare, f64::NAN))
            .build(),
    ];
    for b in bad {
        let e = b.unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<MonitorError>(),
                Some(MonitorError::InvalidConfig { .. })
            ),
            "{e:?}"
        );
    }
}

#[test]
fn windows_and_feedback_stay_bounded_under_a_million_events() {
    let d = ProbModel::deploy("bounded", 1);
    let monitor = Monitor::builder(&d)
        .sample_every(1)
        .reference(reference())
        .window_rows(20_000)
        .max_kept_rows(1_000)
        .max_pending(1_000)
        .quality_window(500)
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    let vector = support::mock_schema().validate(&x(300.0)).unwrap();
    let mut peak_pending = 0;
    for i in 0..1_000_000u32 {
        let id = format!("{i}");
        server
            .predict(PredictRequest::vector(&vector).with_id(id.clone()))
            .unwrap();
        // Feedback for every tenth request, some of them long gone.
        if i % 10 == 0 {
            let _ = monitor.record_outcome(&format!("{}", i.saturating_sub(500)), 1usize);
        }
        if i % 50_000 == 0 {
            let m = monitor.memory();
            peak_pending = peak_pending.max(m.pending);
            assert!(m.window_capacity_rows <= 1_000);
            // One feature and one prediction per kept row, allocated once.
            assert!(m.window_values <= 1_000 * 2, "{m:?}");
            assert!(m.pending <= 1_000 && m.pending_queue <= 2_000, "{m:?}");
        }
    }
    let m = monitor.memory();
    assert_eq!(m.pending, 1_000);
    // About a tenth were joined, the rest pushed out by newer ones.
    assert!(m.pending_evicted > 850_000, "{m:?}");
    assert!(m.quality_outcomes <= 500, "{m:?}");
    assert!(monitor.snapshot().windows.len() <= 500);
    assert_eq!(monitor.drift().unwrap().kept_rows, 1_000);
    assert!((990..=1_000).contains(&peak_pending), "{peak_pending}");
}

#[test]
fn pending_predictions_expire_by_age() {
    let d = ProbModel::deploy("ttl", 1);
    let monitor = Monitor::builder(&d)
        .pending_ttl(Duration::from_millis(50))
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    server
        .predict(PredictRequest::new(&x(1.0)).with_id("old"))
        .unwrap();
    // Wait until "old" is past its time to live (a condition, not a guess).
    let kept = std::time::Instant::now();
    while kept.elapsed() <= Duration::from_millis(60) {
        thread::sleep(Duration::from_millis(5));
    }
    server
        .predict(PredictRequest::new(&x(1.0)).with_id("new"))
        .unwrap();
    assert!(!monitor.record_outcome("old", 0usize).unwrap());
    assert!(monitor.record_outcome("new", 0usize).unwrap());
    assert_eq!(monitor.memory().pending_expired, 1);
}

fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("first recorder of this test binary");
        snapshotter
    })
}

/// Metric values of `model`, keyed by name and sorted labels.
///
/// The debugging recorder's snapshot drains what it returns (counters back
/// to zero, histograms emptied), and tests run in parallel, so every
/// snapshot is added to one running total that all tests read from.
fn metrics_of(model: &str) -> HashMap<String, DebugValue> {
    static TOTAL: Mutex<Vec<(String, String, DebugValue)>> = Mutex::new(Vec::new());
    let mut total = TOTAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (k, _, _, v) in recorder().snapshot().into_vec() {
        let Some(owner) = k
            .key()
            .labels()
            .find(|l| l.key() == "model")
            .map(|l| l.value().to_owned())
        else {
            continue;
        };
        let mut labels: Vec<String> = k
            .key()
            .labels()
            .filter(|l| l.key() != "model")
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", k.key().name(), labels.join(","));
        match total.iter_mut().find(|(m, n, _)| *m == owner && *n == name) {
            None => total.push((owner, name, v)),
            Some((.., seen)) => match (seen, v) {
                (DebugValue::Counter(a), DebugValue::Counter(b)) => *a += b,
                (DebugValue::Histogram(a), DebugValue::Histogram(b)) => a.extend(b),
                (seen, v) => *seen = v,
            },
        }
    }
    total
        .iter()
        .filter(|(m, ..)| m == model)
        .map(|(_, n, v)| {
            let v = match v {
                DebugValue::Counter(c) => DebugValue::Counter(*c),
                DebugValue::Gauge(g) => DebugValue::Gauge(*g),
                DebugValue::Histogram(h) => DebugValue::Histogram(h.clone()),
            };
            (n.clone(), v)
        })
        .collect()
}

fn counter(m: &HashMap<String, DebugValue>, key: &str) -> u64 {
    match m.get(key) {
        Some(DebugValue::Counter(c)) => *c,
        None => 0,
        other => panic!("{key}: {other:?}"),
    }
}

/// A server for `d` with `monitor` attached.
fn server_with(d: Deployment, monitor: &Arc<Monitor>) -> InProcessServer {
    InProcessServer::builder(d)
        .observer(monitor.clone())
        .build()
        .unwrap()
}

/// The same, to share between threads.
fn shared_server(d: Deployment, monitor: &Arc<Monitor>) -> Arc<InProcessServer> {
    Arc::new(server_with(d, monitor))
}

#[test]
fn metrics_count_every_request_under_concurrency() {
    recorder();
    let d = Deployment::new("counted", 1, MockModel::new(1));
    let monitor = Monitor::builder(&d)
        .window_rows(100)
        .sample_every(1)
        .build()
        .unwrap();
    let server = shared_server(d, &monitor);
    // Each thread serves at least 2,500 requests and keeps going until it
    // has seen version 2 serve one of them, so the swap below lands while
    // all four are serving (no sleep hoping for it).
    let halfway = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (server, halfway) = (server.clone(), halfway.clone());
            thread::spawn(move || {
                let mut saw_v2 = false;
                let mut i = 0u32;
                while i < 2_500 || !saw_v2 {
                    assert!(i < 1_000_000, "version 2 never served");
                    // Every 10th request is invalid (x must be at most 1000);
                    // the others avoid the mock's failing and panicking values.
                    let v = if i.is_multiple_of(10) {
                        5_000.0
                    } else {
                        f64::from(t * 100 + i % 100 + 20)
                    };
                    if let Ok(r) = server.predict(PredictRequest::new(&x(v))) {
                        saw_v2 |= r.version == 2;
                    }
                    i += 1;
                    if i == 1_250 {
                        halfway.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                i
            })
        })
        .collect();
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while halfway.load(std::sync::atomic::Ordering::SeqCst) < 4 {
        assert!(
            std::time::Instant::now() < give_up,
            "threads never got halfway"
        );
        thread::yield_now();
    }
    server
        .swap(Deployment::new("counted", 2, MockModel::new(2)))
        .unwrap();
    assert!(
        server
            .swap(Deployment::new("counted", 1, MockModel::new(1)))
            .is_err()
    );
    let served: Vec<u64> = threads
        .into_iter()
        .map(|t| u64::from(t.join().unwrap()))
        .collect();
    let total: u64 = served.iter().sum();
    let invalid: u64 = served.iter().map(|n| n.div_ceil(10)).sum();
    // Threads count into shards of their own; the monitor hands the counts
    // to the recorder when it folds them (here: now).
    monitor.flush();
    let m = metrics_of("counted");
    let by = |outcome: &str| {
        counter(
            &m,
            &format!("modelhost_requests_total{{outcome={outcome},version=1}}"),
        ) + counter(
            &m,
            &format!("modelhost_requests_total{{outcome={outcome},version=2}}"),
        )
    };
    assert_eq!(by("ok"), total - invalid, "{m:#?}");
    assert_eq!(by("invalid_input"), invalid);
    assert!(counter(&m, "modelhost_requests_total{outcome=ok,version=1}") >= 4 * 1_125);
    assert!(counter(&m, "modelhost_requests_total{outcome=ok,version=2}") >= 4);
    let rows = counter(&m, "modelhost_rows_predicted_total{version=1}")
        + counter(&m, "modelhost_rows_predicted_total{version=2}");
    assert_eq!(rows, total - invalid);
    assert_eq!(counter(&m, "modelhost_swaps_total{kind=swap}"), 1);
    assert_eq!(
        counter(&m, "modelhost_failed_loads_total{reason=stale_version}"),
        1
    );
    assert!(matches!(m.get("modelhost_model_version{}"), Some(DebugValue::Gauge(v)) if v.0 == 2.0));
    let durations: usize = ["1", "2"]
        .iter()
        .map(|v| {
            match m.get(&format!(
                "modelhost_request_duration_seconds{{version={v}}}"
            )) {
                Some(DebugValue::Histogram(h)) => h.len(),
                _ => 0,
            }
        })
        .sum();
    assert_eq!(durations as u64, total);
    let s = monitor.snapshot();
    assert_eq!(
        (s.requests, s.errors, s.rows),
        (total, invalid, total - invalid)
    );
}

#[test]
fn default_sampling_counts_every_request_but_times_and_sketches_a_sample() {
    recorder();
    let d = ProbModel::deploy("sampled", 1);
    let monitor = Monitor::builder(&d)
        .reference(reference())
        .window_rows(100)
        .build()
        .unwrap();
    let server = shared_server(d, &monitor);
    let (threads, each) = (4u32, 50_000u32);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let server = server.clone();
            thread::spawn(move || {
                let vector = support::mock_schema()
                    .validate(&x(f64::from(t * 100 + 20)))
                    .unwrap();
                for _ in 0..each {
                    server.predict(PredictRequest::vector(&vector)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let served = u64::from(threads * each);
    let s = monitor.snapshot();
    // Every request is counted, in the snapshot and in the recorder.
    assert_eq!((s.requests, s.errors, s.rows), (served, 0, served));
    let m = metrics_of("sampled");
    assert_eq!(
        counter(&m, "modelhost_requests_total{outcome=ok,version=1}"),
        served
    );
    assert_eq!(
        counter(&m, "modelhost_rows_predicted_total{version=1}"),
        served
    );
    // Each thread times and sketches its first 64 requests, then about
    // 1,000 a second: far fewer than it serves (a thread would have to
    // take over 10 ms per 64 requests to sketch a quarter of them).
    let timed = match m.get("modelhost_request_duration_seconds{version=1}") {
        Some(DebugValue::Histogram(h)) => h.len() as u64,
        other => panic!("{other:?}"),
    };
    assert_eq!(timed, s.latency.count());
    assert!(
        timed >= u64::from(threads) * 64 && timed < served / 4,
        "{timed} timed"
    );
    assert!(
        s.sketched_rows >= u64::from(threads) * 64 && s.sketched_rows < served / 4,
        "{} sketched",
        s.sketched_rows
    );
    // Windows are made of sketched rows.
    assert_eq!(s.windows.len() as u64, s.sketched_rows / 100);
}

#[test]
fn requests_sampled_out_are_counted_and_failures_and_ids_always_seen() {
    recorder();
    let d = ProbModel::deploy("strided", 1);
    let monitor = Monitor::builder(&d).sample_every(1_000).build().unwrap();
    let server = server_with(d, &monitor);
    // The first request is the only one sampled (timed); the other 99 are
    // counted by the server without reaching the monitor.
    for _ in 0..100 {
        server.predict(PredictRequest::new(&x(100.0))).unwrap();
    }
    // Requests with an id and failed ones are reported all the same.
    for k in 0..10 {
        server
            .predict(PredictRequest::new(&x(900.0)).with_id(format!("id-{k}")))
            .unwrap();
    }
    for _ in 0..5 {
        server.predict(PredictRequest::new(&x(-1.0))).unwrap_err();
    }
    let s = monitor.snapshot();
    assert_eq!((s.requests, s.errors, s.rows), (115, 5, 110));
    assert_eq!(s.latency.count(), 1, "one request sampled");
    let m = metrics_of("strided");
    assert_eq!(
        counter(&m, "modelhost_requests_total{outcome=ok,version=1}"),
        110
    );
    assert_eq!(
        counter(
            &m,
            "modelhost_requests_total{outcome=invalid_input,version=1}"
        ),
        5
    );
    // Every prediction with an id waits for its outcome.
    for k in 0..10 {
        assert!(monitor.record_outcome(&format!("id-{k}"), "yes").unwrap());
    }
    assert_eq!(monitor.quality()[0].accuracy, Some(1.0));
}

#[test]
fn rows_of_threads_that_went_quiet_reach_the_window_on_read() {
    let d = ProbModel::deploy("quiet", 1);
    let monitor = Monitor::builder(&d)
        .reference(reference())
        .window_rows(30)
        .sample_every(1)
        .publish_every(Duration::ZERO)
        .build()
        .unwrap();
    let server = shared_server(d, &monitor);
    // Three threads serve 10 requests each and end: too few to fill their
    // rings, so the rows are still there when they exit.
    for t in 0..3 {
        let server = server.clone();
        thread::spawn(move || {
            for i in 0..10 {
                server
                    .predict(PredictRequest::new(&x(f64::from(t * 10 + i))))
                    .unwrap();
            }
        })
        .join()
        .unwrap();
    }
    let drift = monitor.drift().expect("the 30 rows complete a window");
    assert_eq!((drift.window, drift.rows), (0, 30));
    let s = monitor.snapshot();
    assert_eq!((s.requests, s.sketched_rows), (30, 30));
    assert!(
        monitor.memory().ring_slots >= 512,
        "one ring per thread seen"
    );
}

#[test]
fn batch_metrics_are_recorded() {
    recorder();
    modelhost::monitor::record_batch("batched", 8, Duration::from_millis(2));
    let m = metrics_of("batched");
    assert!(
        matches!(m.get("modelhost_batch_size{}"), Some(DebugValue::Histogram(h)) if h.len() == 1 && h[0].0 == 8.0)
    );
    assert!(
        matches!(m.get("modelhost_queue_wait_seconds{}"), Some(DebugValue::Histogram(h)) if h.len() == 1)
    );
}

/// A minimal XML well-formedness check: every tag closes in order.
fn assert_well_formed(doc: &str) {
    let body = doc.trim_start_matches("<!DOCTYPE html>").trim();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("tag closes") + start;
        let tag = &rest[start + 1..end];
        assert!(!rest[..start].contains('>'), "stray '>' before <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_owned());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn snapshots_round_trip_and_the_report_is_well_formed() {
    let d = ProbModel::deploy("report <&> \"quoted\"", 1);
    let monitor = Monitor::builder(&d)
        .sample_every(1)
        .reference(reference())
        .window_rows(200)
        .evaluate_every(20)
        .alert(AlertRule::above(Metric::FeaturePsi("x".into()), 0.25))
        .build()
        .unwrap();
    let server = server_with(d, &monitor);
    for i in 0..1_000u32 {
        let v = if i < 600 { f64::from(i % 500) } else { 900.0 };
        let id = i.to_string();
        server
            .predict(PredictRequest::new(&x(v)).with_id(id.clone()))
            .unwrap();
        monitor
            .record_outcome(&id, if i % 3 == 0 { "yes" } else { "no" })
            .unwrap();
    }
    let _ = server.predict(PredictRequest::new(&x(-1.0)));
    let snapshot = monitor.snapshot();
    assert_eq!(snapshot.windows.len(), 5);
    assert!(!snapshot.quality_history.is_empty());
    assert_eq!(snapshot.active_alerts.len(), 1);
    let back = MonitorSnapshot::from_json(&snapshot.to_json()).unwrap();
    assert_eq!(back, snapshot);

    let html = monitor.report();
    assert_well_formed(&html);
    assert!(html.contains("report &lt;&amp;&gt; &quot;quoted&quot;"));
    assert!(html.matches("<svg").count() >= 4);
    assert!(html.contains("psi(x)"));

    let dir = tempfile::tempdir().unwrap();
    monitor.write_snapshot(dir.path().join("s.json")).unwrap();
    let read = MonitorSnapshot::read(dir.path().join("s.json")).unwrap();
    assert_eq!(read.requests, 1_001);
    monitor.write_report(dir.path().join("r.html")).unwrap();

    assert!(MonitorSnapshot::from_json("{}").is_err());
    let json = snapshot.to_json();
    assert!(json.contains("\"format\": 2"));
    let future = json.replacen("\"format\": 2", "\"format\": 99", 1);
    assert!(MonitorSnapshot::from_json(&future).is_err());
    // Format 1 (before the drift tests) is refused with a message that
    // says why, not with the first field it lacks.
    let old = MonitorSnapshot::from_json(r#"{"format": 1, "model": "m"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        old.contains("format 1") && old.contains("older modelhost"),
        "{old}"
    );
    assert!(MonitorSnapshot::read(dir.path().join("missing.json")).is_err());
}

#[test]
fn an_empty_monitor_renders() {
    let d = ProbModel::deploy("empty", 1);
    let monitor = Monitor::builder(&d).build().unwrap();
    assert_well_formed(&monitor.report());
}
