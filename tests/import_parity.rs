//! Parity with the real libraries: every model that `scripts/parity_models.py`
//! trained (XGBoost, LightGBM, scikit-learn; every supported objective, data
//! with NaNs and a categorical column) is imported and predicts the same
//! 10,000 rows: classes identical, probabilities and scores within 1e-6;
//! packed as an artifact and loaded back, each predicts the same again.
//!
//! `.ci/parity.sh` trains the models and runs this test with
//! `MODELHOST_PARITY_DIR` set; without it the test says so and passes.

use std::collections::BTreeMap;
use std::path::Path;

use modelhost::Model;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
use ndarray::Array2;

const TOLERANCE: f64 = 1e-6;

/// Above 1e9 an absolute 1e-6 is less than an ulp of an `f64`: there the
/// tolerance is relative, a few ulps (exp of a large margin, say, may
/// round differently in two math libraries).
const RELATIVE: f64 = 1e-15;

fn read_matrix(path: &Path) -> (Vec<String>, Array2<f64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut values = Vec::new();
    let mut n = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        values.extend(line.split(',').map(|v| {
            if v == "nan" {
                f64::NAN
            } else {
                v.parse::<f64>().unwrap()
            }
        }));
        n += 1;
    }
    let width = head.len();
    (head, Array2::from_shape_vec((n, width), values).unwrap())
}

#[test]
fn imported_models_predict_what_the_libraries_predict() {
    let Some(dir) = std::env::var_os("MODELHOST_PARITY_DIR") else {
        eprintln!(
            "skipped: MODELHOST_PARITY_DIR is not set (run .ci/parity.sh to train the models with \
             the real libraries and compare)"
        );
        return;
    };
    let dir = Path::new(&dir);
    let manifest: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(!manifest.is_empty(), "no models in the manifest");
    let mut failures = Vec::new();
    for entry in &manifest {
        let s = |k: &str| entry[k].as_str().unwrap().to_string();
        let name = s("name");
        let format: ImportFormat = s("format").parse().unwrap();
        // An early-stopped XGBoost model is compared twice: whole against
        // `Booster.inplace_predict`, cut at its best iteration against the
        // scikit-learn wrapper's `predict_proba`.
        let best = entry
            .get("best_iteration")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        // Each model's own schema file where it names one (the random
        // sweep), else the directory's.
        let schema_path = entry
            .get("schema")
            .and_then(|d| d.as_str())
            .unwrap_or("schema.json");
        let schema = SchemaFile::read(dir.join(schema_path)).unwrap();
        let imported = import::import_file(
            format,
            dir.join(s("model")),
            Some(&schema),
            &ImportOptions::new().best_iteration(best),
        );
        let imported = match imported {
            Ok(m) => m,
            Err(e) => {
                println!("{name:<20} {format:<9} refused: {e}");
                failures.push(format!("{name}: refused: {e}"));
                continue;
            }
        };
        let data = entry
            .get("data")
            .and_then(|d| d.as_str())
            .unwrap_or("data.csv");
        let (_, rows) = read_matrix(&dir.join(data));
        let (head, expected) = read_matrix(&dir.join(s("predictions")));
        let got = imported.model.predict_batch(rows.view()).unwrap();
        assert_eq!(got.len(), rows.nrows());
        // Packed as an artifact and read back (the flat payload, its
        // checks), the model predicts the same.
        let options = ReadOptions::new();
        let bytes = imported
            .to_artifact(&name, None)
            .unwrap()
            .to_bytes()
            .unwrap();
        let loaded = Artifact::from_bytes(&bytes, options)
            .and_then(|a| a.into_loaded(options))
            .unwrap_or_else(|e| panic!("{name}: artifact round trip: {e}"));
        assert_eq!(
            loaded.model.predict_batch(rows.view()).unwrap(),
            got,
            "{name}: loaded from its artifact"
        );
        // A row predicted on its own walks each tree its own way (with
        // branches); it must score exactly as in the batch, which is
        // compared with the library below.
        for i in 0..rows.nrows().min(300) {
            let one = imported
                .model
                .predict_batch(rows.slice_axis(ndarray::Axis(0), (i..i + 1).into()))
                .unwrap();
            assert_eq!(one, got.slice(i..i + 1), "{name}: row {i} alone");
        }
        let mut max_diff = 0.0f64;
        // Differences over the tolerance at each value's scale.
        let mut over = 0;
        let mut compare = |got: f64, want: f64| {
            // Equal, infinities included (exp of a large margin).
            if got == want {
                return;
            }
            let diff = (got - want).abs();
            max_diff = max_diff.max(diff);
            if diff > TOLERANCE.max(RELATIVE * want.abs()) || diff.is_nan() {
                over += 1;
            }
        };
        let mut class_mismatches = 0;
        if head[0] == "class" {
            let classes = got.class_indices().expect("a classifier");
            for i in 0..rows.nrows() {
                if classes[i] as f64 != expected[(i, 0)] {
                    if class_mismatches == 0 {
                        println!(
                            "{name}: row {i} is class {} here, {} there; probabilities {:?} \
                             here, {:?} there",
                            classes[i],
                            expected[(i, 0)],
                            got.probabilities(i),
                            expected.row(i).iter().skip(1).collect::<Vec<_>>()
                        );
                    }
                    class_mismatches += 1;
                }
                let p = got.probabilities(i).expect("probabilities");
                assert_eq!(p.len(), head.len() - 1, "{name}: probability count");
                for (j, v) in p.iter().enumerate() {
                    compare(*v, expected[(i, j + 1)]);
                }
            }
        } else {
            let scores = got.score_values().expect("scores");
            for (i, v) in scores.iter().enumerate() {
                compare(*v, expected[(i, 0)]);
            }
        }
        println!(
            "{name:<20} {format:<9} {:>5} trees  max |diff| {max_diff:.3e}  class mismatches {class_mismatches}",
            imported.model.n_trees()
        );
        if over > 0 || class_mismatches > 0 {
            failures.push(format!(
                "{name}: max diff {max_diff:e}, {over} values over the tolerance, \
                 {class_mismatches} class mismatches"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "parity failures:\n{}",
        failures.join("\n")
    );
}
