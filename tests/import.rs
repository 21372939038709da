//! Importing models trained in Python, without Python: the small models
//! under `tests/data/import/` (made by `scripts/parity_models.py --small`)
//! with the libraries' own predictions of their first 200 rows. Imported,
//! registered, loaded back and served, they predict what the libraries
//! predicted; hostile files are refused with typed errors, never a panic.

use std::path::{Path, PathBuf};

use modelhost::artifact::{ModelKind, ReadOptions};
use modelhost::import::{self, ImportError, ImportFormat, ImportOptions, SchemaFile};
use modelhost::model::EnsembleLimits;
use modelhost::schema::FeatureKind;
use modelhost::{
    Deployment, FeatureMap, InProcessServer, Model, ModelServer, PredictRequest, Registry,
};
use ndarray::{Array2, Axis, Slice};

const MODELS: [(&str, ImportFormat, &str); 8] = [
    ("xgb_binary", ImportFormat::Xgboost, "json"),
    // XGBoost 2.x: `NaN` split conditions on categorical splits.
    ("xgb2_binary", ImportFormat::Xgboost, "json"),
    // Early stopping: every tree served by default, as `Booster` predicts.
    ("xgb2_early_stopped", ImportFormat::Xgboost, "json"),
    ("xgb_softprob", ImportFormat::Xgboost, "json"),
    ("lgb_binary", ImportFormat::LightGbm, "txt"),
    ("lgb_multiclass", ImportFormat::LightGbm, "txt"),
    ("sk_forest_clf", ImportFormat::Sklearn, "json"),
    ("sk_hgb_reg", ImportFormat::Sklearn, "json"),
];

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(file)
}

fn matrix(file: &str) -> (Vec<String>, Array2<f64>) {
    let text = std::fs::read_to_string(data(file)).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let values: Vec<f64> = lines
        .flat_map(|l| l.split(','))
        .map(|v| {
            if v == "nan" {
                f64::NAN
            } else {
                v.parse().unwrap()
            }
        })
        .collect();
    let width = head.len();
    let n = values.len() / width;
    (head, Array2::from_shape_vec((n, width), values).unwrap())
}

fn schema() -> SchemaFile {
    SchemaFile::read(data("schema.json")).unwrap()
}

