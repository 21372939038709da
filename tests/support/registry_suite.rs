//! The registry's behaviour, written once and run on every store: the
//! directory store (`tests/registry.rs`), S3 and Azure Blob storage
//! (`tests/registry_object.rs`). Each check gets `open`, which opens a
//! fresh handle on one registry location of its own, as another process
//! or machine would.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::{Better, ModelRef, PutMode, Registry, RegistryError, Retire};

use super::common;

pub fn artifact(name: &str, depth: usize, auc: f64) -> Artifact {
    common::tree_artifact(name, 300, depth as u64, depth)
        .unwrap()
        .with_metric("auc", auc)
}

pub fn reg_err(r: Result<impl std::fmt::Debug, RegistryError>) -> RegistryError {
    match r {
        Err(RegistryError::Artifact(e)) => panic!("expected a registry error, got {e:?}"),
        Err(e) => e,
        Ok(v) => panic!("expected a registry error, got {v:?}"),
    }
}

/// Rewrites the index of `shop` through `f`, as a hand edit would.
pub fn edit_index(reg: &Registry, f: impl FnOnce(&mut serde_json::Value)) {
    let store = reg.store();
    let mut index: serde_json::Value =
        serde_json::from_slice(&store.get("shop/index.json", 1 << 20).unwrap().unwrap()).unwrap();
    f(&mut index);
    store
        .put(
            "shop/index.json",
            &serde_json::to_vec(&index).unwrap(),
            PutMode::Overwrite,
        )
        .unwrap();
}

/// What every reader must see after any writer died anywhere: each listed
/// version of `shop` holds the registration that first got its number
/// (`numbers` remembers them across calls), each active one loads with
/// every check, and each alias resolves to one that loads.
pub fn check_visible(reg: &Registry, numbers: &mut BTreeMap<u64, String>, context: &str) {
    for v in reg.versions("shop", true).unwrap() {
        let id = v.tags.get("registration").cloned().unwrap_or_default();
        assert_eq!(
            *numbers.entry(v.version).or_insert_with(|| id.clone()),
            id,
            "{context}: version {} reused for another registration",
            v.version
        );
        if !v.archived {
            let loaded = reg
                .load(
                    &ModelRef::Version("shop".into(), v.version),
                    ReadOptions::new(),
                )
                .unwrap_or_else(|e| panic!("{context}: version {} loads: {e}", v.version));
            assert_eq!(loaded.header.version, v.version);
        }
    }
    for (alias, v) in reg.aliases("shop").unwrap() {
        let loaded = reg
            .load(
                &ModelRef::Alias("shop".into(), alias.clone()),
                ReadOptions::new(),
            )
            .unwrap_or_else(|e| panic!("{context}: alias {alias} -> {v} loads: {e}"));
        assert_eq!(loaded.header.version, v);
    }
}

/// Every check, in order.
pub fn all(open: &dyn Fn(&str) -> Registry) {
    lookups(&|| open("lookups"));
    validation(&|| open("validation"));
    retention(&|| open("retention"));
    racing_writers(&|| open("racing"));
    crashed_register(&|| open("crashed"));
    checksums_and_cache(&|| open("checksums"));
    aliases_are_bounded(&|| open("aliases"));
    hostile_index(&|| open("hostile"));
}

