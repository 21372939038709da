//! A structure-aware fuzzer for the artifact reader. Artifacts of every
//! built-in kind are mutated where they mean something (header JSON values
//! swapped for hostile ones, members dropped, arrays grown, payload bits
//! flipped, counts overwritten, truncations, splices of two artifacts,
//! recorded lengths tampered), then sealed with a fresh checksum so the
//! mutation reaches the header and payload checks instead of stopping at the
//! checksum. Every case goes through every public read path (verified read,
//! unverified header, load with warm-up) and must end in a typed error or a
//! model that serves; a panic fails the case.
//!
//! `MODELHOST_FUZZ_CASES` sets the number of cases (default 1,500, what CI
//! runs); e.g. `MODELHOST_FUZZ_CASES=200000 cargo test --release
//! --all-features --test artifact_fuzz` for a long run. Failures are kept
//! in `tests/artifact_fuzz.proptest-regressions` and replayed first; the
//! findings of earlier hostile-file runs are replayed as fixed seeds by
//! `past_findings_are_refused_with_typed_errors`.

#[path = "../examples/common/mod.rs"]
mod common;

use std::sync::OnceLock;

use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ArtifactError, FORMAT_VERSION, MAGIC, ReadOptions};
use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
use modelhost::{InProcessServer, Model, ModelServer, PredictRequest};
use ndarray::Array1;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A seed artifact, split into its header JSON and payload.
#[derive(Debug, Clone)]
struct Seed {
    header: Value,
    payload: Vec<u8>,
}

/// One artifact of each built-in kind (two tree ensembles), made once.
fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let (rows, labels) = common::webshop_data(300, 11, 0.0);
        let schema = common::webshop_schema();
        let batch = schema.validate_batch(&rows).unwrap();
        let data = Dataset::new(batch.rows().to_owned(), Array1::from(labels));
        let tree = DecisionTree::params()
            .max_depth(Some(4))
            .fit(&data)
            .unwrap();
        let logit = linfa_logistic::LogisticRegression::default()
            .max_iterations(20)
            .fit(&data)
            .unwrap();
        let forest = RandomForestParams::new_fixed_rng(
            DecisionTree::params().max_depth(Some(3)),
            Xoshiro256PlusPlus::seed_from_u64(1),
        )
        .ensemble_size(3)
        .fit(&data)
        .unwrap();
        let x = batch.rows().to_owned();
        let y: Array1<f64> = x
            .rows()
            .into_iter()
            .map(|r| 0.5 * r[1] - r[2] / 100.0)
            .collect();
        let linear = linfa_linear::LinearRegression::default()
            .fit(&Dataset::new(x, y))
            .unwrap();
        let targets = data.targets().to_vec();
        [
            Artifact::decision_tree("t", &tree, &schema, common::LABELS, (&batch, &targets[..]))
                .unwrap(),
            Artifact::logistic_regression("l", &logit, &schema, common::LABELS, &batch).unwrap(),
            Artifact::random_forest("f", &forest, &schema, common::LABELS, &batch).unwrap(),
            Artifact::linear_regression("r", &linear, &schema, &batch).unwrap(),
            imported("x", ImportFormat::Xgboost, "xgb_binary.json"),
            imported("g", ImportFormat::LightGbm, "lgb_multiclass.txt"),
        ]
        .into_iter()
        .map(|a| {
            let bytes = a.to_bytes().unwrap();
            let h = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
            Seed {
                header: serde_json::from_slice(&bytes[28..28 + h]).unwrap(),
                payload: bytes[28 + h..bytes.len() - 32].to_vec(),
            }
        })
        .collect()
    })
}

/// A tree ensemble imported from a checked-in model (categorical splits,
/// missing values), with warm-up rows from the checked-in data.
fn imported(name: &str, format: ImportFormat, file: &str) -> Artifact {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import");
    let schema = SchemaFile::read(dir.join("schema.json")).unwrap();
    let options = ImportOptions::new();
    let model = import::import_file(format, dir.join(file), Some(&schema), &options).unwrap();
    let reference =
        import::read_reference_csv(dir.join("data.csv"), model.model.schema(), &options).unwrap();
    model.to_artifact(name, Some(&reference)).unwrap()
}