fn import(name: &str, format: ImportFormat, ext: &str) -> import::Imported {
    import::import_file(
        format,
        data(&format!("{name}.{ext}")),
        Some(&schema()),
        &ImportOptions::new(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks predictions against the library's, row by row.
fn assert_parity(name: &str, got: &modelhost::Predictions) {
    let (head, expected) = matrix(&format!("{name}.pred.csv"));
    assert_eq!(got.len(), expected.nrows(), "{name}");
    for i in 0..expected.nrows() {
        if head[0] == "class" {
            assert_eq!(
                got.class_indices().unwrap()[i] as f64,
                expected[(i, 0)],
                "{name} row {i}"
            );
            let p = got.probabilities(i).unwrap();
            for j in 0..p.len() {
                assert!(
                    (p[j] - expected[(i, j + 1)]).abs() <= 1e-6,
                    "{name} row {i} class {j}: {} vs {}",
                    p[j],
                    expected[(i, j + 1)]
                );
            }
        } else {
            let s = got.score_values().unwrap()[i];
            assert!((s - expected[(i, 0)]).abs() <= 1e-6, "{name} row {i}");
        }
    }
}

#[test]
fn checked_in_models_predict_what_their_library_predicted() {
    let (_, rows) = matrix("data.csv");
    assert!(
        rows.iter().any(|v| v.is_nan()),
        "the data has missing values"
    );
    for (name, format, ext) in MODELS {
        let imported = import(name, format, ext);
        let got = imported.model.predict_batch(rows.view()).unwrap();
        assert_parity(name, &got);
        // One row at a time agrees with the batch.
        for i in [0, 17, 199] {
            let one = imported
                .model
                .predict_batch(rows.slice_axis(Axis(0), Slice::from(i..i + 1)))
                .unwrap();
            assert_eq!(
                one.get(0, imported.model.output()),
                got.get(i, imported.model.output())
            );
        }
    }
}

#[test]
fn an_early_stopped_xgboost_model_serves_all_trees_or_those_up_to_its_best_iteration() {
    let (_, rows) = matrix("data.csv");
    let file = data("xgb2_early_stopped.json");
    let all = import::import_file(
        ImportFormat::Xgboost,
        &file,
        Some(&schema()),
        &ImportOptions::new(),
    )
    .unwrap();
    let best = import::import_file(
        ImportFormat::Xgboost,
        &file,
        Some(&schema()),
        &ImportOptions::new().best_iteration(true),
    )
    .unwrap();
    assert!(best.model.n_trees() < all.model.n_trees());
    // Each way names its choice, with both tree counts.
    let (n_all, n_best) = (
        all.model.n_trees().to_string(),
        best.model.n_trees().to_string(),
    );
    for imported in [&all, &best] {
        assert_eq!(imported.notes.len(), 1, "{:?}", imported.notes);
        let note = &imported.notes[0];
        assert!(
            note.contains("best_iteration") && note.contains(&n_all) && note.contains(&n_best),
            "{note}"
        );
    }
    // Booster.inplace_predict's figures, and XGBClassifier.predict_proba's.
    assert_parity(
        "xgb2_early_stopped",
        &all.model.predict_batch(rows.view()).unwrap(),
    );
    assert_parity(
        "xgb2_early_stopped_best",
        &best.model.predict_batch(rows.view()).unwrap(),
    );
    // A model without early stopping has nothing to note.
    assert!(
        import("xgb_binary", ImportFormat::Xgboost, "json")
            .notes
            .is_empty()
    );
}

#[test]
fn registered_versions_load_back_and_serve_with_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    let (_, rows) = matrix("data.csv");
    for (name, format, ext) in MODELS {
        let imported = import(name, format, ext);
        // Reference rows: the data's rows without missing values, through the CSV reader.
        let reference = import::read_reference_csv(
            data("data.csv"),
            imported.model.schema(),
            &ImportOptions::new(),
        )
        .unwrap();
        assert_eq!(reference.len(), rows.nrows());
        let version = import::register(&registry, name, &imported, Some(&reference)).unwrap();
        let loaded = registry
            .load(&name.parse().unwrap(), ReadOptions::new())
            .unwrap();
        assert_eq!(loaded.header.version, version);
        assert_eq!(loaded.header.model_kind, ModelKind::TREE_ENSEMBLE);
        assert!(
            !loaded.header.warmup.rows.is_empty(),
            "{name}: warm-up rows"
        );
        assert!(
            loaded.header.reference.is_some(),
            "{name}: reference statistics"
        );
        assert_eq!(
            loaded.header.tags.get("imported_from").map(String::as_str),
            Some(&*format.to_string())
        );
        assert_parity(name, &loaded.model.predict_batch(rows.view()).unwrap());

        // Served in process, from named features (the categorical by level).
        let server = InProcessServer::new(loaded.deployment().unwrap()).unwrap();
        let levels = ["a", "b", "c", "d", "e"];
        let maps: Vec<FeatureMap> = rows
            .rows()
            .into_iter()
            .take(20)
            .map(|r| {
                let mut m = FeatureMap::new();
                for (j, f) in ["f0", "f1", "f2", "f3", "f4"].iter().enumerate() {
                    m = m.with(*f, r[j]);
                }
                m.with("cat", levels[r[5] as usize])
            })
            .collect();
        let response = server.predict(PredictRequest::rows(&maps[..])).unwrap();
        let direct = imported
            .model
            .predict_batch(rows.slice_axis(Axis(0), Slice::from(..20)))
            .unwrap();
        assert_eq!(response.predictions, direct, "{name}");
        assert_eq!(
            response.output.has_probabilities(),
            direct.class_indices().is_some()
        );
    }
}

#[test]
fn the_schema_file_supplies_labels_and_bounds() {
    let file = SchemaFile::from_json(
        br#"{"features": [{"name": "f2", "type": "float", "min": -10, "max": 10},
                          {"name": "cat", "type": "categorical", "levels": ["a","b","c","d","e"]}],
             "labels": ["no", "yes"]}"#,
    )
    .unwrap();
    let imported = import::import_file(
        ImportFormat::LightGbm,
        data("lgb_binary.txt"),
        Some(&file),
        &ImportOptions::new(),
    )
    .unwrap();
    let schema = imported.model.schema();
    assert_eq!(
        imported.model.output().labels().unwrap()[..],
        ["no".to_string(), "yes".to_string()]
    );
    assert!(
        schema
            .validate(
                &FeatureMap::new()
                    .with("f0", 1.0)
                    .with("f1", 0.0)
                    .with("f2", 11.0)
                    .with("f3", 0.0)
                    .with("f4", 0.0)
                    .with("cat", "a")
            )
            .is_err(),
        "f2 is bounded"
    );
    // Without the schema file LightGBM's categorical codes are the vocabulary.
    let bare = import::import_file(
        ImportFormat::LightGbm,
        data("lgb_binary.txt"),
        None,
        &ImportOptions::new(),
    )
    .unwrap();
    let (_, cat) = bare.model.schema().feature("cat").unwrap();
    assert!(
        matches!(cat.kind(), modelhost::schema::FeatureKind::Categorical { levels, .. } if levels == &["0", "1", "2", "3", "4"]),
        "{:?}",
        cat.kind()
    );
    // scikit-learn's HistGradientBoosting names no levels: the schema file must.
    let err = import::import_file(
        ImportFormat::Sklearn,
        data("sk_hgb_reg.json"),
        None,
        &ImportOptions::new(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Schema { reason } if reason.contains("`cat`")),
        "{err}"
    );
    // Too many labels for a binary model, a feature the model lacks.
    for bad in [
        br#"{"labels": ["a", "b", "c"]}"#.as_slice(),
        br#"{"features": [{"name": "nope", "type": "float"}]}"#.as_slice(),
    ] {
        let err = import::import_file(
            ImportFormat::LightGbm,
            data("lgb_binary.txt"),
            Some(&SchemaFile::from_json(bad).unwrap()),
            &ImportOptions::new(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(err, ImportError::Schema { .. }), "{err}");
    }
}

#[test]
fn truncated_and_corrupted_files_are_refused_without_panicking() {
    for (name, format, ext) in MODELS {
        let bytes = std::fs::read(data(&format!("{name}.{ext}"))).unwrap();
        let step = (bytes.len() / 300).max(1);
        // LightGBM's trees end at `end of trees`; what follows (importances,
        // parameters) is not needed, so a cut after it still imports.
        let needed = match format {
            ImportFormat::LightGbm => {
                let end = b"end of trees";
                bytes.windows(end.len()).position(|w| w == end).unwrap() + end.len()
            }
            _ => bytes.len(),
        };
        for cut in (0..needed).step_by(step) {
            let r = import::import_bytes(
                format,
                &bytes[..cut],
                Some(&schema()),
                &ImportOptions::new(),
            );
            match r {
                Ok(_) => panic!("{name}: a model cut at byte {cut} imports"),
                Err(e) => assert!(e.to_string().len() < 1_000, "{name}: unbounded message"),
            }
        }
        // Flipped digits: either refused or a valid model; never a panic.
        let mut flipped = bytes.clone();
        for i in (0..flipped.len()).step_by(step) {
            if flipped[i].is_ascii_digit() {
                flipped[i] = b'9';
            }
        }
        let _ = import::import_bytes(format, &flipped, Some(&schema()), &ImportOptions::new());
    }
}

fn sklearn_doc(left: &str, right: &str, threshold: &str) -> Vec<u8> {
    format!(
        r#"{{"format": "modelhost-sklearn-trees", "format_version": 1, "estimator": "DecisionTreeRegressor",
            "n_features": 1, "feature_names": ["x"], "input": "float32", "link": "identity", "average": true,
            "groups": 1, "leaf_width": 1, "base": [0.0],
            "trees": [{{"group": 0, "left": {left}, "right": {right}, "feature": [0, 0, 0],
                       "threshold": {threshold}, "missing_left": [true, false, false], "value": [0.0, 1.0, 2.0]}}]}}"#
    )
    .into_bytes()
}

