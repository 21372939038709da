//! The monitor's drift windows and report v2: the partial window before
//! the first one completes, warnings for windows too small for their
//! tests, and the report's time axis, swap and rollback markers, one
//! quality series per version and a distribution chart per feature.
//!
//! With `MODELHOST_REPORT_OUT=FILE` the report test also writes its page
//! there (`.ci/report.sh` renders it in a headless browser).

use std::sync::Arc;

use modelhost::deployment::ReferenceStats;
use modelhost::model::ModelError;
use modelhost::monitor::{Monitor, StatTest};
use modelhost::schema::Feature;
use modelhost::{
    Deployment, FeatureMap, FeatureSchema, InProcessServer, Model, ModelServer, OutputKind,
    PredictRequest, Predictions,
};
use ndarray::{Array2, ArrayView2};

fn schema() -> FeatureSchema {
    FeatureSchema::builder()
        .feature(Feature::float("x"))
        .feature(Feature::categorical(
            "device",
            ["mobile", "desktop", "tablet"],
        ))
        .build()
        .unwrap()
}

/// P(yes) = x / 1000.
#[derive(Debug)]
struct Prob {
    schema: FeatureSchema,
    output: OutputKind,
}

impl Model for Prob {
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
            |(i, j)| {
                if j == 1 { p[i] } else { 1.0 - p[i] }
            },
        );
        Predictions::classes(classes, 2)?.with_probabilities(probs)
    }
}

fn deploy(version: u64) -> Deployment {
    Deployment::new(
        "shop",
        version,
        Prob {
            schema: schema(),
            output: OutputKind::classification(["no", "yes"]),
        },
    )
}

const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];

fn row(i: u32, shift: f64) -> FeatureMap {
    FeatureMap::new()
        .with("x", f64::from(i % 500) + shift)
        .with("device", DEVICES[(i % 7 % 3) as usize])
}

/// x uniform on [0, 500), devices as `row` makes them; `n` rows.
fn reference(n: u32) -> ReferenceStats {
    let rows: Vec<FeatureMap> = (0..n)
        .map(|i| {
            FeatureMap::new()
                .with("x", f64::from(i) * 500.0 / f64::from(n))
                .with("device", DEVICES[(i % 7 % 3) as usize])
        })
        .collect();
    ReferenceStats::from_batch(&schema().validate_batch(&rows).unwrap(), None, 5_000)
}

fn server(monitor: &Arc<Monitor>) -> InProcessServer {
    InProcessServer::builder(deploy(1))
        .observer(monitor.clone())
        .build()
        .unwrap()
}

#[test]
fn drift_reports_the_partial_window_before_the_first_completes() {
    let monitor = Monitor::builder(&deploy(1))
        .sample_every(1)
        .reference(reference(600))
        .window_rows(1_000)
        .build()
        .unwrap();
    let server = server(&monitor);
    assert!(monitor.drift().is_none(), "nothing sketched yet");
    for i in 0..300 {
        server.predict(PredictRequest::new(&row(i, 0.0))).unwrap();
    }
    let partial = monitor.drift().expect("the partial window is reported");
    assert!(!partial.complete);
    assert_eq!((partial.rows, partial.window_rows), (300, 1_000));
    assert!(
        partial.warnings[0].contains("300 of 1000 rows"),
        "{:?}",
        partial.warnings
    );
    // 600 reference rows: Evidently's small-reference tests.
    assert_eq!(partial.feature("x").unwrap().test, StatTest::Ks);
    assert_eq!(partial.feature("device").unwrap().test, StatTest::ChiSquare);
    // Scoring the partial window records no history point.
    assert!(monitor.snapshot().windows.is_empty());
    for i in 300..1_000 {
        server.predict(PredictRequest::new(&row(i, 0.0))).unwrap();
    }
    let full = monitor.drift().unwrap();
    assert!(full.complete);
    assert_eq!(full.rows, 1_000);
    assert!(!full.dataset_drift, "{full:?}");
}

#[test]
fn a_window_too_small_for_its_test_is_warned_about_with_the_minimum() {
    // A large reference picks Wasserstein and Jensen-Shannon, which need
    // about 1,000 rows; a 200-row window gets a warning naming that.
    let monitor = Monitor::builder(&deploy(1))
        .sample_every(1)
        .reference(reference(5_000))
        .window_rows(200)
        .build()
        .unwrap();
    let server = server(&monitor);
    for i in 0..200 {
        server.predict(PredictRequest::new(&row(i, 0.0))).unwrap();
    }
    let r = monitor.drift().unwrap();
    assert!(r.complete);
    assert_eq!(r.feature("x").unwrap().test, StatTest::Wasserstein);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("wasserstein needs at least 1000")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn the_report_has_a_time_axis_markers_per_version_series_and_distributions() {
    let monitor = Monitor::builder(&deploy(1))
        .sample_every(1)
        .reference(reference(600))
        .window_rows(200)
        .evaluate_every(20)
        .build()
        .unwrap();
    let server = server(&monitor);
    let mut id = 0u32;
    let mut serve = |n: u32, shift: f64| {
        for _ in 0..n {
            id += 1;
            server
                .predict(PredictRequest::new(&row(id, shift)).with_id(id.to_string()))
                .unwrap();
            let yes = id.is_multiple_of(3);
            monitor
                .record_outcome(&id.to_string(), if yes { "yes" } else { "no" })
                .unwrap();
        }
    };
    serve(400, 0.0);
    server.swap(deploy(2)).unwrap();
    serve(400, 150.0);
    server.rollback().unwrap();
    serve(200, 0.0);
    let html = monitor.report();

    assert!(html.contains(r#"class="swap-marker""#), "no swap marker");
    assert!(
        html.contains(r#"class="rollback-marker""#),
        "no rollback marker"
    );
    assert!(html.contains("v1→v2") && html.contains("rollback v2→v1"));
    for v in [1, 2] {
        assert!(
            html.contains(&format!(r#"data-series="accuracy v{v}""#)),
            "no accuracy series of version {v}"
        );
    }
    for f in ["x", "device"] {
        assert!(
            html.contains(&format!(r#"<figure class="dist" data-feature="{f}""#)),
            "no distribution chart of {f}"
        );
    }
    assert!(html.contains("time (UTC)"));
    assert!(!html.contains("max-width:960px"), "full width");
    // No mean for a categorical column.
    let snapshot = monitor.snapshot();
    let drift = snapshot.drift.as_ref().unwrap();
    assert!(drift.feature("device").unwrap().reference_mean.is_none());
    assert_eq!(snapshot.swaps.len(), 2);
    assert!(snapshot.swaps[1].rollback);
    if let Some(out) = std::env::var_os("MODELHOST_REPORT_OUT") {
        std::fs::write(out, &html).unwrap();
    }
}
