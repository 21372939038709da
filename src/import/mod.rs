//! Models trained in Python: XGBoost, LightGBM and scikit-learn tree
//! ensembles, imported into a [`TreeEnsemble`] with the libraries' own
//! numerics.
//!
//! [`import_file`] (or [`import_bytes`]) reads a model file, validates all
//! of it before anything is built, and returns an [`Imported`] model over a
//! [`FeatureSchema`](crate::FeatureSchema) made from the file's feature names and types and the
//! user's [`SchemaFile`]. [`register`] packs it as an artifact (with
//! reference statistics and warm-up rows from a CSV sample, if given) and
//! registers a new version; `modelhost import` does the same from the
//! command line.
//!
//! ```no_run
//! use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
//! use modelhost::{Model, Registry};
//!
//! let schema = SchemaFile::read("schema.json")?;
//! let imported = import::import_file(ImportFormat::LightGbm, "model.txt", Some(&schema), &ImportOptions::new())?;
//! let reference = import::read_reference_csv("sample.csv", imported.model.schema(), &ImportOptions::new())?;
//! let registry = Registry::open("registry")?;
//! let version = import::register(&registry, "churn", &imported, Some(&reference))?;
//! # let _ = version;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Formats
//!
//! - **XGBoost** JSON (`Booster.save_model("model.json")`, 2.x and 3.x):
//!   objectives `binary:logistic` (probabilities), `multi:softprob` and
//!   `multi:softmax` (probabilities and the class), `reg:squarederror`,
//!   `reg:absoluteerror`, `reg:pseudohubererror`, `reg:squaredlogerror`,
//!   `reg:quantileerror` (one quantile), `reg:logistic` (a score),
//!   `binary:logitraw` (the margin as a score), `count:poisson`,
//!   `reg:gamma`, `reg:tweedie`, `survival:cox` (exp of the margin),
//!   `rank:pairwise`, `rank:ndcg`, `rank:map` (scores). `base_score` is taken into margin
//!   space as XGBoost does (in `f32`); missing values take each
//!   split's default direction; splits compare as `f32`, and leaf values
//!   are summed in `f32`. Categorical splits are read (the categories a
//!   split lists go right, as in XGBoost; 2.x writes their split
//!   conditions as a bare `NaN`, which is read). A file saved after early
//!   stopping keeps every tree and records `best_iteration`: every tree is
//!   served, as `Booster.predict` does, unless
//!   [`ImportOptions::best_iteration`] asks for the trees up to the best
//!   iteration, as the scikit-learn wrapper predicts ([`Imported::notes`]
//!   says which). Refused with
//!   [`ImportError::Unsupported`]: `gblinear`, `dart`, vector leaves
//!   (multi-target trees), several targets or quantiles, other objectives
//!   (`binary:hinge`, `survival:aft`).
//! - **LightGBM** text (`Booster.save_model("model.txt")`, 4.x):
//!   `binary` (probabilities, its `sigmoid`), `multiclass` (softmax),
//!   `multiclassova` (one sigmoid per class), `regression` and the other
//!   identity-link regressions, `poisson`/`gamma`/`tweedie` (exp),
//!   `cross_entropy` (a sigmoid score), `lambdarank` and `rank_xendcg`
//!   (scores); missing types `None`, `Zero` and `NaN` with `default_left`;
//!   categorical bitset splits (NaN and negative values go right);
//!   `average_output` (random-forest mode). Linear trees and
//!   `reg_sqrt` are refused.
//! - **scikit-learn** JSON written by `scripts/export_sklearn.py` from the
//!   fitted estimator's tree attributes: `DecisionTree*`,
//!   `RandomForest*`, `ExtraTrees*`, `GradientBoosting*` (`log_loss`,
//!   `exponential`, and the regression losses), `HistGradientBoosting*`
//!   (with categorical features), classifier and regressor. The format:
//!
//! ```json
//! {
//!   "format": "modelhost-sklearn-trees", "format_version": 1,
//!   "sklearn_version": "1.7.2", "estimator": "RandomForestClassifier",
//!   "n_features": 6, "feature_names": ["f0", "…"], "classes": ["0", "1", "2"],
//!   "input": "float32",        // "float32": X is cast to f32 first; "float64" (HistGradientBoosting)
//!   "link": "identity",        // or "logistic", "half_logit" (expit(2 m)), "softmax", "exp"
//!   "average": true,           // divide the sum of trees by their number (forests)
//!   "groups": 3,               // outputs summed per row: 1, or one per class
//!   "leaf_width": 3,           // values per leaf: 1, or `groups` (class distributions)
//!   "base": [0.0, 0.0, 0.0],   // starting margin per group
//!   "known_categories": null,  // optional, per feature: the categories training saw
//!   "trees": [{
//!     "group": 0,              // the group a scalar-leaf tree adds to
//!     "left": [1, -1, -1], "right": [2, -1, -1],   // -1: a leaf
//!     "feature": [3, 0, 0], "threshold": [0.25, 0.0, 0.0],
//!     "missing_left": [true, false, false],        // where NaN goes
//!     "categories": [null, null, null],            // optional: categories going left
//!     "value": [0.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.2, 0.3, 0.5] // leaf_width per node
//!   }]
//! }
//! ```
//!
//! A row goes left at a split when `x <= threshold`, or when it is NaN
//! and `missing_left`, or (categorical) when its value is in `categories`.
//! Where `known_categories` lists a feature's categories (the exporter
//! writes them for `HistGradientBoosting*`), a category not among them,
//! or a negative one, counts as missing, as scikit-learn predicts.
//!
//! # The schema file
//!
//! The model file names its features and says which are categorical; the
//! bounds and the categorical vocabularies (in the order of the codes the
//! model was trained on) come from a JSON file the user writes:
//!
//! ```json
//! {
//!   "features": [
//!     {"name": "age", "type": "integer", "min": 0, "max": 130},
//!     {"name": "basket_value", "type": "float", "min": 0, "allow_non_finite": true},
//!     {"name": "device", "type": "categorical", "levels": ["mobile", "desktop", "tablet"]}
//!   ],
//!   "labels": ["stays", "churns"]
//! }
//! ```
//!
//! Each entry is a [`Feature`](crate::schema::Feature) as the schema
//! serializes it (`float`, `integer`, `boolean`, `categorical`, with
//! `min`, `max`, `allow_non_finite`, `levels`, `unknown_level`). Features
//! the file leaves out keep the proposed form (a float that may be missing,
//! NaN, as tree models allow); a categorical feature must be listed with
//! its levels, unless the model file names its categories; a listed
//! feature the model does not have is an error. `labels` names the classes
//! (default: the model's own class names, or `0`, `1`, …).
//!
//! A model trained in Python on a DataFrame whose column is a pandas
//! category of strings names its categories in the file (XGBoost 3.1+ in
//! its category encoding, LightGBM in its `pandas_categorical` line), each
//! at the code the trees split on. Those names are then the feature's
//! levels, and a schema file that lists the feature must list them first,
//! in the same order (levels after them are categories the model never
//! saw); another order would give categories other codes and is refused
//! with [`ImportError::Schema`] naming the first level out of place.
//! Categories that are numbers may be given names of the schema file's
//! own.
//!
//! # Untrusted files
//!
//! Files are read with a size cap ([`ImportOptions::max_file_bytes`]);
//! JSON parsing has serde_json's nesting limit; every count is checked
//! against the limits ([`EnsembleLimits`]) before trees are built; every
//! tree is checked to be a tree (indices in range, no cycles or shared
//! nodes, depth bounded) with finite thresholds and values. Errors are
//! typed ([`ImportError`]), name what was wrong, and are bounded in size.

