//! `Serving`: one call from a registry reference to a running, monitored,
//! batched server that follows its alias, and a handle that owns it all.

#[path = "../examples/common/mod.rs"]
mod common;

use std::thread;
use std::time::{Duration, Instant};

use modelhost::batching::BatchConfig;
use modelhost::{Error, ModelServer, PredictRequest, Registry, Serving};

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

fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    for depth in [2, 4] {
        registry
            .register(common::tree_artifact("shop", 400, depth as u64, depth).unwrap())
            .unwrap();
    }
    registry.set_alias("shop", "production", 1).unwrap();
    (dir, registry)
}

#[test]
fn one_call_serves_monitors_batches_and_follows_the_alias() {
    let (_dir, registry) = registry();
    let served = Serving::from_registry(&registry, "shop@production")
        .unwrap()
        .monitor(|m| m.window_rows(50))
        .batching(BatchConfig::builder().build().unwrap())
        .watch_every(Duration::from_millis(20))
        .start()
        .unwrap();
    assert!(served.batcher().is_some());
    let (rows, labels) = common::webshop_data(20, 9, 0.0);
    let r = served
        .predict(PredictRequest::new(&rows[0]).with_id("visit-0"))
        .unwrap();
    assert_eq!((r.version, r.id.as_deref()), (1, Some("visit-0")));

    // Feedback reaches the monitor the handle owns.
    let monitor = served.monitor().expect("a monitor was configured");
    assert!(
        monitor
            .record_outcome("visit-0", common::LABELS[labels[0]])
            .unwrap()
    );
    let quality = monitor.quality();
    assert_eq!(
        quality
            .iter()
            .map(|q| (q.version, q.total))
            .collect::<Vec<_>>(),
        vec![(1, 1)]
    );

    // Promoting another version swaps it in, through the same handle.
    registry.set_alias("shop", "production", 2).unwrap();
    eventually("version 2 to serve", || {
        served.metadata().map(|m| m.version).unwrap_or(0) == 2
    });
    let r = served.predict(PredictRequest::new(&rows[1])).unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(served.server().current().version(), 2);

    // Shutting down stops the batcher: later requests are refused.
    let batcher = served.batcher().unwrap().clone();
    served.shutdown(Duration::from_secs(1));
    assert!(matches!(
        batcher.predict(PredictRequest::new(&rows[2])),
        Err(Error::ShuttingDown)
    ));
}

#[test]
fn a_pinned_or_versioned_reference_is_served_as_it_is() {
    let (_dir, registry) = registry();
    let served = Serving::from_registry(&registry, "shop/1")
        .unwrap()
        .start()
        .unwrap();
    assert!(served.monitor().is_none() && served.batcher().is_none());
    registry.set_alias("shop", "production", 2).unwrap();
    let (rows, _) = common::webshop_data(1, 9, 0.0);
    assert_eq!(
        served
            .predict(PredictRequest::new(&rows[0]))
            .unwrap()
            .version,
        1
    );

    let pinned = Serving::from_registry(&registry, "shop@production")
        .unwrap()
        .pinned()
        .start()
        .unwrap();
    registry.set_alias("shop", "production", 1).unwrap();
    // Nothing follows the alias: the loaded version stays.
    assert_eq!(pinned.metadata().unwrap().version, 2);

    assert!(
        Serving::from_registry(&registry, "shop@nowhere")
            .unwrap()
            .start()
            .is_err()
    );
    assert!(Serving::from_registry(&registry, "not a reference!").is_err());
}
