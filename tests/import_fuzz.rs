//! Hostile model files: every model under `tests/data/import/` mutated at
//! random (bytes overwritten, numbers swapped for hostile ones, lines
//! dropped or repeated, the file cut) must import to a typed error of
//! bounded length or to a model that predicts rows (NaN, infinities and
//! values far outside training included) without panicking, with and
//! without a schema file, and round-trips through an artifact.
//!
//! `PROPTEST_CASES` sets the number of mutants per file (default 96).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use modelhost::Deployment;
use modelhost::artifact::{Artifact, ArtifactError, ReadOptions};
use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
use modelhost::model::Model;
use ndarray::Array2;
use proptest::prelude::*;

const FILES: [(&str, ImportFormat); 10] = [
    ("xgb_binary.json", ImportFormat::Xgboost),
    ("xgb2_binary.json", ImportFormat::Xgboost),
    ("xgb2_early_stopped.json", ImportFormat::Xgboost),
    ("xgb_softprob.json", ImportFormat::Xgboost),
    ("xgb_named_cats.json", ImportFormat::Xgboost),
    ("lgb_binary.txt", ImportFormat::LightGbm),
    ("lgb_multiclass.txt", ImportFormat::LightGbm),
    ("lgb_named_cats.txt", ImportFormat::LightGbm),
    ("sk_forest_clf.json", ImportFormat::Sklearn),
    ("sk_hgb_reg.json", ImportFormat::Sklearn),
];

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(file)
}

/// Numbers a hostile file puts where the model had one.
const HOSTILE: [&str; 16] = [
    "-1",
    "0",
    "1e308",
    "-1e308",
    "1e999",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999",
    "-0",
    "1.5",
    "2147483648",
];

/// One change to a model file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrite the byte at this fraction of the file.
    Byte(f64, u8),
    /// Replace the n-th number (wrapping) with a hostile one.
    Number(usize, usize),
    /// Replace the n-th number with the m-th (wrapping): values in range
    /// but in the wrong place, such as a child index pointing back up.
    Swap(usize, usize),
    /// Drop the n-th line (wrapping).
    DropLine(usize),
    /// Repeat the n-th line (wrapping).
    RepeatLine(usize),
    /// Cut the file at this fraction.
    Cut(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Mutation::Byte(at, b)),
        4 => (any::<usize>(), 0..HOSTILE.len()).prop_map(|(n, h)| Mutation::Number(n, h)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(n, m)| Mutation::Swap(n, m)),
        1 => any::<usize>().prop_map(Mutation::DropLine),
        1 => any::<usize>().prop_map(Mutation::RepeatLine),
        1 => (0.0..1.0f64).prop_map(Mutation::Cut),
    ]
}

/// Byte ranges of the numbers in `bytes` (a digit run, with a sign,
/// point and exponent).
fn numbers(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit()
                    || matches!(bytes[end], b'.' | b'e' | b'E' | b'-' | b'+'))
            {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match *m {
        Mutation::Byte(at, b) => {
            let i = ((at * out.len() as f64) as usize).min(out.len() - 1);
            out[i] = b;
        }
        Mutation::Number(n, h) => {
            let all = numbers(&out);
            if !all.is_empty() {
                let (s, e) = all[n % all.len()];
                out.splice(s..e, HOSTILE[h].bytes());
            }
        }
        Mutation::Swap(n, m) => {
            let all = numbers(&out);
            if !all.is_empty() {
                let (s, e) = all[n % all.len()];
                let (fs, fe) = all[m % all.len()];
                let from = bytes[fs..fe].to_vec();
                out.splice(s..e, from);
            }
        }
        Mutation::DropLine(n) | Mutation::RepeatLine(n) => {
            let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            let k = n % lines.len();
            if matches!(m, Mutation::DropLine(_)) {
                lines.remove(k);
            } else {
                lines.insert(k, lines[k]);
            }
            out = lines.join(&b'\n');
        }
        Mutation::Cut(at) => out.truncate((at * out.len() as f64) as usize),
    }
    out
}

/// Rows that probe a model: ordinary values, NaN, infinities, extremes and
/// category codes in and out of range.
fn probes(width: usize) -> Array2<f64> {
    let values = [
        0.0,
        1.0,
        -1.0,
        0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        3.0,
        1e9,
        -0.0,
    ];
    let rows = 2 * values.len();
    Array2::from_shape_fn((rows, width), |(r, c)| {
        values[(r + c * (r / values.len() + 1)) % values.len()]
    })
}

/// An artifact's bytes loaded as a server would: checked, decoded,
/// warmed up.
fn load_back(bytes: &[u8]) -> Result<Deployment, ArtifactError> {
    let options = ReadOptions::new();
    Artifact::from_bytes(bytes, options)?
        .into_loaded(options)?
        .deployment()
}