mod csv;
mod lightgbm;
mod schema_file;
mod sklearn;
mod xgboost;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::artifact::{Artifact, ArtifactError};
use crate::model::{EnsembleLimits, EnsembleSpec, ModelError, OutputKind, TreeEnsemble};
use crate::registry::{Registry, RegistryError};
use crate::schema::FeatureBatch;

pub use csv::{MAX_REFERENCE_ROWS, read_reference_csv};
pub use schema_file::SchemaFile;

impl ImportError {
    /// A model of `format` that parses but is not valid; `reason` bounded.
    pub(crate) fn invalid(format: ImportFormat, reason: impl Into<String>) -> Self {
        Self::Invalid {
            format,
            reason: bounded(reason),
        }
    }

    /// Something a model of `format` uses that is not supported; bounded.
    pub(crate) fn unsupported(format: ImportFormat, what: impl Into<String>) -> Self {
        Self::Unsupported {
            format: Some(format),
            what: bounded(what),
        }
    }
}

/// The longest reason an [`ImportError`] carries, in characters.
const MAX_REASON: usize = 400;

/// Cuts `s` to [`MAX_REASON`] characters.
pub(crate) fn bounded(s: impl Into<String>) -> String {
    let s = s.into();
    if s.chars().count() <= MAX_REASON {
        s
    } else {
        let mut t: String = s.chars().take(MAX_REASON).collect();
        t.push('…');
        t
    }
}