/// Magic, format version, the given lengths, header, payload and a fresh
/// SHA-256 over all of it.
fn seal(header: &[u8], payload: &[u8], lengths: (u64, u64)) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&lengths.0.to_le_bytes());
    out.extend_from_slice(&lengths.1.to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Values that have broken parsers before: bounds of every integer width,
/// non-integral and non-finite-looking numbers, empty and odd strings,
/// empty and wrong-typed containers.
fn hostile_value(k: u8, n: u64) -> Value {
    match k % 16 {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(i64::MIN),
        4 => json!(1u64 << 53),
        5 => json!(253_402_300_800u64),
        6 => json!(-0.9),
        7 => json!(1.7),
        8 => json!(1e308),
        9 => json!(""),
        10 => json!("\u{0}é\u{202e}"),
        11 => json!("x".repeat((n % 300) as usize)),
        12 => json!([]),
        13 => json!({}),
        14 => json!(null),
        _ => json!(n),
    }
}

/// The number of JSON nodes in `v` (iterative).
fn count_nodes(v: &Value) -> usize {
    let mut stack = vec![v];
    let mut n = 0;
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    n
}

/// The `i`-th node of `v` in the order of [`count_nodes`] (iterative).
fn node_mut(v: &mut Value, i: usize) -> &mut Value {
    let mut stack: Vec<&mut Value> = vec![v];
    let mut seen = 0;
    while let Some(v) = stack.pop() {
        if seen == i {
            return v;
        }
        seen += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Object(o) => stack.extend(o.values_mut()),
            _ => {}
        }
    }
    unreachable!("node {i} of {seen}")
}

/// One mutation; the numbers pick where and what.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace a header node with a hostile value.
    Value { at: u64, k: u8, n: u64 },
    /// Remove a member or element of a header container.
    Remove { at: u64, which: u64 },
    /// Repeat an element of a header array `times` times.
    Grow { at: u64, which: u64, times: u16 },
    /// Flip one payload bit.
    Flip { at: u64, bit: u8 },
    /// Overwrite 8 payload bytes with a hostile count.
    Count { at: u64, k: u8 },
    /// Cut the payload short.
    Truncate { at: u64 },
    /// Take the payload of another seed.
    Splice { other: u8 },
    /// Record wrong lengths: moving the boundary between header and payload
    /// (the sum still matches the file), or not adding up.
    Lengths { dh: i16, dp: i16, keep_sum: bool },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<u64>(), any::<u8>(), any::<u64>()).prop_map(|(at, k, n)| Mutation::Value { at, k, n }),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(at, which)| Mutation::Remove { at, which }),
        1 => (any::<u64>(), any::<u64>(), 1u16..2000).prop_map(|(at, which, times)| Mutation::Grow { at, which, times }),
        3 => (any::<u64>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        2 => (any::<u64>(), any::<u8>()).prop_map(|(at, k)| Mutation::Count { at, k }),
        1 => any::<u64>().prop_map(|at| Mutation::Truncate { at }),
        1 => any::<u8>().prop_map(|other| Mutation::Splice { other }),
        1 => (-64i16..64, -64i16..64, any::<bool>())
            .prop_map(|(dh, dp, keep_sum)| Mutation::Lengths { dh, dp, keep_sum }),
    ]
}