/// Imports `bytes`, and when that succeeds predicts the probes (one by
/// one and as a batch) and round-trips the model through an artifact.
fn exercise(format: ImportFormat, bytes: &[u8], schema: Option<&SchemaFile>) -> Result<(), String> {
    let imported = match import::import_bytes(format, bytes, schema, &ImportOptions::new()) {
        Ok(i) => i,
        Err(e) => {
            let message = e.to_string();
            if message.len() > 2_000 {
                return Err(format!("an unbounded message: {} bytes", message.len()));
            }
            return Ok(());
        }
    };
    let model = &imported.model;
    let rows = probes(model.schema().len());
    let batch = model
        .predict_batch(rows.view())
        .map_err(|e| format!("imported, then failed to predict: {e}"))?;
    for i in 0..rows.nrows() {
        let one = model
            .predict_batch(rows.select(ndarray::Axis(0), &[i]).view())
            .map_err(|e| format!("row {i}: {e}"))?;
        let (a, b) = (one.get(0, model.output()), batch.get(i, model.output()));
        // Compared as printed, so that NaN scores (an overflow to
        // inf - inf) compare equal.
        if format!("{a:?}") != format!("{b:?}") {
            return Err(format!("row {i} alone {a:?}, in the batch {b:?}"));
        }
    }
    let artifact = Artifact::tree_ensemble("fuzz", model, None)
        .map_err(|e| format!("imported, not made an artifact: {e}"))?;
    let bytes = match artifact.to_bytes() {
        Ok(bytes) => bytes,
        // A header a load would refuse (a mutant with tens of thousands
        // of features) is refused when packed, by name.
        Err(ArtifactError::Header { reason }) if reason.contains("refused on load") => {
            return Ok(());
        }
        Err(e) => return Err(format!("imported, not packed: {e}")),
    };
    let again = load_back(&bytes)
        .map_err(|e| format!("packed, not loaded back: {e}"))?
        .predict(rows.view())
        .map_err(|e| format!("loaded back, failed to predict: {e}"))?;
    if format!("{again:?}") != format!("{batch:?}") {
        return Err("the artifact predicts otherwise".into());
    }
    Ok(())
}

fn check(format: ImportFormat, bytes: &[u8]) -> Result<(), TestCaseError> {
    let schema = SchemaFile::read(data("schema.json")).unwrap();
    for schema in [Some(&schema), None] {
        let outcome = catch_unwind(AssertUnwindSafe(|| exercise(format, bytes, schema)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(TestCaseError::fail(e)),
            Err(_) => return Err(TestCaseError::fail("panicked")),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_model_files_are_refused_or_served(
        file in 0..FILES.len(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let (name, format) = FILES[file];
        let mut bytes = std::fs::read(data(name)).unwrap();
        for m in &mutations {
            if bytes.is_empty() {
                break;
            }
            bytes = apply(&bytes, m);
        }
        check(format, &bytes)?;
    }
}

/// `lgb_multiclass.txt` widened to `n` features (the extra ones unused).
fn widened(n: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(data("lgb_multiclass.txt")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let at = |key: &str| lines.iter().position(|l| l.starts_with(key)).unwrap();
    let (idx, names, infos) = (
        at("max_feature_idx="),
        at("feature_names="),
        at("feature_infos="),
    );
    let mut all: Vec<String> = lines[names]["feature_names=".len()..]
        .split(' ')
        .map(String::from)
        .collect();
    let mut ranges: Vec<String> = lines[infos]["feature_infos=".len()..]
        .split(' ')
        .map(String::from)
        .collect();
    for i in all.len()..n {
        all.push(format!("unused_{i}"));
        ranges.push("none".into());
    }
    lines[idx] = format!("max_feature_idx={}", n - 1);
    lines[names] = format!("feature_names={}", all.join(" "));
    lines[infos] = format!("feature_infos={}", ranges.join(" "));
    (lines.join("\n") + "\n").into_bytes()
}

/// The LightGBM fixture imported with `features` features.
fn import_widened(features: usize) -> import::Imported {
    import::import_bytes(
        ImportFormat::LightGbm,
        &widened(features),
        None,
        &ImportOptions::new(),
    )
    .unwrap()
}

/// A model of tens of thousands of features imports, but its artifact's
/// header (the schema) is priced over what a load allows: packing it is
/// refused by name, rather than registering a version no server can load.
/// A model of 10,000 features packs, loads and serves.
#[test]
fn wide_models_are_refused_when_packed_not_when_loaded() {
    let wide = import_widened(50_000);
    assert_eq!(wide.model.schema().len(), 50_000);
    let err = Artifact::tree_ensemble("wide", &wide.model, None)
        .unwrap()
        .to_bytes()
        .unwrap_err();
    assert!(
        matches!(&err, ArtifactError::Header { reason }
            if reason.contains("refused on load") && reason.contains("50000 features")),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let registry = modelhost::Registry::open(dir.path()).unwrap();
    assert!(
        registry
            .register(Artifact::tree_ensemble("wide", &wide.model, None).unwrap())
            .is_err()
    );
    // Refused before a version number was taken: the next one is 1.
    let narrow = import_widened(100);
    assert_eq!(
        registry
            .register(Artifact::tree_ensemble("wide", &narrow.model, None).unwrap())
            .unwrap(),
        1
    );

    let ok = import_widened(10_000);
    let bytes = Artifact::tree_ensemble("ok", &ok.model, None)
        .unwrap()
        .to_bytes()
        .unwrap();
    let deployment = load_back(&bytes).unwrap();
    let rows = probes(10_000);
    assert_eq!(
        format!("{:?}", deployment.predict(rows.view()).unwrap()),
        format!("{:?}", ok.model.predict_batch(rows.view()).unwrap())
    );
}