/// The file formats [`import_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImportFormat {
    /// XGBoost's JSON model (`save_model("model.json")`).
    Xgboost,
    /// LightGBM's text model (`save_model("model.txt")`).
    LightGbm,
    /// scikit-learn trees as `scripts/export_sklearn.py` writes them.
    Sklearn,
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Xgboost => "xgboost",
            Self::LightGbm => "lightgbm",
            Self::Sklearn => "sklearn",
        })
    }
}

impl std::str::FromStr for ImportFormat {
    type Err = ImportError;

    fn from_str(s: &str) -> Result<Self, ImportError> {
        match s {
            "xgboost" => Ok(Self::Xgboost),
            "lightgbm" => Ok(Self::LightGbm),
            "sklearn" | "scikit-learn" => Ok(Self::Sklearn),
            other => Err(ImportError::Unsupported {
                format: None,
                what: bounded(format!("format `{other}` (xgboost, lightgbm or sklearn)")),
            }),
        }
    }
}

/// Why a model could not be imported.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file could not be read (or was over the size cap).
    #[error("{0}")]
    Read(ArtifactError),
    /// The file is not well-formed in its format (bad JSON, a missing
    /// field, a number that does not parse).
    #[error("{format} model does not parse: {reason}")]
    Parse {
        /// The format read.
        format: ImportFormat,
        /// Where and what.
        reason: String,
    },
    /// The file holds something this build does not serve (an objective,
    /// a booster, linear trees).
    #[error("{} model uses something not supported: {what}", format.map_or("the".into(), |f| f.to_string()))]
    Unsupported {
        /// The format read, if known.
        format: Option<ImportFormat>,
        /// What is not supported.
        what: String,
    },
    /// The file parses but describes no valid model (a child index out of
    /// range, a cycle, a NaN threshold or a leaf value that is not finite,
    /// counts over the limits).
    #[error("{format} model is invalid: {reason}")]
    Invalid {
        /// The format read.
        format: ImportFormat,
        /// What is wrong, and where.
        reason: String,
    },
    /// The schema file is not valid or does not fit the model.
    #[error("schema file: {reason}")]
    Schema {
        /// What is wrong.
        reason: String,
    },
    /// The reference CSV could not be used.
    #[error("reference data, line {line}: {reason}")]
    Reference {
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Packing the model as an artifact failed.
    #[error("{0}")]
    Artifact(ArtifactError),
    /// Registering the version failed.
    #[error("{0}")]
    Registry(RegistryError),
}

impl From<ModelError> for ImportError {
    fn from(e: ModelError) -> Self {
        Self::Artifact(ArtifactError::Model(e))
    }
}

/// Limits for importing untrusted model files.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ImportOptions {
    max_file_bytes: u64,
    limits: EnsembleLimits,
    max_levels: usize,
    max_features: usize,
    best_iteration: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 << 20,
            limits: EnsembleLimits::default(),
            max_levels: 1 << 20,
            max_features: 1 << 17,
            best_iteration: false,
        }
    }
}