/// Applies `mutations` to seed `seed` and seals the result.
fn mutate(seed: usize, mutations: &[Mutation]) -> Vec<u8> {
    let seeds = seeds();
    let Seed {
        mut header,
        mut payload,
    } = seeds[seed % seeds.len()].clone();
    let mut lengths_delta = (0i64, 0i64);
    for m in mutations {
        match *m {
            Mutation::Value { at, k, n } => {
                let i = (at % count_nodes(&header) as u64) as usize;
                *node_mut(&mut header, i) = hostile_value(k, n);
            }
            Mutation::Remove { at, which } => {
                let i = (at % count_nodes(&header) as u64) as usize;
                match node_mut(&mut header, i) {
                    Value::Array(a) if !a.is_empty() => {
                        a.remove((which % a.len() as u64) as usize);
                    }
                    Value::Object(o) if !o.is_empty() => {
                        let key = o.keys().nth((which % o.len() as u64) as usize).cloned();
                        o.remove(&key.unwrap());
                    }
                    _ => {}
                }
            }
            Mutation::Grow { at, which, times } => {
                let i = (at % count_nodes(&header) as u64) as usize;
                if let Value::Array(a) = node_mut(&mut header, i)
                    && !a.is_empty()
                {
                    let item = a[(which % a.len() as u64) as usize].clone();
                    a.extend(std::iter::repeat_n(item, times as usize));
                }
            }
            Mutation::Flip { at, bit } if !payload.is_empty() => {
                let i = (at % payload.len() as u64) as usize;
                payload[i] ^= 1 << bit;
            }
            Mutation::Count { at, k } if payload.len() >= 8 => {
                let i = (at % (payload.len() as u64 - 7)) as usize;
                let v: u64 = match k % 6 {
                    0 => 0,
                    1 => 1,
                    2 => u64::MAX,
                    3 => payload.len() as u64,
                    4 => 1 << 32,
                    _ => u64::from(k),
                };
                payload[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            Mutation::Truncate { at } => {
                let len = (at % (payload.len() as u64 + 1)) as usize;
                payload.truncate(len);
            }
            Mutation::Splice { other } => {
                payload = seeds[other as usize % seeds.len()].payload.clone();
            }
            Mutation::Lengths { dh, dp, keep_sum } => {
                let dp = if keep_sum { -dh } else { dp };
                lengths_delta = (i64::from(dh), i64::from(dp));
            }
            Mutation::Flip { .. } | Mutation::Count { .. } => {}
        }
    }
    let header = serde_json::to_vec(&header).unwrap();
    let lengths = (
        (header.len() as i64 + lengths_delta.0).max(0) as u64,
        (payload.len() as i64 + lengths_delta.1).max(0) as u64,
    );
    seal(&header, &payload, lengths)
}

/// Every read path on `bytes`: each ends in a typed error or a model that
/// predicts its own warm-up rows and a row of defaults without failing
/// the process.
fn read_every_way(bytes: &[u8]) -> Result<(), ArtifactError> {
    let options = ReadOptions::new();
    let _ = Artifact::header_unverified(bytes, options);
    let artifact = Artifact::from_bytes(bytes, options)?;
    // What was read writes back to the same bytes' meaning.
    let again = Artifact::from_bytes(&artifact.to_bytes()?, options)?;
    assert_eq!(again.header(), artifact.header());
    let loaded = artifact.into_loaded(options)?;
    let Ok(deployment) = loaded.deployment() else {
        return Ok(());
    };
    if let Ok(server) = InProcessServer::new(deployment) {
        let rows = &loaded.header.warmup.rows;
        let width = loaded.header.schema.len();
        if rows.iter().all(|r| r.len() == width) {
            let flat: Vec<f64> = rows.iter().flatten().copied().collect();
            let x = ndarray::Array2::from_shape_vec((rows.len(), width), flat).unwrap();
            let _ = server.predict(PredictRequest::encoded(&x));
        }
        let _ = server.predict(PredictRequest::new(&modelhost::FeatureMap::new()));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("MODELHOST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_artifacts_end_in_a_typed_error_or_a_working_model(
        seed in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let _ = read_every_way(&mutate(seed, &mutations));
    }
}

/// Every seed is a good artifact: the fuzzer starts from files that load.
#[test]
fn the_seeds_load() {
    for (i, seed) in seeds().iter().enumerate() {
        let bytes = mutate(i, &[]);
        assert!(
            read_every_way(&bytes).is_ok(),
            "seed {i}: {:?}",
            seed.header["model_kind"]
        );
    }
}

/// The findings of earlier hostile-file runs, as fixed seeds: each is
/// refused with a typed error on every read path.
#[test]
fn past_findings_are_refused_with_typed_errors() {
    let tree = &seeds()[0];
    let with = |pointer: &str, value: Value| {
        let mut h = tree.header.clone();
        *h.pointer_mut(pointer).unwrap() = value;
        let header = serde_json::to_vec(&h).unwrap();
        seal(
            &header,
            &tree.payload,
            (header.len() as u64, tree.payload.len() as u64),
        )
    };
    let findings = [
        (
            "created_at past year 9999",
            with("/created_at", json!(253_402_300_800u64)),
        ),
        ("created_at u64::MAX", with("/created_at", json!(u64::MAX))),
        ("version u64::MAX", with("/version", json!(u64::MAX))),
        ("empty label", with("/output/labels/0", json!(""))),
        (
            "duplicate labels",
            with("/output/labels", json!(["buy", "buy"])),
        ),
        (
            "fractional expectation",
            with("/warmup/expected/0", json!(1.7)),
        ),
        (
            "negative expectation",
            with("/warmup/expected/0", json!(-0.9)),
        ),
        (
            "bounds excluding the warm-up rows",
            with("/schema/features/0/max", json!(-1.0)),
        ),
        (
            "a million empty labels",
            with("/output/labels", json!(vec![""; 1_000_000])),
        ),
    ];
    for (name, bytes) in findings {
        let e = read_every_way(&bytes).expect_err(name);
        assert!(!matches!(e, ArtifactError::Io { .. }), "{name}: {e}");
        assert!(
            Artifact::header_unverified(&bytes, ReadOptions::new()).is_err(),
            "{name}"
        );
    }
}
