//! The registry on a directory: the checks every store passes
//! (`support/registry_suite.rs`), concurrent writers in two processes, the
//! layout before the model index, and temporary files of dead writers.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/registry_suite.rs"]
mod suite;

use std::process::Command;

use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::{ModelRef, Registry, Retire};
use suite::artifact;

/// Every check of the suite, each on a directory of its own.
#[test]
fn the_registry_suite_passes_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    suite::all(&|name| Registry::open(dir.path().join(name)).unwrap());
}

/// The same through `file://` URLs.
#[test]
fn file_urls_open_directories() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let reg = Registry::open(&url).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    assert_eq!(
        Registry::open(dir.path()).unwrap().models().unwrap(),
        ["shop"]
    );
    assert!(matches!(
        Registry::open("ftp://models.example/x"),
        Err(modelhost::registry::RegistryError::Location { .. })
    ));
}

/// Two processes register 10 versions each into one registry at the same
/// time: every registration gets its own version number and every artifact
/// loads.
#[test]
fn two_processes_register_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|i| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "concurrent_writer_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MODELHOST_TEST_REGISTRY", dir.path())
                .env("MODELHOST_TEST_WRITER", i.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    let reg = Registry::open(dir.path()).unwrap();
    let versions = reg.versions("shop", false).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    for v in 1..=20 {
        let loaded = reg
            .load(&ModelRef::Version("shop".into(), v), ReadOptions::new())
            .unwrap();
        assert_eq!(loaded.header.version, v);
    }
    let production = reg.resolve(&"shop@production".parse().unwrap()).unwrap();
    assert!((1..=20).contains(&production));
}

/// The writer process of `two_processes_register_concurrently`.
#[test]
#[ignore = "run as a child process by two_processes_register_concurrently"]
fn concurrent_writer_child() {
    let dir = std::env::var("MODELHOST_TEST_REGISTRY").expect("started by the parent test");
    let writer: usize = std::env::var("MODELHOST_TEST_WRITER")
        .unwrap()
        .parse()
        .unwrap();
    let reg = Registry::open(dir).unwrap();
    let artifacts: Vec<Artifact> = (0..10)
        .map(|i| artifact("shop", 2 + (i + writer) % 3, 0.5))
        .collect();
    for a in artifacts {
        let v = reg.register(a).unwrap();
        reg.set_alias("shop", "production", v).unwrap();
    }
}

/// A registry written before the model index (`model.json`,
/// `aliases.json`, `released.json`, `archive/`) is moved to the index
/// layout by its first access, keeping every version, state, alias and
/// the numbering.
#[test]
fn a_registry_in_the_layout_before_the_index_is_moved() {
    let source = tempfile::tempdir().unwrap();
    let reg = Registry::open(source.path()).unwrap();
    for _ in 0..3 {
        reg.register(artifact("shop", 2, 0.5)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir_all(shop.join("versions")).unwrap();
    std::fs::create_dir_all(shop.join("archive")).unwrap();
    let from = source.path().join("shop/versions");
    for (v, sub) in [(1, "versions"), (2, "archive"), (3, "versions")] {
        for ext in ["mhart", "json"] {
            std::fs::copy(
                from.join(format!("{v}.{ext}")),
                shop.join(format!("{sub}/{v}.{ext}")),
            )
            .unwrap();
        }
    }
    // A writer of the old layout killed between artifact and summary.
    std::fs::copy(from.join("3.mhart"), shop.join("versions/4.mhart")).unwrap();
    std::fs::write(shop.join("model.json"), br#"{"next_version": 5}"#).unwrap();
    std::fs::write(shop.join("aliases.json"), br#"{"production": 3, "old": 2}"#).unwrap();
    std::fs::write(shop.join("released.json"), br#"{"1": 1700000000000}"#).unwrap();

    let reg = Registry::open(dir.path()).unwrap();
    let all: Vec<(u64, bool)> = reg
        .versions("shop", true)
        .unwrap()
        .iter()
        .map(|v| (v.version, v.archived))
        .collect();
    assert_eq!(all, [(1, false), (2, true), (3, false)]);
    // An alias on an archived version could not resolve: it is dropped.
    assert_eq!(
        reg.aliases("shop").unwrap().into_iter().collect::<Vec<_>>(),
        [("production".to_owned(), 3)]
    );
    assert!(!shop.join("model.json").exists());
    assert!(!shop.join("aliases.json").exists());
    assert_eq!(std::fs::read_dir(shop.join("archive")).unwrap().count(), 0);
    reg.restore("shop", 2).unwrap();
    let loaded = reg
        .load(&"shop/2".parse().unwrap(), ReadOptions::new())
        .unwrap();
    assert_eq!(loaded.header.version, 2);
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 5);
    // The orphan of the old writer goes with the next collection.
    reg.retain("shop", usize::MAX, Retire::Archive).unwrap();
    assert!(!shop.join("versions/4.mhart").exists());
}

/// Temporary files of writers that died are removed by the next write;
/// those of a live process are left alone.
#[test]
fn temporary_files_of_dead_writers_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    let versions = dir.path().join("shop/versions");
    // Above Linux's largest pid: no process has it.
    let dead = versions.join(".2.json.tmp-4194305-7");
    let alive = versions.join(format!(".2.json.tmp-{}-8", std::process::id()));
    std::fs::write(&dead, b"{\"half").unwrap();
    std::fs::write(&alive, b"{\"half").unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    assert!(!dead.exists());
    assert!(alive.exists());
}