impl ImportOptions {
    /// Default limits: files up to 512 MiB, [`EnsembleLimits::default`],
    /// vocabularies of up to 1,048,576 levels, 131,072 features.
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest model, schema or CSV file read, in bytes (default 512 MiB).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Trees, nodes, depth and category limits (default
    /// [`EnsembleLimits::default`]).
    pub fn limits(mut self, limits: EnsembleLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Most levels of one categorical feature (default 1,048,576).
    pub fn max_levels(mut self, levels: usize) -> Self {
        self.max_levels = levels;
        self
    }

    /// Most features a model may have (default 131,072; at most
    /// [`MAX_ENSEMBLE_FEATURES`](crate::model::MAX_ENSEMBLE_FEATURES)).
    /// A file states its feature count in a few bytes, and XGBoost and
    /// scikit-learn files need not name them, while each feature costs a
    /// schema entry of its own. An artifact's header holds about 22,000
    /// float features; wider models import and serve in process only.
    pub fn max_features(mut self, features: usize) -> Self {
        self.max_features = features;
        self
    }

    /// Serve only the trees up to the best iteration an XGBoost file
    /// records (`best_iteration`, written by early stopping), as XGBoost's
    /// scikit-learn wrapper (`XGBClassifier.predict_proba`) predicts. By
    /// default every tree in the file is served, as `Booster.predict` and
    /// `Booster.inplace_predict` do, and the import says so in
    /// [`Imported::notes`]. Files without a best iteration, and the other
    /// formats, are served whole either way (LightGBM's `save_model`
    /// already keeps only the best iteration's trees).
    pub fn best_iteration(mut self, only_best: bool) -> Self {
        self.best_iteration = only_best;
        self
    }

    pub(crate) fn only_best_iteration(&self) -> bool {
        self.best_iteration
    }

    pub(crate) fn ensemble_limits(&self) -> &EnsembleLimits {
        &self.limits
    }

    pub(crate) fn feature_limit(&self) -> usize {
        self.max_features.min(crate::model::MAX_ENSEMBLE_FEATURES)
    }
}

/// A feature as the model file describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProposedFeature {
    pub(crate) name: String,
    /// `Some(levels)` for a categorical feature (the levels the file knows,
    /// possibly none).
    pub(crate) categorical: Option<Vec<String>>,
    /// The levels are the names (strings) of the categories the model was
    /// trained on, in the order of their codes (XGBoost's category
    /// encoding, LightGBM's `pandas_categorical`), not numbers or codes: a
    /// schema file's levels for the feature must then start with them, in
    /// that order.
    pub(crate) named: bool,
}

/// What a format reader produces before the schema is settled.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) features: Vec<ProposedFeature>,
    /// `Some(class names)` for a classifier.
    pub(crate) classes: Option<Vec<String>>,
    pub(crate) spec: EnsembleSpec,
    /// The objective or estimator, for the artifact's tags.
    pub(crate) objective: String,
    /// What the reader chose where the file allows two readings.
    pub(crate) notes: Vec<String>,
}

/// An imported model, ready to serve or register.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Imported {
    /// The model, over its schema.
    pub model: TreeEnsemble,
    /// The schema proposed by the model file alone (names and types, no
    /// bounds or vocabularies), to start a schema file from.
    pub proposed: Vec<(String, bool)>,
    /// The format read.
    pub format: ImportFormat,
    /// The objective (XGBoost, LightGBM) or estimator (scikit-learn).
    pub objective: String,
    /// What the import chose where the file allows two readings, one
    /// line each (for example which trees of an early-stopped XGBoost
    /// model are served; see [`ImportOptions::best_iteration`]). Empty
    /// when there was no choice to make.
    pub notes: Vec<String>,
}

/// Reads a model file of `format` with the limits of `options`.
///
/// # Errors
///
/// [`ImportError::Read`] when the file cannot be read or is over the size
/// cap; otherwise as [`import_bytes`].
pub fn import_file(
    format: ImportFormat,
    path: impl AsRef<Path>,
    schema: Option<&SchemaFile>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let bytes = crate::artifact::read_capped(path.as_ref(), options.max_file_bytes)
        .map_err(ImportError::Read)?;
    import_bytes(format, &bytes, schema, options)
}