#[test]
fn invalid_trees_are_refused_naming_what_is_wrong() {
    let ok = sklearn_doc("[1, -1, -1]", "[2, -1, -1]", "[0.5, 0, 0]");
    assert!(import::import_bytes(ImportFormat::Sklearn, &ok, None, &ImportOptions::new()).is_ok());
    for (doc, expect) in [
        (
            sklearn_doc("[1, 0, -1]", "[2, 2, -1]", "[0.5, 0.5, 0]"),
            "twice",
        ),
        (
            sklearn_doc("[1, -1, -1]", "[7, -1, -1]", "[0.5, 0, 0]"),
            "out of range",
        ),
        (
            sklearn_doc("[1, -1, -1]", "[1, -1, -1]", "[0.5, 0, 0]"),
            "child",
        ),
        (
            sklearn_doc("[1, -1, -1]", "[2, -1, -1]", "[1e400, 0, 0]"),
            "does not parse",
        ),
    ] {
        let err = import::import_bytes(ImportFormat::Sklearn, &doc, None, &ImportOptions::new())
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
    }
    // Over the limits: depth and tree count.
    let options = ImportOptions::new().limits(EnsembleLimits::new().max_depth(0));
    let err = import::import_bytes(ImportFormat::Sklearn, &ok, None, &options)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::Invalid { reason, .. } if reason.contains("deeper")),
        "{err}"
    );
    let options = ImportOptions::new().limits(EnsembleLimits::new().max_trees(0));
    let err = import::import_bytes(ImportFormat::Sklearn, &ok, None, &options)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, ImportError::Invalid { .. }), "{err}");
    // A file over the size cap is refused before it is parsed.
    let options = ImportOptions::new().max_file_bytes(100);
    let err = import::import_file(
        ImportFormat::Xgboost,
        data("xgb_binary.json"),
        None,
        &options,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(matches!(err, ImportError::Read(_)), "{err}");
}

