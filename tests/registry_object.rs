//! The registry on real object stores, S3 (SeaweedFS) and Azure Blob
//! storage (Azurite), started on 127.0.0.1 by the tests: the checks every
//! store passes, four writer processes at once, writers killed mid-write,
//! and alias watchers riding out a restart of the storage server.
//!
//! Needs `.ci/object-stores.sh` sourced (see `support/object_servers.rs`);
//! skips without it unless `MODELHOST_REQUIRE_OBJECT_STORES=1`.
#![cfg(unix)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/ports.rs"]
mod ports;
#[path = "support/object_servers.rs"]
mod servers;
#[path = "support/registry_suite.rs"]
mod suite;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelhost::registry::Registry;
use modelhost::reload::{AliasWatcher, WatchEvent, WatchOptions};
use rand::{Rng, SeedableRng};
use servers::{Kind, Server};

fn each_store(check: impl Fn(&mut Server)) {
    // (`&mut` for the restart test; the others reborrow it shared.)
    let Some(python) = servers::python() else {
        return;
    };
    for kind in [Kind::S3, Kind::Azure] {
        let mut server = Server::start(&python, kind);
        eprintln!("-- {kind:?} on port {}", server.port);
        check(&mut server);
    }
}

#[test]
fn the_registry_suite_passes_on_s3_and_azure() {
    each_store(|server| {
        suite::all(&|name| server.open(&format!("suite/{name}")));
    });
}

/// Runs the `modelhost` binary against `server`'s registry at `prefix`,
/// configured from the environment as a deployment would be.
fn cli(server: &Server, prefix: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modelhost"));
    c.arg("--registry").arg(server.url(prefix));
    for (k, v) in server.env() {
        c.env(k, v);
    }
    c
}

/// Four writer processes register five versions each at the same time:
/// twenty distinct numbers, each holding the registration that got it.
#[test]
fn four_writer_processes_register_concurrently() {
    each_store(|server| {
        let server = &*server;
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<Vec<std::path::PathBuf>> = (0..4)
            .map(|w| {
                (0..5)
                    .map(|i| {
                        let f = dir.path().join(format!("{w}-{i}.mhart"));
                        suite::artifact("shop", 2 + (w + i) % 3, 0.5)
                            .with_tag("registration", format!("{w}-{i}"))
                            .write(&f)
                            .unwrap();
                        f
                    })
                    .collect()
            })
            .collect();
        let claimed: Mutex<Vec<(u64, String)>> = Mutex::default();
        std::thread::scope(|s| {
            for (w, mine) in files.iter().enumerate() {
                let claimed = &claimed;
                s.spawn(move || {
                    for (i, f) in mine.iter().enumerate() {
                        let out = cli(server, "writers")
                            .args(["registry", "register"])
                            .arg(f)
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "writer {w}: {out:?}");
                        let text = String::from_utf8_lossy(&out.stdout);
                        let v: u64 = text
                            .trim()
                            .rsplit(' ')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_else(|| panic!("writer {w} printed {text:?}"));
                        claimed.lock().unwrap().push((v, format!("{w}-{i}")));
                    }
                });
            }
        });
        let claimed = claimed.into_inner().unwrap();
        let reg = server.open("writers");
        let versions = reg.versions("shop", false).unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
        let holds: BTreeMap<u64, &str> = versions
            .iter()
            .map(|v| (v.version, v.tags["registration"].as_str()))
            .collect();
        let numbers: BTreeSet<u64> = claimed.iter().map(|(v, _)| *v).collect();
        assert_eq!(numbers.len(), 20, "a number was given twice: {claimed:?}");
        for (v, id) in &claimed {
            assert_eq!(holds[v], id, "version {v}");
        }
    });
}

