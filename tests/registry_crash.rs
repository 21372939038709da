//! Crash loop: the `modelhost` binary is killed (SIGKILL) at random points
//! while it registers versions, moves aliases, promotes and collects
//! garbage. After every kill the registry must still keep its promises:
//! it opens, every listed version verifies and loads, every alias resolves
//! to a loadable version, no version number is used twice, and what killed
//! writers leave behind does not grow.
//!
//! `MODELHOST_CRASH_ITERATIONS` (default 60) and `MODELHOST_CRASH_SEED` run
//! it longer or differently.
#![cfg(unix)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/registry_suite.rs"]
mod suite;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use modelhost::registry::Registry;
use rand::{Rng, SeedableRng};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What killed writers left that nothing refers to: temporary files, and
/// files of versions the index does not list. (A number a killed register
/// took stays pending, with its files, until a collection after the
/// pending grace: that is not garbage.)
fn garbage(root: &Path) -> Vec<String> {
    let index: serde_json::Value = std::fs::read(root.join("shop/index.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_default();
    let mut out = Vec::new();
    for sub in ["shop", "shop/versions"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for n in entries.map(|e| e.unwrap().file_name().into_string().unwrap()) {
            let unlisted = sub == "shop/versions"
                && n.split_once('.')
                    .is_some_and(|(v, _)| !v.is_empty() && index["versions"].get(v).is_none());
            if n.contains(".tmp-") || unlisted {
                out.push(format!("{sub}/{n}"));
            }
        }
    }
    out
}

/// Checks every invariant; records which registration each version holds
/// (`numbers`), failing if a number ever holds another.
fn check(reg_dir: &Path, numbers: &mut BTreeMap<u64, String>, context: &str) {
    let reg = Registry::open(reg_dir).unwrap_or_else(|e| panic!("{context}: opens: {e}"));
    let Ok(all) = reg.versions("shop", true) else {
        // Not created yet: the first register was killed before the index.
        assert!(numbers.is_empty(), "{context}: the model disappeared");
        return;
    };
    let counter: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg_dir.join("shop/index.json")).unwrap()).unwrap();
    let next = counter["next_version"].as_u64().unwrap();
    for v in &all {
        assert!(
            v.version < next,
            "{context}: version {} visible but the counter is at {next}",
            v.version
        );
    }
    suite::check_visible(&reg, numbers, context);
    // A killed writer leaves at most a temporary file, or the files of the
    // versions a killed collection retired; the next register or
    // collection removes them, so garbage never accumulates.
    let left = garbage(reg_dir);
    assert!(left.len() <= 8, "{context}: garbage accumulates: {left:?}");
}

#[test]
fn killed_writers_never_break_the_registry() {
    let iterations = env_or("MODELHOST_CRASH_ITERATIONS", 60);
    let mut rng =
        rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(env_or("MODELHOST_CRASH_SEED", 13));
    let dir = tempfile::tempdir().unwrap();
    let reg_dir = dir.path().join("registry");
    let reg_arg = reg_dir.to_str().unwrap().to_owned();
    let base = common::tree_artifact("shop", 300, 5, 3).unwrap();
    let mut numbers = BTreeMap::new();
    let mut kills = 0;
    // How long one uninterrupted register takes here: kills land anywhere
    // from the start of a writer to a little after its end.
    let first = dir.path().join("first.mhart");
    base.clone()
        .with_tag("registration", "first")
        .write(&first)
        .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_modelhost"))
        .args(["registry", "--dir", &reg_arg, "register"])
        .arg(&first)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let window = (started.elapsed().as_micros() as u64 * 3 / 2).max(1_000);
    for i in 0..iterations {
        let file = dir.path().join(format!("{i}.mhart"));
        base.clone()
            .with_metric("auc", rng.gen_range(0.5..0.9))
            .with_tag("registration", i.to_string())
            .write(&file)
            .unwrap();
        let visible: Vec<u64> = Registry::open(&reg_dir)
            .unwrap()
            .versions("shop", false)
            .map(|v| v.iter().map(|v| v.version).collect())
            .unwrap_or_default();
        let target = if visible.is_empty() {
            1
        } else {
            visible[rng.gen_range(0..visible.len())]
        };
        let target = target.to_string();
        let file = file.to_str().unwrap().to_owned();
        let args: Vec<&str> = match rng.gen_range(0..10) {
            0..=4 => vec!["register", &file],
            5 | 6 => vec!["alias", "shop", "production", &target],
            7 => vec!["promote", "shop", "--metric", "auc", "--alias", "staging"],
            8 => vec!["gc", "shop", "--keep", "2", "--delete"],
            _ => vec!["gc", "shop", "--keep", "3"],
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_modelhost"))
            .args(["registry", "--dir", &reg_arg])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Where in the write the kill lands is what varies; the invariants
        // must hold wherever it does.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..window)));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        check(
            &reg_dir,
            &mut numbers,
            &format!("after {args:?} (iteration {i})"),
        );
    }
    // One last write and a collection past the pending grace free every
    // killed writer's leftovers, pending numbers included.
    let reg = Registry::open(&reg_dir).unwrap();
    reg.register(base.clone().with_tag("registration", "final"))
        .unwrap();
    reg.clone()
        .with_pending_grace(Duration::ZERO)
        .retain("shop", usize::MAX, modelhost::registry::Retire::Archive)
        .unwrap();
    check(&reg_dir, &mut numbers, "after the final register");
    assert_eq!(garbage(&reg_dir), Vec::<String>::new());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg_dir.join("shop/index.json")).unwrap()).unwrap();
    let pending: Vec<&String> = index["versions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, e)| e["state"] == "pending")
        .map(|(v, _)| v)
        .collect();
    assert!(
        pending.is_empty(),
        "pending after a collection: {pending:?}"
    );
    let files = std::fs::read_dir(reg_dir.join("shop/versions"))
        .unwrap()
        .count();
    let listed = index["versions"].as_object().unwrap().len();
    assert_eq!(
        files,
        2 * listed + 1,
        "every file belongs to a listed version (plus .lock)"
    );
    assert!(kills > 0, "no writer was killed mid-run");
    eprintln!(
        "{iterations} iterations, {kills} writers killed mid-run, {} version numbers used",
        numbers.len()
    );
}