/// Imports a model from the bytes of its file.
///
/// # Errors
///
/// [`ImportError::Parse`] for a malformed file, [`ImportError::Unsupported`]
/// for an objective or structure this build does not serve,
/// [`ImportError::Invalid`] for a model that is not a valid ensemble or is
/// over the limits, [`ImportError::Schema`] when the schema file does not
/// fit the model (or a categorical feature has no levels).
///
/// # Examples
///
/// ```
/// use modelhost::import::{self, ImportFormat, ImportOptions};
/// use modelhost::Model;
///
/// let json = br#"{
///   "format": "modelhost-sklearn-trees", "format_version": 1,
///   "estimator": "DecisionTreeRegressor", "n_features": 1, "feature_names": ["x"],
///   "input": "float32", "link": "identity", "average": true,
///   "groups": 1, "leaf_width": 1, "base": [0.0],
///   "trees": [{"group": 0, "left": [1, -1, -1], "right": [2, -1, -1],
///              "feature": [0, 0, 0], "threshold": [0.5, 0.0, 0.0],
///              "missing_left": [true, false, false], "value": [0.0, -1.0, 1.0]}]
/// }"#;
/// let imported = import::import_bytes(ImportFormat::Sklearn, json, None, &ImportOptions::new())?;
/// let p = imported.model.predict_batch(ndarray::array![[0.25], [0.75], [f64::NAN]].view())?;
/// assert_eq!(p.score_values(), Some(&[-1.0, 1.0, -1.0][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn import_bytes(
    format: ImportFormat,
    bytes: &[u8],
    schema: Option<&SchemaFile>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let parsed = match format {
        ImportFormat::Xgboost => xgboost::parse(bytes, options)?,
        ImportFormat::LightGbm => lightgbm::parse(bytes, options)?,
        ImportFormat::Sklearn => sklearn::parse(bytes, options)?,
    };
    let proposed = parsed
        .features
        .iter()
        .map(|f| (f.name.clone(), f.categorical.is_some()))
        .collect();
    let empty = SchemaFile::default();
    let file = schema.unwrap_or(&empty);
    let feature_schema = file.schema_for(&parsed.features, options)?;
    let output = match &parsed.classes {
        None => OutputKind::Regression,
        Some(classes) => {
            let labels: Arc<[String]> = match &file.labels {
                Some(l) if l.len() != classes.len() => {
                    return Err(ImportError::Schema {
                        reason: format!(
                            "{} labels for a model of {} classes",
                            l.len(),
                            classes.len()
                        ),
                    });
                }
                Some(l) => l.iter().cloned().collect(),
                None => classes.iter().cloned().collect(),
            };
            OutputKind::Classification {
                labels,
                probabilities: true,
            }
        }
    };
    let model =
        TreeEnsemble::new(parsed.spec, feature_schema, output, &options.limits).map_err(|e| {
            ImportError::Invalid {
                format,
                reason: bounded(match e {
                    ModelError::InvalidModel { reason } => reason,
                    other => other.to_string(),
                }),
            }
        })?;
    Ok(Imported {
        model,
        proposed,
        format,
        objective: parsed.objective,
        notes: parsed.notes,
    })
}

impl Imported {
    /// Packs the model as an artifact named `name`, with reference
    /// statistics and warm-up rows from `reference` when given (see
    /// [`Artifact::tree_ensemble`]), tagged with its source format and
    /// objective.
    ///
    /// # Errors
    ///
    /// [`ImportError::Artifact`] when the reference rows follow another
    /// schema or the model fails on them.
    pub fn to_artifact(
        &self,
        name: &str,
        reference: Option<&FeatureBatch>,
    ) -> Result<Artifact, ImportError> {
        Ok(Artifact::tree_ensemble(name, &self.model, reference)
            .map_err(ImportError::Artifact)?
            .with_tag("imported_from", self.format.to_string())
            .with_tag("objective", self.objective.clone()))
    }
}

/// Registers `imported` as a new version of `name` in `registry`, with
/// reference statistics and warm-up rows from `reference` when given.
/// Returns the new version number.
///
/// # Errors
///
/// As [`Imported::to_artifact`], and [`ImportError::Registry`] when the
/// registry refuses the name or its storage fails.
pub fn register(
    registry: &Registry,
    name: &str,
    imported: &Imported,
    reference: Option<&FeatureBatch>,
) -> Result<u64, ImportError> {
    let artifact = imported.to_artifact(name, reference)?;
    registry.register(artifact).map_err(ImportError::Registry)
}

/// A JSON list of category values, held compactly while it is read: the
/// numbers as `f64`s, or the strings as one text and their ends (at most
/// 8 bytes per item, as the model's other arrays), where a list of
/// `serde_json::Value`s takes 32 bytes for a two-byte item. A list mixing
/// numbers and strings is refused.
#[derive(Debug, Default)]
pub(crate) enum CategoryValues {
    #[default]
    Empty,
    Numbers(Vec<f64>),
    Strings {
        text: String,
        ends: Vec<usize>,
    },
}

