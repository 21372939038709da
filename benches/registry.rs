//! Registry operations on a directory and on an S3 server, side by side.
//!
//! - `registry/<store>/register`: a new version (take the number, upload
//!   artifact and summary, mark it active).
//! - `registry/<store>/resolve`: `NAME@ALIAS` to a version; on S3 one
//!   conditional GET of the model index (usually `304 Not Modified`).
//!   This is what every replica's alias watcher pays per poll.
//! - `registry/<store>/alias_move`: point an alias elsewhere (read the
//!   index, write it back on condition).
//! - `registry/<store>/load_cold` and `load_cached`: resolve, fetch and
//!   check the artifact (SHA-256 against the summary), decode and validate
//!   the model; `load_cached` reads the artifact from the local cache.
//!
//! The S3 rows need the local server of `.ci/object-stores.sh` (SeaweedFS,
//! started here on 127.0.0.1); without it only the directory rows run.
//! `cargo bench --features s3,azure --bench registry`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;
#[cfg(all(feature = "s3", feature = "azure"))]
#[path = "../tests/support/ports.rs"]
mod ports;
#[cfg(all(feature = "s3", feature = "azure"))]
#[path = "../tests/support/object_servers.rs"]
mod servers;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::{ModelRef, Registry};

fn run(c: &mut Criterion, store: &str, open: &dyn Fn() -> Registry, cache: &std::path::Path) {
    let small = common::tree_artifact("small", 300, 5, 3).unwrap();
    let large: Artifact = common::tree_artifact("large", 20_000, 5, 14).unwrap();
    let reg = open();
    reg.register(small.clone()).unwrap();
    reg.set_alias("small", "production", 1).unwrap();
    let v = reg.register(large.clone()).unwrap();
    reg.set_alias("large", "production", v).unwrap();
    let size = reg.version_info("large", v).unwrap().size;
    eprintln!("{store}: the loaded artifact is {size} bytes");

    let mut group = c.benchmark_group(format!("registry/{store}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("register", |b| {
        b.iter(|| black_box(reg.register(small.clone()).unwrap()))
    });
    let production: ModelRef = "small@production".parse().unwrap();
    group.bench_function("resolve", |b| {
        b.iter(|| black_box(reg.resolve(&production).unwrap()))
    });
    let mut flip = 0u64;
    group.bench_function("alias_move", |b| {
        b.iter(|| {
            flip = 1 + flip % 2;
            black_box(reg.set_alias("small", "staging", flip).unwrap())
        })
    });
    let large_ref: ModelRef = "large@production".parse().unwrap();
    group.bench_function("load_cold", |b| {
        b.iter(|| black_box(reg.load(&large_ref, ReadOptions::new()).unwrap()))
    });
    let cached = open().with_cache(cache, 1 << 30).unwrap();
    cached.load(&large_ref, ReadOptions::new()).unwrap();
    group.bench_function("load_cached", |b| {
        b.iter(|| black_box(cached.load(&large_ref, ReadOptions::new()).unwrap()))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    run(
        c,
        "directory",
        &|| Registry::open(dir.path()).unwrap(),
        &cache.path().join("dir"),
    );
    #[cfg(all(feature = "s3", feature = "azure"))]
    if let Some(python) = servers::python() {
        let server = servers::Server::start(&python, servers::Kind::S3);
        run(c, "s3", &|| server.open("bench"), &cache.path().join("s3"));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
