//! The registry: versions, aliases, lookups, promotion, retention, and
//! concurrent writers in two processes.

#[path = "../examples/common/mod.rs"]
mod common;

use std::process::Command;

use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::{Better, ModelRef, Registry, RegistryError, Retire};

fn artifact(name: &str, depth: usize, auc: f64) -> Artifact {
    common::tree_artifact(name, 300, depth as u64, depth)
        .unwrap()
        .with_metric("auc", auc)
}

fn reg_err(r: Result<impl std::fmt::Debug, RegistryError>) -> RegistryError {
    match r {
        Err(RegistryError::Artifact(e)) => panic!("expected a registry error, got {e:?}"),
        Err(e) => e,
        Ok(v) => panic!("expected a registry error, got {v:?}"),
    }
}

#[test]
fn versions_aliases_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.register(artifact("shop", 2, 0.70)).unwrap(), 1);
    assert_eq!(reg.register(artifact("shop", 3, 0.80)).unwrap(), 2);
    assert_eq!(reg.register(artifact("shop", 4, 0.75)).unwrap(), 3);
    assert_eq!(reg.register(artifact("other", 2, 0.5)).unwrap(), 1);
    assert_eq!(reg.models().unwrap(), ["other", "shop"]);

    let versions = reg.versions("shop", false).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(versions[1].metrics["auc"], 0.80);

    assert_eq!(reg.set_alias("shop", "staging", 3).unwrap(), None);
    assert_eq!(
        reg.promote_best("shop", "auc", Better::Higher, "production")
            .unwrap(),
        2
    );
    assert_eq!(
        reg.promote_best("shop", "auc", Better::Lower, "champion")
            .unwrap(),
        1
    );
    assert_eq!(
        reg.set_alias("shop", "staging", 1).unwrap(),
        Some(3),
        "aliases move"
    );

    let resolve = |s: &str| reg.resolve(&s.parse::<ModelRef>().unwrap());
    assert_eq!(resolve("shop").unwrap(), 3);
    assert_eq!(resolve("shop/2").unwrap(), 2);
    assert_eq!(resolve("shop@production").unwrap(), 2);
    assert!(matches!(
        reg_err(resolve("shop/9")),
        RegistryError::VersionNotFound { version: 9, .. }
    ));
    assert!(matches!(
        reg_err(resolve("shop@nope")),
        RegistryError::AliasNotFound { .. }
    ));
    assert!(matches!(
        reg_err(resolve("ghost")),
        RegistryError::ModelNotFound { .. }
    ));

    // The loaded artifact carries the registry's version number.
    let loaded = reg
        .load(&"shop@production".parse().unwrap(), ReadOptions::new())
        .unwrap();
    assert_eq!(
        (loaded.header.name.as_str(), loaded.header.version),
        ("shop", 2)
    );

    reg.set_tag("shop", 2, "reviewed_by", "ops").unwrap();
    let v2 = &reg.versions("shop", false).unwrap()[1];
    assert_eq!(v2.tags["reviewed_by"], "ops");
    assert_eq!(v2.aliases, ["production"]);

    assert_eq!(reg.remove_alias("shop", "champion").unwrap(), 1);
    assert!(matches!(
        reg_err(reg.remove_alias("shop", "champion")),
        RegistryError::AliasNotFound { .. }
    ));
    assert!(matches!(
        reg_err(reg.promote_best("shop", "f1", Better::Higher, "production")),
        RegistryError::NoMetric { .. }
    ));
}

#[test]
fn names_aliases_and_references_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    for bad in ["../etc", "", "a/b", ".hidden", "sp ace"] {
        assert!(
            matches!(
                reg_err(reg.register(artifact(bad, 2, 0.5))),
                RegistryError::InvalidName { .. }
            ),
            "{bad:?}"
        );
    }
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    for bad in ["", "pro/d", "a b", "x@y"] {
        assert!(
            matches!(
                reg_err(reg.set_alias("shop", bad, 1)),
                RegistryError::InvalidAlias { .. }
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        reg_err(reg.set_alias("shop", "production", 7)),
        RegistryError::VersionNotFound { .. }
    ));
    for bad in ["shop/x", "shop@", "@prod", "../x/1", "shop/-1"] {
        assert!(bad.parse::<ModelRef>().is_err(), "{bad:?}");
    }
}

#[test]
fn retain_keeps_the_newest_and_every_aliased_version() {
    for retire in [Retire::Archive, Retire::Delete] {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        for i in 0..6 {
            reg.register(artifact("shop", 2 + i % 2, 0.5)).unwrap();
        }
        reg.set_alias("shop", "production", 2).unwrap();
        let retired = reg.retain("shop", 2, retire).unwrap();
        assert_eq!(retired, [1, 3, 4]);
        let live: Vec<u64> = reg
            .versions("shop", false)
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(live, [2, 5, 6]);
        let all: Vec<(u64, bool)> = reg
            .versions("shop", true)
            .unwrap()
            .iter()
            .map(|v| (v.version, v.archived))
            .collect();
        match retire {
            Retire::Archive => assert_eq!(all.len(), 6),
            Retire::Delete => assert_eq!(all.len(), 3),
        }
        // Version numbers are never reused.
        assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 7);
        assert!(reg.resolve(&"shop/1".parse().unwrap()).is_err());
    }
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