/// A `HistGradientBoostingRegressor`-like stump on one categorical column:
/// category 1 goes left, missing values go left, training saw `known`.
fn hist_doc(known: &str, link: &str) -> Vec<u8> {
    format!(
        r#"{{"format": "modelhost-sklearn-trees", "format_version": 1,
            "estimator": "HistGradientBoostingRegressor", "n_features": 1, "feature_names": ["c"],
            "input": "float64", "link": "{link}", "average": false, "groups": 1,
            "leaf_width": 1, "base": [0.0], {known}
            "trees": [{{"group": 0, "left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, 0, 0],
                       "threshold": [0, 0, 0], "missing_left": [true, false, false],
                       "categories": [[1], null, null], "value": [0, -1.0, 1.0]}}]}}"#
    )
    .into_bytes()
}

#[test]
fn categories_training_never_saw_go_where_missing_values_go() {
    let rows =
        Array2::from_shape_vec((7, 1), vec![0.0, 1.0, 2.0, 3.0, 40.0, -1.0, f64::NAN]).unwrap();
    let levels: Vec<String> = (0..41).map(|i| format!("\"L{i}\"")).collect();
    let schema = SchemaFile::from_json(
        format!(
            r#"{{"features": [{{"name": "c", "type": "categorical", "levels": [{}]}}]}}"#,
            levels.join(",")
        )
        .as_bytes(),
    )
    .unwrap();
    let scores = |doc: Vec<u8>| {
        let imported = import::import_bytes(
            ImportFormat::Sklearn,
            &doc,
            Some(&schema),
            &ImportOptions::new(),
        )
        .unwrap();
        let p = imported.model.predict_batch(rows.view()).unwrap();
        p.score_values().unwrap().to_vec()
    };
    // scikit-learn predicts: 1 left; 0 and 2 (seen, not in the set) right;
    // 3 and 40 (never seen), -1 and NaN as missing: left.
    assert_eq!(
        scores(hist_doc(r#""known_categories": [[0, 1, 2]],"#, "identity")),
        [1.0, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0]
    );
    // A file without them (written by an earlier exporter) cannot tell
    // unseen categories from seen ones: they go right, as category 0.
    assert_eq!(
        scores(hist_doc("", "identity")),
        [1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0]
    );
    // `half_logit` (GradientBoostingClassifier's exponential loss): the
    // probability is expit(2 m).
    let half = scores(hist_doc("", "half_logit"));
    assert!(
        (half[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15,
        "{half:?}"
    );
    for (known, expect) in [
        (
            r#""known_categories": [[0], [1]],"#,
            "known categories for 2 features",
        ),
        (r#""known_categories": [[0, -1]],"#, "does not parse"),
    ] {
        let err = import::import_bytes(
            ImportFormat::Sklearn,
            &hist_doc(known, "identity"),
            None,
            &ImportOptions::new(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
    }
}

/// A file that states a feature count without naming the features
/// (XGBoost and scikit-learn files need not) is refused over the feature
/// limit before any feature is made: a few bytes must not cost a schema
/// of millions of entries.
#[test]
fn feature_counts_are_limited_before_features_are_made() {
    let doc = |n: usize| {
        format!(
            r#"{{"format": "modelhost-sklearn-trees", "format_version": 1,
                "estimator": "DecisionTreeRegressor", "n_features": {n}, "input": "float32",
                "link": "identity", "average": true, "groups": 1, "leaf_width": 1, "base": [0.0],
                "trees": [{{"group": 0, "left": [1, -1, -1], "right": [2, -1, -1],
                           "feature": [0, 0, 0], "threshold": [0.5, 0, 0],
                           "missing_left": [true, false, false], "value": [0.0, 1.0, 2.0]}}]}}"#
        )
        .into_bytes()
    };
    for n in [16_777_216, 131_073] {
        let err = import::import_bytes(ImportFormat::Sklearn, &doc(n), None, &ImportOptions::new())
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{n} features, more than the limit of 131072")),
            "{err}"
        );
    }
    let wide = import::import_bytes(
        ImportFormat::Sklearn,
        &doc(131_073),
        None,
        &ImportOptions::new().max_features(131_073),
    )
    .unwrap();
    assert_eq!(wide.model.schema().len(), 131_073);
}

#[test]
fn unsupported_models_are_refused_clearly() {
    let lgb = std::fs::read_to_string(data("lgb_binary.txt")).unwrap();
    let linear = lgb.replacen("is_linear=0", "is_linear=1", 1);
    let err = import::import_bytes(
        ImportFormat::LightGbm,
        linear.as_bytes(),
        Some(&schema()),
        &ImportOptions::new(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { what, .. } if what.contains("linear")),
        "{err}"
    );
    let xgb = std::fs::read_to_string(data("xgb_binary.json")).unwrap();
    let hinge = xgb.replacen("binary:logistic", "binary:hinge", 1);
    let err = import::import_bytes(
        ImportFormat::Xgboost,
        hinge.as_bytes(),
        Some(&schema()),
        &ImportOptions::new(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { what, .. } if what.contains("binary:hinge")),
        "{err}"
    );
    let dart = xgb.replacen("\"name\":\"gbtree\"", "\"name\":\"dart\"", 1);
    assert_ne!(dart, xgb);
    let err = import::import_bytes(
        ImportFormat::Xgboost,
        dart.as_bytes(),
        Some(&schema()),
        &ImportOptions::new(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
    // A linear booster, as xgboost 3.2 saves it: weights, no trees.
    let gblinear = r#"{"learner":{"attributes":{},"feature_names":[],"feature_types":[],
        "gradient_booster":{"model":{"boosted_rounds":20,"weights":[1.005238E0,-1.178968E-2,
        4.982746E-1,5.9525453E-4,3.70935E-3,-5.97482E-4]},"name":"gblinear"},
        "learner_model_param":{"base_score":"[1.040761E-3]","boost_from_average":"1",
        "num_class":"0","num_feature":"5","num_target":"1"},
        "objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},
        "version":[3,2,0]}"#;
    let err = import::import_bytes(
        ImportFormat::Xgboost,
        gblinear.as_bytes(),
        None,
        &ImportOptions::new(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { what, .. } if what.contains("gblinear")),
        "{err}"
    );
}

#[test]
fn xgboost_non_standard_numbers_and_best_iterations_are_checked() {
    let xgb = |text: &str| {
        import::import_bytes(
            ImportFormat::Xgboost,
            text.as_bytes(),
            Some(&schema()),
            &ImportOptions::new().best_iteration(true),
        )
        .map(|_| ())
    };
    let invalid = |text: &str, needle: &str| match xgb(text) {
        Err(ImportError::Invalid { reason, .. }) => {
            assert!(reason.contains(needle), "{reason} (wanted {needle})");
        }
        other => panic!("wanted Invalid naming {needle}, got {other:?}"),
    };
    let v2 = std::fs::read_to_string(data("xgb2_binary.json")).unwrap();
    // A `NaN` or infinity where a numeric threshold stands is read as NaN
    // and refused, not read as a number.
    let conditions = v2.find("\"split_conditions\":[").unwrap() + "\"split_conditions\":[".len();
    for token in ["NaN", "Infinity", "-Infinity"] {
        let end = conditions + v2[conditions..].find(',').unwrap();
        let bad = format!("{}{token}{}", &v2[..conditions], &v2[end..]);
        invalid(&bad, "threshold is NaN");
    }
    // Inside a string the same letters are text: a feature named `NaN`.
    let names = v2.replacen("\"feature_names\":[\"f0\"", "\"feature_names\":[\"NaN\"", 1);
    assert_ne!(names, v2);
    let text = std::fs::read_to_string(data("schema.json")).unwrap();
    let renamed = SchemaFile::from_json(text.replacen("\"f0\"", "\"NaN\"", 1).as_bytes()).unwrap();
    let imported = import::import_bytes(
        ImportFormat::Xgboost,
        names.as_bytes(),
        Some(&renamed),
        &ImportOptions::new(),
    )
    .unwrap();
    assert_eq!(imported.proposed[0].0, "NaN");
    assert_eq!(imported.model.schema().features()[0].name(), "NaN");
    // Best iterations that are not a count, or past the trees.
    let early = std::fs::read_to_string(data("xgb2_early_stopped.json")).unwrap();
    let at = early.find("\"best_iteration\":\"").unwrap() + "\"best_iteration\":\"".len();
    let end = at + early[at..].find('"').unwrap();
    for (value, needle) in [
        ("-1", "not a count"),
        ("x", "not a count"),
        ("99999999999", "past the model's trees"),
    ] {
        invalid(&format!("{}{value}{}", &early[..at], &early[end..]), needle);
    }
    let shuffled = early.replacen(
        "\"iteration_indptr\":[0,1,2,",
        "\"iteration_indptr\":[0,2,1,",
        1,
    );
    assert_ne!(shuffled, early);
    invalid(&shuffled, "does not index");
}

#[test]
fn categories_a_model_file_names_are_its_levels_and_a_schema_file_must_keep_their_order() {
    // Both models were trained on a DataFrame whose `color` is a pandas
    // category of strings (tests/data/import/named_categories.py); pandas
    // coded them blue, green, red, white.
    let text = std::fs::read_to_string(data("named_cats.csv")).unwrap();
    let rows: Vec<FeatureMap> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (f0, color) = l.split_once(',').unwrap();
            FeatureMap::new()
                .with("f0", f0.parse::<f64>().unwrap())
                .with("color", color)
        })
        .collect();
    let trained = ["blue", "green", "red", "white"];
    let schema_with = |levels: &[&str]| {
        SchemaFile::from_json(
            serde_json::json!({"features": [
                {"name": "color", "type": "categorical", "levels": levels}
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    for (name, format, ext) in [
        ("xgb_named_cats", ImportFormat::Xgboost, "json"),
        ("lgb_named_cats", ImportFormat::LightGbm, "txt"),
    ] {
        let file = data(&format!("{name}.{ext}"));
        let import_with = |schema: Option<&SchemaFile>| {
            import::import_file(format, &file, schema, &ImportOptions::new())
        };
        // Without a schema entry the file's own names are the levels, and
        // rows named by category predict what the library predicted.
        // With the same order (and a level the model never saw after them)
        // too.
        for schema in [
            None,
            Some(schema_with(&["blue", "green", "red", "white", "black"])),
        ] {
            let imported = import_with(schema.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
            match imported.model.schema().features()[1].kind() {
                FeatureKind::Categorical { levels, .. } => {
                    assert_eq!(levels[..4], trained, "{name}");
                }
                other => panic!("{name}: color is {other:?}"),
            }
            let server =
                InProcessServer::new(Deployment::new(name, 1, imported.model.clone())).unwrap();
            let response = server.predict(PredictRequest::rows(&rows[..])).unwrap();
            assert_parity(name, &response.predictions);
        }
        // Another order would give categories other codes than the trees
        // split on: refused, naming the first level out of place.
        let err = import_with(Some(&schema_with(&["red", "green", "blue", "white"])))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, ImportError::Schema { reason }
                if reason.contains("level 0 is `red`") && reason.contains("`blue`")),
            "{name}: {err}"
        );
        let err = import_with(Some(&schema_with(&["blue", "green"])))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, ImportError::Schema { reason } if reason.contains("lists 2 levels")),
            "{name}: {err}"
        );
    }
}

#[cfg(feature = "cli")]
#[test]
fn the_cli_registers_an_imported_version() {
    let dir = tempfile::tempdir().unwrap();
    // `modelhost import --format FORMAT MODEL --schema … --registry DIR --name NAME`
    let import = |format: &str, model: &str, name: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_modelhost"));
        c.args(["import", "--format", format])
            .arg(data(model))
            .arg("--schema")
            .arg(data("schema.json"))
            .arg("--registry")
            .arg(dir.path())
            .args(["--name", name]);
        c
    };
    let out = import("lightgbm", "lgb_multiclass.txt", "segments")
        .arg("--reference")
        .arg(data("data.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("registered segments version 1"));
    let registry = Registry::open(dir.path()).unwrap();
    let loaded = registry
        .load(&"segments".parse().unwrap(), ReadOptions::new())
        .unwrap();
    let (_, rows) = matrix("data.csv");
    assert_parity(
        "lgb_multiclass",
        &loaded.model.predict_batch(rows.view()).unwrap(),
    );
    // A bad model file: a clear error, exit code 1, no panic.
    let out = import("xgboost", "lgb_multiclass.txt", "segments")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xgboost model does not parse"));
    // An early-stopped model: the command says which trees it serves, and
    // `--best-iteration` serves the scikit-learn wrapper's.
    for (flag, said, name) in [
        (None, "all 22 trees are served", "early_all"),
        (
            Some("--best-iteration"),
            "served the 17 of 22 trees",
            "early_best",
        ),
    ] {
        let out = import("xgboost", "xgb2_early_stopped.json", name)
            .args(flag)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && stdout.contains(said), "{stdout}");
        let loaded = registry
            .load(&name.parse().unwrap(), ReadOptions::new())
            .unwrap();
        let expected = if flag.is_some() {
            "xgb2_early_stopped_best"
        } else {
            "xgb2_early_stopped"
        };
        assert_parity(expected, &loaded.model.predict_batch(rows.view()).unwrap());
    }
}
