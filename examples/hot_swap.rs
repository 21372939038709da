//! Hot swap: promote and roll back model versions while traffic flows.
//!
//! Run with `cargo run --example hot_swap`. Four threads act as the webshop
//! backend and send requests continuously. Meanwhile the registry gets two
//! versions of the recommender; an alias watcher follows
//! `recommender@production`, so promoting a version in the registry moves the
//! traffic to it, and moving the alias back rolls it back. Every burst of
//! requests prints which versions served it; no request fails.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use modelhost::registry::Registry;
use modelhost::reload::{AliasWatcher, WatchEvent, WatchOptions};
use modelhost::{ModelServer, PredictRequest};

fn main() -> modelhost::Result<()> {
    // A registry with two versions of the recommender (a shallow and a deep
    // tree), as `webshop_train` would leave it.
    let dir = tempfile_dir();
    let registry = Registry::open(&dir)?;
    for depth in [3, 8] {
        let v = registry.register(common::tree_artifact(
            "recommender",
            4_000,
            depth as u64,
            depth,
        )?)?;
        println!("registered recommender/{v} (depth {depth})");
    }
    registry.set_alias("recommender", "production", 1)?;

    // Serve whatever `production` points at, checking every 20 ms.
    let (server, watcher) = AliasWatcher::serve(
        registry.clone(),
        "recommender@production".parse()?,
        WatchOptions::new()
            .interval(Duration::from_millis(20))
            .on_event(|e| match e {
                WatchEvent::Swapped(r) => {
                    println!("  [watcher] now serving version {} (was {})", r.to, r.from)
                }
                WatchEvent::Failed { error, .. } => {
                    println!("  [watcher] load failed, still serving: {error}")
                }
                _ => {}
            }),
    )?;

    // The backend: four threads, each sending requests back to back and
    // counting which version answered.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let tally: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (server, stop, failed, tally) =
                (server.clone(), stop.clone(), failed.clone(), tally.clone());
            thread::spawn(move || {
                let (customers, _) = common::webshop_data(500, 1_000 + t, 0.0);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    match server.predict(PredictRequest::new(&customers[i % customers.len()])) {
                        Ok(r) => *tally.lock().unwrap().entry(r.version).or_default() += 1,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();

    // A burst: let traffic run for a moment and print who served it.
    let burst = |what: &str| {
        thread::sleep(Duration::from_millis(150));
        let counts = std::mem::take(&mut *tally.lock().unwrap());
        let summary: Vec<String> = counts.iter().map(|(v, n)| format!("v{v}: {n}")).collect();
        println!("{what:<40} served by {}", summary.join(", "));
    };

    burst("burst 1 (production -> v1)");
    println!("promote version 2 to production");
    registry.set_alias("recommender", "production", 2)?;
    burst("burst 2 (during the promotion)");
    burst("burst 3 (after it)");
    println!("roll back: production -> v1");
    registry.set_alias("recommender", "production", 1)?;
    burst("burst 4 (during the rollback)");
    burst("burst 5 (after it)");

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker thread");
    }
    watcher.shutdown();
    println!("\nfailed requests: {}", failed.load(Ordering::Relaxed));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("modelhost-hot-swap-{}", std::process::id()))
}
