//! Following a registry alias: the watcher swaps in promoted versions, and
//! failed loads never disturb the serving version or its traffic.

#[path = "../examples/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::artifact::Artifact;
use modelhost::registry::Registry;
use modelhost::reload::{AliasWatcher, WatchEvent, WatchOptions};
use modelhost::{Error, Feature, FeatureSchema, ModelServer, PredictRequest};
use ndarray::Array1;

fn artifact(depth: usize) -> Artifact {
    common::tree_artifact("shop", 400, depth as u64, depth).unwrap()
}

/// Polls `cond` every 5 ms for at most 10 s.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn watcher_follows_the_alias_and_survives_failed_loads() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    for depth in [2, 3, 4] {
        registry.register(artifact(depth)).unwrap();
    }
    // Version 4 breaks the schema (a new required feature); version 5 fails
    // its warm-up (its recorded predictions are altered); version 6 is
    // corrupted on disk after registration.
    let wider = FeatureSchema::builder()
        .feature(Feature::integer("recency_days").min(0.0).max(3650.0))
        .feature(Feature::integer("frequency").min(0.0))
        .feature(Feature::float("basket_value").min(0.0).max(100_000.0))
        .feature(Feature::float("product_price").min(0.0))
        .feature(Feature::categorical("device", common::DEVICES))
        .feature(Feature::boolean("is_returning").optional(false))
        .feature(Feature::float("coupon_value"))
        .build()
        .unwrap();
    let rows: Vec<_> = common::webshop_data(400, 4, 0.0)
        .0
        .into_iter()
        .map(|m| m.with("coupon_value", 1.0))
        .collect();
    let batch = wider.validate_batch(&rows).unwrap();
    let tree = DecisionTree::params()
        .max_depth(Some(3))
        .fit(&Dataset::new(
            batch.rows().to_owned(),
            Array1::from(common::webshop_data(400, 4, 0.0).1),
        ))
        .unwrap();
    registry
        .register(Artifact::decision_tree("shop", &tree, &wider, common::LABELS, &batch).unwrap())
        .unwrap();
    let mut bad_warmup = artifact(3);
    for e in &mut bad_warmup.header_mut().warmup.expected {
        *e = 1.0 - *e;
    }
    registry.register(bad_warmup).unwrap();
    registry.register(artifact(4)).unwrap();
    let path6 = registry.artifact_path("shop", 6).unwrap();
    let mut bytes = std::fs::read(&path6).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0xFF;
    std::fs::write(&path6, bytes).unwrap();

    registry.set_alias("shop", "production", 1).unwrap();
    let events: Arc<Mutex<Vec<WatchEvent>>> = Arc::default();
    let sink = events.clone();
    let (server, watcher) = AliasWatcher::serve(
        registry.clone(),
        "shop@production".parse().unwrap(),
        WatchOptions::new()
            .interval(Duration::from_millis(10))
            .on_event(move |e| sink.lock().unwrap().push(e.clone())),
    )
    .unwrap();
    assert_eq!(server.metadata().unwrap().version, 1);

    // Traffic runs throughout; not one request may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (server, stop, failures, served) = (
                server.clone(),
                stop.clone(),
                failures.clone(),
                served.clone(),
            );
            thread::spawn(move || {
                let (rows, _) = common::webshop_data(50, 100 + i, 0.0);
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    match server.predict(PredictRequest::new(&rows[k % rows.len()])) {
                        Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                    };
                    k += 1;
                }
            })
        })
        .collect();

    let version = || server.metadata().unwrap().version;
    let failed_for = |v: u64| {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, WatchEvent::Failed { version: Some(x), .. } if *x == v))
    };

    registry.set_alias("shop", "production", 2).unwrap();
    eventually("version 2", || version() == 2);

    for broken in [4, 5, 6] {
        registry.set_alias("shop", "production", broken).unwrap();
        eventually("the failure report", || failed_for(broken));
        assert_eq!(
            version(),
            2,
            "a failed load of {broken} left version 2 serving"
        );
    }
    let reasons: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Failed { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("breaks currently valid input")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("warm-up failed")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("checksum")),
        "{reasons:?}"
    );

    // Moving the alias back to an older version is followed too.
    registry.set_alias("shop", "production", 3).unwrap();
    eventually("version 3", || version() == 3);
    registry.set_alias("shop", "production", 1).unwrap();
    eventually("version 1", || version() == 1);

    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(served.load(Ordering::Relaxed) > 100);

    // Shutdown stops the thread: later alias moves are not followed.
    watcher.shutdown();
    registry.set_alias("shop", "production", 2).unwrap();
    thread::sleep(Duration::from_millis(60));
    assert_eq!(version(), 1);
}

#[test]
fn watcher_refuses_another_models_alias() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    registry.register(artifact(2)).unwrap();
    let (server, _w) = AliasWatcher::serve(
        registry.clone(),
        "shop".parse().unwrap(),
        WatchOptions::new(),
    )
    .unwrap();
    let err = AliasWatcher::spawn(
        server,
        registry,
        "other@production".parse().unwrap(),
        WatchOptions::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongModel { .. }));
}