/// Writers killed at random points of `register`, `alias`, `promote` and
/// `gc`: after every kill each visible version loads with a valid
/// checksum and every alias resolves to one; no number is reused; and a
/// collection past the pending grace leaves only listed files.
#[test]
fn killed_writers_never_leave_a_half_version() {
    each_store(|server| {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let dir = tempfile::tempdir().unwrap();
        // A larger artifact, so that kills land inside its upload too.
        let base = common::tree_artifact("shop", 20_000, 5, 12).unwrap();
        let first = dir.path().join("first.mhart");
        base.clone()
            .with_tag("registration", "first")
            .write(&first)
            .unwrap();
        let started = Instant::now();
        let out = cli(server, "killed")
            .args(["registry", "register"])
            .arg(&first)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let window = started.elapsed().as_micros() as u64 * 3 / 2;
        let mut numbers: BTreeMap<u64, String> = BTreeMap::new();
        let (mut kills, iterations) = (0, 16);
        for i in 0..iterations {
            let file = dir.path().join(format!("{i}.mhart"));
            base.clone()
                .with_metric("auc", rng.gen_range(0.5..0.9))
                .with_tag("registration", i.to_string())
                .write(&file)
                .unwrap();
            let reg = server.open("killed");
            let visible: Vec<u64> = reg
                .versions("shop", false)
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect();
            let target = visible[rng.gen_range(0..visible.len())].to_string();
            let file = file.to_str().unwrap().to_owned();
            let args: Vec<&str> = match rng.gen_range(0..10) {
                0..=5 => vec!["register", &file],
                6 | 7 => vec!["alias", "shop", "production", &target],
                8 => vec!["promote", "shop", "--metric", "auc", "--alias", "staging"],
                _ => vec!["gc", "shop", "--keep", "3", "--delete"],
            };
            let mut child = cli(server, "killed")
                .arg("registry")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..window.max(1000))));
            if child.try_wait().unwrap().is_none() {
                kills += 1;
            }
            child.kill().unwrap();
            child.wait().unwrap();

            let context = format!("after {args:?} (iteration {i})");
            suite::check_visible(&reg, &mut numbers, &context);
        }
        let reg = server.open("killed").with_pending_grace(Duration::ZERO);
        reg.retain("shop", usize::MAX, modelhost::registry::Retire::Archive)
            .unwrap();
        let listed = reg.versions("shop", true).unwrap().len();
        let files = reg.store().list("shop/versions").unwrap();
        assert_eq!(
            files.len(),
            2 * listed,
            "only listed versions keep files: {files:?}"
        );
        eprintln!(
            "{iterations} writers, {kills} killed mid-run, {} numbers used",
            numbers.len()
        );
        assert!(kills > 0, "no writer was killed mid-run");
    });
}

/// Watchers poll an alias while the storage server stops and starts
/// again: they report the failures, keep serving, and follow the alias
/// once the server is back.
#[test]
fn watchers_ride_out_a_storage_restart() {
    each_store(|server| {
        let reg = server.open("restart");
        let v1 = reg.register(suite::artifact("shop", 2, 0.5)).unwrap();
        let v2 = reg.register(suite::artifact("shop", 3, 0.6)).unwrap();
        reg.set_alias("shop", "production", v1).unwrap();
        let failures = Arc::new(AtomicUsize::new(0));
        let recovered = Arc::new(AtomicUsize::new(0));
        let swapped = Arc::new(Mutex::new(Vec::new()));
        let options = {
            let (failures, recovered, swapped) =
                (failures.clone(), recovered.clone(), swapped.clone());
            WatchOptions::new()
                .interval(Duration::from_millis(200))
                .on_event(move |e| match e {
                    WatchEvent::Failed { .. } => {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                    WatchEvent::Swapped(r) => swapped.lock().unwrap().push(r.to),
                    WatchEvent::Recovered { failed_checks } => {
                        assert!(*failed_checks > 0);
                        recovered.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                })
        };
        let (served, watcher) = AliasWatcher::serve(
            server.open("restart"),
            "shop@production".parse().unwrap(),
            options,
        )
        .unwrap();
        server.stop();
        let deadline = Instant::now() + Duration::from_secs(60);
        while failures.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            failures.load(Ordering::SeqCst) > 0,
            "no failed check while the server was down"
        );
        // Still serving through the outage.
        assert_eq!(served.current().version(), v1);
        server.start_again();
        let writer = server.open("restart");
        writer.set_alias("shop", "production", v2).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while served.current().version() != v2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            served.current().version(),
            v2,
            "the watcher did not recover"
        );
        assert_eq!(*swapped.lock().unwrap(), [v2]);
        // The watcher said the registry was back.
        assert!(recovered.load(Ordering::SeqCst) >= 1);
        watcher.shutdown();
        // The data survived the restart.
        assert_eq!(writer.versions("shop", false).unwrap().len(), 2);
    });
}

/// A registry handle opened while the server is down reports a storage
/// error naming the location, not a panic or a hang.
#[test]
fn an_unreachable_store_is_a_storage_error() {
    let Some(_) = servers::python() else {
        return;
    };
    let started = Instant::now();
    let reg = Registry::open_url_with(
        "s3://registry/x",
        &[
            ("aws_endpoint", "http://127.0.0.1:9"),
            ("aws_access_key_id", "k"),
            ("aws_secret_access_key", "s"),
            ("aws_region", "us-east-1"),
            ("aws_allow_http", "true"),
        ],
    )
    .unwrap();
    let err = reg
        .resolve(&"shop@production".parse().unwrap())
        .unwrap_err();
    assert!(
        matches!(err, modelhost::registry::RegistryError::Storage(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("s3://registry/x"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
