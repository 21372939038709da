//! `InProcessServer`: serving, swapping, rollback, pinning, and the swap
//! guarantees under concurrent load.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;

use modelhost::server::{Outcome, RequestTotals, SwapOptions};
use modelhost::{
    Deployment, Error, Feature, FeatureMap, FeatureSchema, InProcessServer, ModelServer,
    PredictRequest, Predictions,
};
use support::{FAIL, MockModel, POISON, mock_schema};

fn x(v: f64) -> FeatureMap {
    FeatureMap::new().with("x", v)
}

fn served_version(r: &modelhost::PredictResponse) -> u64 {
    r.predictions.score_values().unwrap()[0] as u64
}

#[test]
fn responses_name_the_version_and_echo_the_id() {
    let server = InProcessServer::new(MockModel::new(3).deploy()).unwrap();
    let input = x(1.0);
    let r = server
        .predict(PredictRequest::new(&input).with_id("req-1"))
        .unwrap();
    assert_eq!(
        (r.version, r.id.as_deref(), &*r.model),
        (3, Some("req-1"), "mock")
    );
    assert_eq!(served_version(&r), 3);
    let meta = server.metadata().unwrap();
    assert_eq!((meta.version, meta.held_versions.clone()), (3, vec![3]));
    assert!(server.health().is_ready());
}