impl CategoryValues {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::Numbers(v) => v.len(),
            Self::Strings { ends, .. } => ends.len(),
        }
    }

    /// Every item is a string (an empty list is not).
    pub(crate) fn are_strings(&self) -> bool {
        matches!(self, Self::Strings { .. })
    }

    /// The items as text: strings as they are, numbers as Rust writes
    /// them (`3`, `2.5`).
    pub(crate) fn to_levels(&self) -> Vec<String> {
        match self {
            Self::Empty => Vec::new(),
            Self::Numbers(v) => v.iter().map(f64::to_string).collect(),
            Self::Strings { text, ends } => {
                let mut start = 0;
                ends.iter()
                    .map(|&end| {
                        let s = text[start..end].to_string();
                        start = end;
                        s
                    })
                    .collect()
            }
        }
    }

    /// The items as bytes, if every one is a whole number in `0..=255`.
    pub(crate) fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::Empty => Some(Vec::new()),
            Self::Numbers(v) => v
                .iter()
                .map(|&x| (x.fract() == 0.0 && (0.0..=255.0).contains(&x)).then_some(x as u8))
                .collect(),
            Self::Strings { .. } => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for CategoryValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> serde::de::Visitor<'de> for Items {
            type Value = CategoryValues;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of category numbers or strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CategoryValues, A::Error> {
                use crate::schema::FeatureValue as V;
                let mut out = CategoryValues::Empty;
                // One scalar at a time, as a request's feature value is read.
                while let Some(item) = seq.next_element::<V>()? {
                    let number = match &item {
                        V::Float(x) => Some(*x),
                        V::Int(i) => Some(*i as f64),
                        V::Bool(b) => Some(f64::from(u8::from(*b))),
                        V::Str(_) => None,
                        V::Null => {
                            return Err(serde::de::Error::custom("a category is null"));
                        }
                    };
                    match (&mut out, number, item) {
                        (CategoryValues::Empty, Some(x), _) => {
                            out = CategoryValues::Numbers(vec![x]);
                        }
                        (CategoryValues::Empty, None, V::Str(s)) => {
                            out = CategoryValues::Strings {
                                ends: vec![s.len()],
                                text: s,
                            };
                        }
                        (CategoryValues::Numbers(v), Some(x), _) => v.push(x),
                        (CategoryValues::Strings { text, ends }, None, V::Str(s)) => {
                            text.push_str(&s);
                            ends.push(text.len());
                        }
                        _ => {
                            return Err(serde::de::Error::custom(
                                "a list of categories mixes numbers and strings",
                            ));
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Items)
    }
}

/// Refuses a count over its limit.
pub(crate) fn check_count(
    format: ImportFormat,
    what: &str,
    n: usize,
    max: usize,
) -> Result<(), ImportError> {
    if n > max {
        Err(ImportError::Invalid {
            format,
            reason: format!("{n} {what}, more than the limit of {max}"),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CategoryValues;

    #[test]
    fn category_values_hold_numbers_or_strings_compactly() {
        let numbers: CategoryValues = serde_json::from_str("[0, 7, 255, 2.5, true]").unwrap();
        assert_eq!(numbers.len(), 5);
        assert!(!numbers.are_strings());
        assert_eq!(numbers.to_levels(), ["0", "7", "255", "2.5", "1"]);
        // Not all bytes: 2.5.
        assert_eq!(numbers.to_bytes(), None);
        let bytes: CategoryValues = serde_json::from_str("[98, 108, 117, 101]").unwrap();
        assert_eq!(bytes.to_bytes().unwrap(), b"blue");
        let strings: CategoryValues = serde_json::from_str(r#"["blue", "", "gr\"een"]"#).unwrap();
        assert!(strings.are_strings());
        assert_eq!(strings.to_levels(), ["blue", "", "gr\"een"]);
        assert_eq!(strings.to_bytes(), None);
        let empty: CategoryValues = serde_json::from_str("[]").unwrap();
        assert_eq!((empty.len(), empty.are_strings()), (0, false));
        for bad in [r#"[1, "a"]"#, r#"["a", 1]"#, "[[1]]", "[null]", "{}"] {
            assert!(
                serde_json::from_str::<CategoryValues>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