pub fn lookups(open: &dyn Fn() -> Registry) {
    let reg = open();
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

    // Another handle (another process) sees the same.
    let other = open();
    let resolve = |s: &str| other.resolve(&s.parse::<ModelRef>().unwrap());
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
    // A move by one handle is seen by the other's next resolve.
    reg.set_alias("shop", "production", 3).unwrap();
    assert_eq!(resolve("shop@production").unwrap(), 3);
    reg.set_alias("shop", "production", 2).unwrap();
    assert_eq!(resolve("shop@production").unwrap(), 2);

    // The loaded artifact carries the registry's version number.
    let loaded = other
        .load(&"shop@production".parse().unwrap(), ReadOptions::new())
        .unwrap();
    assert_eq!(
        (loaded.header.name.as_str(), loaded.header.version),
        ("shop", 2)
    );

    reg.set_tag("shop", 2, "reviewed_by", "ops").unwrap();
    let v2 = &other.versions("shop", false).unwrap()[1];
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

pub fn validation(open: &dyn Fn() -> Registry) {
    let reg = open();
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

pub fn retention(open: &dyn Fn() -> Registry) {
    let reg = open();
    for (name, retire) in [("archived", Retire::Archive), ("deleted", Retire::Delete)] {
        for i in 0..6 {
            reg.register(artifact(name, 2 + i % 2, 0.5)).unwrap();
        }
        reg.set_alias(name, "production", 2).unwrap();
        assert_eq!(
            reg.retain_plan(name, 2, Duration::from_secs(3600)).unwrap(),
            [1, 3, 4]
        );
        let retired = reg.retain(name, 2, retire).unwrap();
        assert_eq!(retired, [1, 3, 4]);
        let live: Vec<u64> = reg
            .versions(name, false)
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(live, [2, 5, 6]);
        let all: Vec<(u64, bool)> = reg
            .versions(name, true)
            .unwrap()
            .iter()
            .map(|v| (v.version, v.archived))
            .collect();
        match retire {
            Retire::Archive => {
                assert_eq!(
                    all,
                    [
                        (1, true),
                        (2, false),
                        (3, true),
                        (4, true),
                        (5, false),
                        (6, false)
                    ]
                );
                assert!(matches!(
                    reg_err(reg.resolve(&format!("{name}/3").parse().unwrap())),
                    RegistryError::VersionArchived { version: 3, .. }
                ));
                reg.restore(name, 3).unwrap();
                let loaded = reg
                    .load(&format!("{name}/3").parse().unwrap(), ReadOptions::new())
                    .unwrap();
                assert_eq!(loaded.header.version, 3);
            }
            Retire::Delete => {
                assert_eq!(all, [(2, false), (5, false), (6, false)]);
                assert!(
                    reg.store()
                        .list(&format!("{name}/versions"))
                        .unwrap()
                        .iter()
                        .filter(|f| !f.starts_with('.'))
                        .all(|f| ["2.", "5.", "6."].iter().any(|p| f.starts_with(p))),
                    "the files of deleted versions are gone"
                );
            }
        }
        // Version numbers are never reused.
        assert_eq!(reg.register(artifact(name, 2, 0.5)).unwrap(), 7);
        assert!(reg.resolve(&format!("{name}/1").parse().unwrap()).is_err());
        // An alias moved away keeps its old version for the grace period.
        reg.set_alias(name, "production", 7).unwrap();
        assert!(!reg.retain(name, 0, retire).unwrap().contains(&2));
        assert!(
            reg.retain_with(name, 0, Duration::ZERO, retire)
                .unwrap()
                .contains(&2)
        );
    }
}

/// Writers on separate handles (as on separate machines) race on one
/// model: registering, moving aliases, tagging one version and promoting.
/// Nothing is lost and no number is given twice.
pub fn racing_writers(open: &dyn Fn() -> Registry) {
    const WRITERS: usize = 4;
    const EACH: usize = 5;
    let first = open();
    first.register(artifact("shop", 2, 0.5)).unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let results: Vec<Vec<(u64, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let reg = open();
                let barrier = barrier.clone();
                s.spawn(move || {
                    let artifacts: Vec<Artifact> = (0..EACH)
                        .map(|i| {
                            artifact("shop", 2 + (i + w) % 3, 0.5 + (w * EACH + i) as f64 / 100.0)
                                .with_tag("registration", format!("{w}-{i}"))
                        })
                        .collect();
                    barrier.wait();
                    let mut mine = Vec::new();
                    for (i, a) in artifacts.into_iter().enumerate() {
                        let v = reg.register(a).unwrap();
                        mine.push((v, format!("{w}-{i}")));
                        reg.set_alias("shop", &format!("writer{w}"), v).unwrap();
                        reg.set_tag("shop", 1, &format!("seen-{w}-{i}"), "yes")
                            .unwrap();
                        reg.promote_best("shop", "auc", Better::Higher, "production")
                            .unwrap();
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reg = open();
    let versions = reg.versions("shop", false).unwrap();
    let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(
        numbers,
        (1..=(1 + WRITERS * EACH) as u64).collect::<Vec<_>>()
    );
    let by_number: BTreeMap<u64, String> = versions
        .iter()
        .filter_map(|v| Some((v.version, v.tags.get("registration")?.clone())))
        .collect();
    let mut seen = BTreeSet::new();
    for (v, id) in results.iter().flatten() {
        assert_eq!(
            by_number.get(v),
            Some(id),
            "version {v} holds another registration"
        );
        assert!(seen.insert(*v), "version {v} given twice");
    }
    let aliases = reg.aliases("shop").unwrap();
    for (w, mine) in results.iter().enumerate() {
        assert_eq!(aliases[&format!("writer{w}")], mine.last().unwrap().0);
    }
    // Every tag landed on version 1, though all writers tagged it at once.
    let tags = &versions[0].tags;
    assert_eq!(
        tags.keys().filter(|k| k.starts_with("seen-")).count(),
        WRITERS * EACH
    );
    // The best version by AUC is the last registration of the last writer.
    let best = by_number
        .iter()
        .find(|(_, id)| **id == format!("{}-{}", WRITERS - 1, EACH - 1))
        .unwrap()
        .0;
    assert_eq!(aliases["production"], *best);
}

/// The state a writer killed after taking its number and uploading its
/// artifact leaves: invisible, its number never given again, its files
/// freed by a collection once the pending grace has passed.
pub fn crashed_register(open: &dyn Fn() -> Registry) {
    let reg = open();
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 1);
    let store = reg.store().clone();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    edit_index(&reg, |index| {
        index["next_version"] = 3.into();
        index["versions"]["2"] = serde_json::json!({"state": "pending", "since_ms": now_ms});
    });
    let one = store
        .get("shop/versions/1.mhart", 1 << 30)
        .unwrap()
        .unwrap();
    store
        .put("shop/versions/2.mhart", &one, PutMode::Overwrite)
        .unwrap();

    let other = open();
    assert_eq!(other.resolve(&"shop".parse().unwrap()).unwrap(), 1);
    assert!(matches!(
        reg_err(other.resolve(&"shop/2".parse().unwrap())),
        RegistryError::VersionNotFound { version: 2, .. }
    ));
    assert!(matches!(
        reg_err(other.set_alias("shop", "production", 2)),
        RegistryError::VersionNotFound { version: 2, .. }
    ));
    assert_eq!(other.versions("shop", true).unwrap().len(), 1);
    assert_eq!(other.register(artifact("shop", 3, 0.5)).unwrap(), 3);

    // Within the grace, a collection leaves the writer alone.
    other.retain("shop", usize::MAX, Retire::Delete).unwrap();
    assert!(
        store
            .get("shop/versions/2.mhart", 1 << 30)
            .unwrap()
            .is_some()
    );
    // After it, the number's storage is freed, the number is not reused.
    let impatient = open().with_pending_grace(Duration::ZERO);
    assert!(
        impatient
            .retain("shop", usize::MAX, Retire::Delete)
            .unwrap()
            .is_empty()
    );
    let files: Vec<String> = store
        .list("shop/versions")
        .unwrap()
        .into_iter()
        .filter(|f| f != ".lock")
        .collect();
    assert_eq!(files, ["1.json", "1.mhart", "3.json", "3.mhart"]);
    assert_eq!(reg.retain("shop", 0, Retire::Delete).unwrap(), [1, 3]);
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 4);
}

/// A load checks the artifact against the checksum its summary records;
/// the cache serves what it holds and drops what is damaged.
pub fn checksums_and_cache(open: &dyn Fn() -> Registry) {
    let reg = open();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    reg.register(artifact("shop", 3, 0.5)).unwrap();
    let store = reg.store().clone();
    let mut two = store
        .get("shop/versions/2.mhart", 1 << 30)
        .unwrap()
        .unwrap();
    let last = two.len() - 1;
    two[last] ^= 1;
    store
        .put("shop/versions/2.mhart", &two, PutMode::Overwrite)
        .unwrap();
    assert!(matches!(
        reg_err(reg.artifact_bytes("shop", 2)),
        RegistryError::Corrupt { .. }
    ));

    let cache_dir = tempfile::tempdir().unwrap();
    let cached = open().with_cache(cache_dir.path(), 64 << 20).unwrap();
    let first = cached
        .load(&"shop/1".parse().unwrap(), ReadOptions::new())
        .unwrap();
    // With the artifact gone from the store, the cache still serves it.
    store.delete("shop/versions/1.mhart").unwrap();
    let again = cached
        .load(&"shop/1".parse().unwrap(), ReadOptions::new())
        .unwrap();
    assert_eq!(first.header, again.header);
    // A damaged cache entry is not served: the store is asked, and has
    // nothing.
    for entry in std::fs::read_dir(cache_dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    assert!(matches!(
        reg_err(cached.artifact_bytes("shop", 1)),
        RegistryError::VersionNotFound { version: 1, .. }
    ));
}

/// Aliases per model are bounded, so the index always stays readable.
pub fn aliases_are_bounded(open: &dyn Fn() -> Registry) {
    use modelhost::registry::MAX_ALIASES;
    let reg = open();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    edit_index(&reg, |index| {
        index["aliases"] = (0..MAX_ALIASES)
            .map(|i| (format!("a{i}"), serde_json::Value::from(1)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    });
    let err = reg_err(reg.set_alias("shop", "one-more", 1));
    assert!(matches!(err, RegistryError::TooManyAliases { max, .. } if max == MAX_ALIASES));
    // Moving an existing alias is still fine.
    assert_eq!(reg.set_alias("shop", "a7", 1).unwrap(), Some(1));
}

/// An index edited by hand or by a broken tool: a counter behind the
/// versions, a counter at the end of the numbers, and bytes that are not
/// JSON. Nothing already registered is overwritten or deleted, and every
/// failure is a typed error.
pub fn hostile_index(open: &dyn Fn() -> Registry) {
    let reg = open();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    reg.register(artifact("shop", 3, 0.6)).unwrap();
    let store = reg.store().clone();
    let original = store.get("shop/index.json", 1 << 20).unwrap().unwrap();
    // Each edit starts from the index as registering left it.
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        store
            .put("shop/index.json", &original, PutMode::Overwrite)
            .unwrap();
        edit_index(&reg, f);
    };
    let both_load = |reg: &Registry| {
        for v in [1, 2] {
            let loaded = reg
                .load(&ModelRef::Version("shop".into(), v), ReadOptions::new())
                .unwrap();
            assert_eq!(loaded.header.version, v);
        }
    };

    edit(&|i| i["next_version"] = 1.into());
    assert_eq!(reg.register(artifact("shop", 2, 0.7)).unwrap(), 3);
    both_load(&reg);

    edit(&|i| i["next_version"] = u64::MAX.into());
    assert!(matches!(
        reg_err(reg.register(artifact("shop", 2, 0.7))),
        RegistryError::Corrupt { .. }
    ));
    both_load(&reg);

    store
        .put(
            "shop/index.json",
            b"{\"next_version\": [",
            PutMode::Overwrite,
        )
        .unwrap();
    for err in [
        reg_err(reg.resolve(&"shop@production".parse().unwrap())),
        reg_err(reg.register(artifact("shop", 2, 0.7))),
        reg_err(reg.set_alias("shop", "production", 1)),
    ] {
        assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    }
    store
        .put("shop/index.json", &original, PutMode::Overwrite)
        .unwrap();
    both_load(&reg);
}
