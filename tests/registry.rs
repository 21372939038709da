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

/// A `register` killed after committing its number and writing the artifact
/// (but not the summary) leaves an orphan artifact and a temporary file: the
/// next writer removes both, and the number is not used again, even after
/// every version is deleted.
#[test]
fn a_crashed_register_never_reuses_its_number_and_leaves_no_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 1);
    let versions = dir.path().join("shop/versions");
    // The state a kill between the artifact and its summary leaves.
    std::fs::write(
        dir.path().join("shop/model.json"),
        br#"{"next_version": 3}"#,
    )
    .unwrap();
    std::fs::copy(versions.join("1.mhart"), versions.join("2.mhart")).unwrap();
    std::fs::write(versions.join(".2.json.tmp-4194304-7"), b"{\"half").unwrap();
    std::fs::write(dir.path().join("shop/.aliases.json.tmp-4194304-8"), b"").unwrap();
    assert_eq!(reg.resolve(&"shop".parse().unwrap()).unwrap(), 1);
    assert!(reg.resolve(&"shop/2".parse().unwrap()).is_err());

    assert_eq!(reg.register(artifact("shop", 3, 0.5)).unwrap(), 3);
    let mut left: Vec<String> = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["1.json", "1.mhart", "3.json", "3.mhart"]);
    assert!(!dir.path().join("shop/.aliases.json.tmp-4194304-8").exists());

    assert_eq!(reg.retain("shop", 0, Retire::Delete).unwrap(), [1, 3]);
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 4);
}

/// The state of a register killed by the layout's old write order (summary
/// before counter): a visible version the counter does not cover. The next
/// number still goes past it.
#[test]
fn a_version_ahead_of_the_counter_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 1);
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 2);
    std::fs::write(
        dir.path().join("shop/model.json"),
        br#"{"next_version": 2}"#,
    )
    .unwrap();
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 3);
    assert_eq!(reg.retain("shop", 0, Retire::Delete).unwrap(), [1, 2, 3]);
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 4);
}

/// An archive move killed between the summary and the artifact: the next
/// writer finishes it, so the archived version keeps its artifact.
#[test]
fn a_crashed_archive_move_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir_all(shop.join("archive")).unwrap();
    std::fs::rename(shop.join("versions/1.json"), shop.join("archive/1.json")).unwrap();
    reg.set_alias("shop", "production", 2).unwrap();
    assert!(!shop.join("versions/1.mhart").exists());
    assert!(shop.join("archive/1.mhart").exists());
    let all = reg.versions("shop", true).unwrap();
    assert_eq!(
        all.iter()
            .map(|v| (v.version, v.archived))
            .collect::<Vec<_>>(),
        [(1, true), (2, false)]
    );
}

/// More than a megabyte of tags used to register fine and then break every
/// listing of the model; now the registration is refused and listings work.
#[test]
fn oversized_tags_and_metrics_are_refused_at_register_time() {
    use modelhost::registry::{MAX_METRICS_BYTES, MAX_TAGS_BYTES};
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();

    let big = "x".repeat(1 << 20);
    let err = reg_err(reg.register(artifact("shop", 2, 0.5).with_tag("notes", big.clone())));
    assert!(
        matches!(err, RegistryError::SummaryTooLarge { field: "tags", max, .. } if max == MAX_TAGS_BYTES),
        "{err:?}"
    );
    let mut many = artifact("shop", 2, 0.5);
    for i in 0..20_000 {
        many = many.with_metric(format!("metric_{i}"), 0.5);
    }
    let err = reg_err(reg.register(many));
    assert!(
        matches!(err, RegistryError::SummaryTooLarge { field: "metrics", max, .. } if max == MAX_METRICS_BYTES),
        "{err:?}"
    );
    let err = reg_err(reg.set_tag("shop", 1, "notes", &big));
    assert!(
        matches!(err, RegistryError::SummaryTooLarge { .. }),
        "{err:?}"
    );

    assert_eq!(reg.versions("shop", false).unwrap().len(), 1);
    assert_eq!(reg.models().unwrap(), ["shop"]);
    assert_eq!(
        reg.promote_best("shop", "auc", Better::Higher, "production")
            .unwrap(),
        1
    );
    // A number refused at register time is not burnt: the check runs
    // before the counter moves.
    assert_eq!(reg.register(artifact("shop", 2, 0.5)).unwrap(), 2);
}

/// Aliases are bounded too, so `aliases.json` always stays readable.
#[test]
fn aliases_per_model_are_bounded() {
    use modelhost::registry::MAX_ALIASES;
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    reg.register(artifact("shop", 2, 0.5)).unwrap();
    // Write the full alias file at once rather than 1,024 locked writes.
    let full: std::collections::BTreeMap<String, u64> =
        (0..MAX_ALIASES).map(|i| (format!("a{i}"), 1)).collect();
    std::fs::write(
        dir.path().join("shop/aliases.json"),
        serde_json::to_vec(&full).unwrap(),
    )
    .unwrap();
    let err = reg_err(reg.set_alias("shop", "one-more", 1));
    assert!(matches!(err, RegistryError::TooManyAliases { max, .. } if max == MAX_ALIASES));
    // Moving an existing alias is still fine.
    assert_eq!(reg.set_alias("shop", "a7", 1).unwrap(), Some(1));
}

/// A store that counts the reads of version listings and summaries made
/// while its writer lock is not held.
#[derive(Debug)]
struct LockSpy {
    inner: modelhost::registry::FsStore,
    locked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    unlocked_reads: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct SpyGuard(
    #[allow(dead_code)] Box<dyn std::fmt::Debug + Send>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

impl Drop for SpyGuard {
    fn drop(&mut self) {
        self.1.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl LockSpy {
    fn note(&self, key: &str) {
        if key.contains("/versions") && !self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            self.unlocked_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl modelhost::registry::RegistryStore for LockSpy {
    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        self.note(key);
        self.inner.get(key, max)
    }
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        self.inner.put(key, bytes)
    }
    fn delete(&self, key: &str) -> Result<(), RegistryError> {
        self.inner.delete(key)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), RegistryError> {
        self.inner.rename(from, to)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, RegistryError> {
        self.note(prefix);
        self.inner.list(prefix)
    }
    fn lock(&self, scope: &str) -> Result<Box<dyn std::fmt::Debug + Send>, RegistryError> {
        let guard = self.inner.lock(scope)?;
        self.locked.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Box::new(SpyGuard(guard, self.locked.clone())))
    }
}

/// `promote` listed the versions outside the lock and then moved the alias
/// under it, so a `gc` in between made it fail; now every read it makes
/// happens under the lock.
#[test]
fn promote_reads_the_versions_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let spy = std::sync::Arc::new(LockSpy {
        inner: modelhost::registry::FsStore::open(dir.path()).unwrap(),
        locked: Default::default(),
        unlocked_reads: Default::default(),
    });
    let reg = Registry::with_store(spy.clone());
    reg.register(artifact("shop", 2, 0.6)).unwrap();
    reg.register(artifact("shop", 3, 0.8)).unwrap();
    spy.unlocked_reads
        .store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        reg.promote_best("shop", "auc", Better::Higher, "production")
            .unwrap(),
        2
    );
    assert_eq!(
        spy.unlocked_reads.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