#[test]
fn bad_input_is_rejected_before_the_model() {
    let model = MockModel::new(1);
    let calls = model.calls.clone();
    let server = InProcessServer::new(model.deploy()).unwrap();
    let bad = FeatureMap::new().with("x", -1.0).with("y", 2.0);
    match server.predict(PredictRequest::new(&bad)) {
        Err(Error::Schema(e)) => assert_eq!(e.violations().len(), 2),
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn swap_checks_everything_before_the_store() {
    let server = InProcessServer::new(MockModel::new(5).deploy()).unwrap();
    // Stale versions, other model names, breaking schemas and failing warm-ups
    // are all refused, and version 5 keeps serving.
    assert!(matches!(
        server.swap(MockModel::new(4).deploy()),
        Err(Error::StaleVersion {
            current: 5,
            offered: 4
        })
    ));
    assert!(matches!(
        server.swap(MockModel::new(5).deploy()),
        Err(Error::StaleVersion { .. })
    ));
    assert!(matches!(
        server.swap(Deployment::new("other", 6, MockModel::new(6))),
        Err(Error::WrongModel { .. })
    ));
    let narrower = FeatureSchema::builder()
        .feature(Feature::float("x").min(0.0).max(10.0))
        .build()
        .unwrap();
    let err = server
        .swap(MockModel::with_schema(6, narrower.clone()).deploy())
        .unwrap_err();
    assert!(matches!(err, Error::IncompatibleSchema { .. }), "{err}");
    assert!(err.to_string().contains("range narrowed"), "{err}");
    let rows = mock_schema().validate_batch(&[x(1.0), x(2.0)]).unwrap();
    let wrong = MockModel::new(6)
        .deploy()
        .with_warmup(rows.clone(), Predictions::scores(vec![5.0, 5.0]));
    assert!(matches!(
        server.swap(wrong),
        Err(Error::WarmupFailed { .. })
    ));
    let panics = MockModel::new(6).deploy().with_warmup(
        mock_schema().validate_batch(&[x(POISON)]).unwrap(),
        Predictions::scores(vec![6.0]),
    );
    assert!(matches!(
        server.swap(panics),
        Err(Error::WarmupFailed { .. })
    ));
    assert_eq!(
        server
            .predict(PredictRequest::new(&x(1.0)))
            .unwrap()
            .version,
        5
    );
    assert_eq!(server.generation(), 0);

    // The same swaps succeed when they are right or explicitly allowed.
    let ok = MockModel::new(6)
        .deploy()
        .with_warmup(rows, Predictions::scores(vec![6.0, 6.0]));
    let report = server.swap(ok).unwrap();
    assert_eq!((report.from, report.to, report.generation), (5, 6, 1));
    assert!(report.diff.is_empty());
    let report = server
        .swap_with(
            MockModel::with_schema(7, narrower).deploy(),
            SwapOptions::new().allow_breaking_schema(),
        )
        .unwrap();
    assert_eq!(report.diff.changed.len(), 1);
    let report = server
        .swap_with(
            MockModel::new(2).deploy(),
            SwapOptions::new().allow_older().allow_breaking_schema(),
        )
        .unwrap();
    assert_eq!((report.from, report.to), (7, 2));
}

#[test]
fn schema_diff_lists_added_removed_and_changed_features() {
    let old = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::integer("b").max(10.0))
        .feature(Feature::categorical("c", ["p", "q"]))
        .build()
        .unwrap();
    let new = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::float("b").max(20.0))
        .feature(Feature::boolean("d").optional(false))
        .build()
        .unwrap();
    let diff = modelhost::server::SchemaDiff::between(&old, &new);
    assert_eq!(diff.added, ["d"]);
    assert_eq!(diff.removed, ["c"]);
    assert_eq!(
        diff.changed
            .iter()
            .map(|c| c.feature.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    // Widening b (integer -> float, larger max) and adding an optional d do
    // not break input; removing c does, since extra features are rejected.
    assert_eq!(diff.breaking, ["`c` was removed"]);
}

#[test]
fn rollback_toggles_and_pins_hold_their_version() {
    let server = InProcessServer::new(MockModel::new(1).deploy()).unwrap();
    assert!(matches!(server.rollback(), Err(Error::NoPreviousVersion)));
    server.swap(MockModel::new(2).deploy()).unwrap();
    let pinned = server.pin();
    let report = server.rollback().unwrap();
    assert_eq!((report.from, report.to), (2, 1));
    let input = x(1.0);
    assert_eq!(
        server.predict(PredictRequest::new(&input)).unwrap().version,
        1
    );
    assert_eq!(
        pinned.predict(PredictRequest::new(&input)).unwrap().version,
        2
    );
    // Held versions can be asked for explicitly; others cannot.
    assert_eq!(
        server
            .predict(PredictRequest::new(&input).with_version(2))
            .unwrap()
            .version,
        2
    );
    assert!(matches!(
        server.predict(PredictRequest::new(&input).with_version(9)),
        Err(Error::VersionNotHeld { version: 9, .. })
    ));
    assert_eq!(server.rollback().unwrap().to, 2);
}

#[test]
fn a_panicking_model_fails_only_its_own_request() {
    let server = InProcessServer::new(MockModel::new(1).deploy()).unwrap();
    let err = server.predict(PredictRequest::new(&x(POISON))).unwrap_err();
    assert!(
        matches!(err, Error::ModelPanicked { version: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("poisoned row"));
    assert!(matches!(
        server.predict(PredictRequest::new(&x(FAIL))),
        Err(Error::Model { .. })
    ));
    for i in 0..100 {
        assert!(
            server
                .predict(PredictRequest::new(&x(f64::from(i) + 0.5)))
                .is_ok()
        );
    }
}

#[test]
fn predict_many_shares_one_model_call_and_isolates_bad_input() {
    let model = MockModel::new(4);
    let sizes = model.batch_sizes.clone();
    let server = InProcessServer::new(model.deploy()).unwrap();
    let rows = [x(1.0), x(2.0)];
    let requests = vec![
        PredictRequest::owned(x(1.0)).with_id("a"),
        PredictRequest::owned(x(-5.0)).with_id("bad"),
        PredictRequest::rows(&rows[..]).with_id("two"),
        PredictRequest::owned(x(3.0)).with_version(99),
    ];
    let out = server.predict_many(requests);
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap().len(), 1);
    assert!(matches!(out[1], Err(Error::Schema(_))));
    assert_eq!(out[2].as_ref().unwrap().len(), 2);
    assert_eq!(out[2].as_ref().unwrap().id.as_deref(), Some("two"));
    assert!(matches!(out[3], Err(Error::VersionNotHeld { .. })));
    assert_eq!(
        *sizes.lock().unwrap(),
        vec![3],
        "one model call for the three valid rows"
    );
}

#[test]
fn typed_and_prevalidated_input_are_served() {
    #[derive(serde::Serialize, Clone)]
    struct In {
        x: f64,
    }
    let server = InProcessServer::new(MockModel::new(1).deploy()).unwrap();
    let typed = In { x: 4.0 };
    assert!(server.predict(PredictRequest::typed(&typed)).is_ok());
    assert!(
        server
            .predict(PredictRequest::typed(&In { x: -4.0 }))
            .is_err()
    );
    let row = mock_schema().validate(&x(2.0)).unwrap();
    assert!(server.predict(PredictRequest::vector(&row)).is_ok());
    let other = FeatureSchema::builder()
        .feature(Feature::float("x"))
        .build()
        .unwrap();
    let foreign = other.validate(&x(2.0)).unwrap();
    assert!(matches!(
        server.predict(PredictRequest::vector(&foreign)),
        Err(Error::SchemaMismatch { .. })
    ));
}

/// 8 readers, one swapper doing 1,000 swaps (every 100th a rollback): no
/// request fails, every response was computed by the version it names,
/// versions only go backwards at a rollback, and every retired version is
/// freed once traffic stops.
#[test]
fn stress_swaps_under_concurrent_reads() {
    const SWAPS: u64 = 1_000;
    type Registry = Arc<Mutex<Vec<(u64, Weak<MockModel>)>>>;
    let weak: Registry = Arc::default();
    let deploy = |v: u64| {
        let model = Arc::new(MockModel::new(v));
        weak.lock().unwrap().push((v, Arc::downgrade(&model)));
        Deployment::from_arc("mock", v, model)
    };
    let server = Arc::new(InProcessServer::builder(deploy(1)).build().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let rolled_back_to: Arc<Mutex<HashSet<u64>>> = Arc::default();
    // The newest version any reader has been served by: the swapper waits
    // for it after each forward swap, so every version serves traffic while
    // the readers run (no hoping for an interleaving).
    let newest_served = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..8)
        .map(|t| {
            let (server, stop, rolled, newest) = (
                server.clone(),
                stop.clone(),
                rolled_back_to.clone(),
                newest_served.clone(),
            );
            thread::spawn(move || {
                let input = x(f64::from(t));
                let mut last = 0;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 100 {
                    let r = server
                        .predict(PredictRequest::new(&input))
                        .expect("no request fails during swaps");
                    assert_eq!(
                        served_version(&r),
                        r.version,
                        "response computed by another version than it names"
                    );
                    if r.version < last {
                        assert!(
                            rolled.lock().unwrap().contains(&r.version),
                            "went back from {last} to {} without a rollback",
                            r.version
                        );
                    }
                    last = r.version;
                    newest.fetch_max(r.version, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();

    let mut version = 1;
    for i in 1..=SWAPS {
        if i % 100 == 0 {
            let report = {
                let mut rolled = rolled_back_to.lock().unwrap();
                let previous = version - 1;
                rolled.insert(previous);
                server.rollback().unwrap()
            };
            assert_eq!(report.to, version - 1);
            version += 1; // the next forward swap skips past the rolled-back-from version
        } else {
            version += 1;
        }
        server
            .swap_with(deploy(version), SwapOptions::new())
            .unwrap();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while newest_served.load(Ordering::Relaxed) < version {
            assert!(
                std::time::Instant::now() < give_up,
                "no reader was served by version {version}"
            );
            thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }

    // Only the current and the retained previous version are alive.
    let current = server.metadata().unwrap();
    let alive: Vec<u64> = weak
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, w)| w.upgrade().is_some())
        .map(|(v, _)| *v)
        .collect();
    assert_eq!(alive.len(), 2, "alive: {alive:?}");
    assert!(alive.iter().all(|v| current.held_versions.contains(v)));
}

#[test]
fn without_retention_only_the_serving_version_stays_alive() {
    let first = Arc::new(MockModel::new(1));
    let w = Arc::downgrade(&first);
    let server = InProcessServer::builder(Deployment::from_arc("mock", 1, first))
        .retain_previous(false)
        .build()
        .unwrap();
    let pinned = server.pin();
    server.swap(MockModel::new(2).deploy()).unwrap();
    assert!(w.upgrade().is_some(), "the pin keeps version 1 alive");
    drop(pinned);
    assert!(
        w.upgrade().is_none(),
        "version 1 is freed when its last user ends"
    );
    assert!(matches!(server.rollback(), Err(Error::NoPreviousVersion)));
}

/// One observed request: id, version, rows, success.
type Seen = (Option<String>, u64, Option<Vec<f64>>, bool);

/// Records what the server reports.
#[derive(Debug, Default)]
struct Recorder {
    events: Mutex<Vec<Seen>>,
    swaps: Mutex<Vec<(u64, u64, bool)>>,
    failed_swaps: std::sync::atomic::AtomicUsize,
    timed: Mutex<Vec<bool>>,
    totals: Mutex<Vec<RequestTotals>>,
}

impl Recorder {
    /// `(version, served, failed, rows)` as the server's totals say now.
    fn totals(&self) -> Vec<(u64, u64, u64, u64)> {
        let handles = self.totals.lock().unwrap();
        assert_eq!(handles.len(), 1, "one server");
        handles[0]
            .read()
            .iter()
            .map(|t| {
                let ok = t.requests(Outcome::Ok);
                (t.version, ok, t.total() - ok, t.rows)
            })
            .collect()
    }
}

/// A server of mock version 1 reporting to a fresh [`Recorder`].
fn recorded_server() -> (Arc<Recorder>, InProcessServer) {
    let recorder = Arc::new(Recorder::default());
    let server = InProcessServer::builder(MockModel::new(1).deploy())
        .observer(recorder.clone())
        .build()
        .unwrap();
    (recorder, server)
}

impl modelhost::server::PredictObserver for Recorder {
    /// Every other request is sampled.
    fn sample_every(&self) -> u32 {
        2
    }
    fn attached(&self, totals: RequestTotals) {
        self.totals.lock().unwrap().push(totals);
    }
    fn on_predict(&self, e: &modelhost::server::PredictEvent<'_>) {
        self.timed.lock().unwrap().push(e.latency.is_some());
        self.events.lock().unwrap().push((
            e.request_id.map(str::to_owned),
            e.version,
            e.rows.map(|r| r.iter().copied().collect()),
            e.outcome.is_ok(),
        ));
    }
    fn on_swap(&self, e: &modelhost::server::SwapEvent<'_>) {
        self.swaps.lock().unwrap().push((e.from, e.to, e.rollback));
    }
    fn on_failed_load(&self, _: &str, _: Option<u64>, _: &Error) {
        self.failed_swaps.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_observer_sees_every_request_and_swap() {
    let (recorder, server) = recorded_server();
    server
        .predict(PredictRequest::new(&x(2.0)).with_id("one"))
        .unwrap();
    server
        .predict(PredictRequest::new(&x(-2.0)).with_id("bad"))
        .unwrap_err();
    let rows = [x(3.0), x(4.0)];
    let out = server.predict_many(vec![
        PredictRequest::rows(&rows[..]).with_id("pair"),
        PredictRequest::owned(x(-1.0)).with_id("bad-in-batch"),
        PredictRequest::owned(x(5.0)).with_id("five"),
    ]);
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 2);
    // A version the server does not hold: refused, and reported.
    server
        .predict(PredictRequest::new(&x(2.0)).with_id("v9").with_version(9))
        .unwrap_err();
    server.swap(MockModel::new(2).deploy()).unwrap();
    server.swap(MockModel::new(1).deploy()).unwrap_err();
    server.rollback().unwrap();

    let events = recorder.events.lock().unwrap();
    type Summary<'a> = (Option<&'a str>, Option<Vec<f64>>, bool);
    let summary: Vec<Summary<'_>> = events
        .iter()
        .map(|(id, _, rows, ok)| (id.as_deref(), rows.clone(), *ok))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("one"), Some(vec![2.0]), true),
            (Some("bad"), None, false),
            (Some("pair"), Some(vec![3.0, 4.0]), true),
            (Some("bad-in-batch"), None, false),
            (Some("five"), Some(vec![5.0]), true),
            (Some("v9"), None, false),
        ]
    );
    assert_eq!(events[5].1, 1, "counted against the serving version");
    // One in two, a predict_many group counting as one: timed, not, the
    // group of three timed, not.
    assert_eq!(
        *recorder.timed.lock().unwrap(),
        vec![true, false, true, true, true, false]
    );
    assert_eq!(
        *recorder.swaps.lock().unwrap(),
        vec![(1, 2, false), (2, 1, true)]
    );
    assert_eq!(recorder.failed_swaps.load(Ordering::SeqCst), 1);
    // The server counted every one of them: three served (four rows) and
    // three refused, all against version 1.
    assert_eq!(recorder.totals(), [(1, 3, 3, 4)]);
    let handle = &recorder.totals.lock().unwrap()[0];
    let v1 = &handle.read()[0];
    assert_eq!(v1.requests(Outcome::InvalidInput), 2);
    assert_eq!(v1.requests(Outcome::VersionNotHeld), 1);
}

#[test]
fn more_threads_than_table_slots_count_every_request() {
    // 80 threads at once: more than the servers' per-thread table holds,
    // so some count in the overflow; then 80 more reuse the ended threads'
    // slots.
    let (recorder, server) = recorded_server();
    for _ in 0..2 {
        let barrier = std::sync::Barrier::new(80);
        thread::scope(|s| {
            for _ in 0..80 {
                s.spawn(|| {
                    // Every thread is alive before any serves.
                    barrier.wait();
                    for _ in 0..10 {
                        server.predict(PredictRequest::new(&x(1.0))).unwrap();
                    }
                });
            }
        });
    }
    let reported = recorder.events.lock().unwrap().len() as u64;
    assert_eq!(reported, 160 * 5, "one in two sampled on each thread");
    assert_eq!(recorder.totals(), [(1, 1_600, 0, 1_600)]);
}

#[test]
fn every_request_is_counted_per_version_and_only_a_sample_reported() {
    let (recorder, server) = recorded_server();
    let rows = [x(1.0), x(2.0), x(3.0)];
    // Sampling one in two on this thread: requests 1, 3, 5 … are reported
    // with their latency; 2, 4, 6 … are only counted.
    for _ in 0..3 {
        server.predict(PredictRequest::new(&x(1.0))).unwrap();
        server.predict(PredictRequest::rows(&rows[..])).unwrap();
    }
    // Not sampled, but failed: reported, without a latency.
    server.predict(PredictRequest::new(&x(1.0))).unwrap();
    server.predict(PredictRequest::new(&x(-1.0))).unwrap_err();
    assert_eq!(
        *recorder.timed.lock().unwrap(),
        [true; 4].into_iter().chain([false]).collect::<Vec<_>>()
    );
    assert_eq!(recorder.totals(), [(1, 7, 1, 13)]);
    assert_eq!(recorder.totals(), [(1, 7, 1, 13)], "reading takes nothing");

    // Another thread counts in a tally of its own.
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..4 {
                server.predict(PredictRequest::new(&x(1.0))).unwrap();
            }
        });
    });
    assert_eq!(recorder.totals(), [(1, 11, 1, 17)]);

    // After a swap the counts go to the new version; version 1 keeps its own.
    server.swap(MockModel::new(2).deploy()).unwrap();
    for _ in 0..4 {
        server.predict(PredictRequest::new(&x(1.0))).unwrap();
    }
    assert_eq!(recorder.totals(), [(1, 11, 1, 17), (2, 4, 0, 4)]);

    // Requests for the held version are counted for it, and do not move
    // this thread's tally away from the serving version.
    for _ in 0..3 {
        server
            .predict(PredictRequest::new(&x(1.0)).with_version(1))
            .unwrap();
        server.predict(PredictRequest::new(&x(1.0))).unwrap();
    }
    assert_eq!(recorder.totals(), [(1, 14, 1, 20), (2, 7, 0, 7)]);

    // Back and forth between two versions: what the thread counted for the
    // version it left is kept, per version.
    let four = || {
        for _ in 0..4 {
            server.predict(PredictRequest::new(&x(1.0))).unwrap();
        }
    };
    for _ in 0..3 {
        server.rollback().unwrap();
        four(); // 1, 2, 1
    }
    assert_eq!(recorder.totals(), [(1, 22, 1, 28), (2, 11, 0, 11)]);

    // Pinned requests are observed and counted like the others.
    let before = recorder.events.lock().unwrap().len();
    let pinned = server.pin();
    for _ in 0..4 {
        pinned.predict(PredictRequest::new(&x(1.0))).unwrap();
    }
    pinned.predict(PredictRequest::new(&x(-1.0))).unwrap_err();
    assert!(recorder.events.lock().unwrap().len() - before >= 3);
    assert_eq!(recorder.totals(), [(1, 26, 2, 32), (2, 11, 0, 11)]);
}
