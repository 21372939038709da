//! The schema file: bounds and vocabularies the model file cannot know.

use std::path::Path;

use serde::Deserialize;

use super::{ImportError, ImportOptions, ProposedFeature, bounded};
use crate::schema::{Feature, FeatureKind, FeatureSchema};

/// The user's schema file (see the [module docs](super) for the format):
/// features with their bounds and vocabularies, and class labels.
///
/// # Examples
///
/// ```
/// use modelhost::import::SchemaFile;
///
/// let file = SchemaFile::from_json(br#"{
///   "features": [{"name": "device", "type": "categorical", "levels": ["mobile", "desktop"]}],
///   "labels": ["no", "yes"]
/// }"#)?;
/// assert_eq!(file.labels.as_deref(), Some(&["no".to_string(), "yes".to_string()][..]));
/// # Ok::<(), modelhost::import::ImportError>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SchemaFile {
    /// Features by name, in any order (the model's order is kept).
    #[serde(default)]
    pub features: Vec<Feature>,
    /// Class labels, in the model's class order.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
}

impl SchemaFile {
    /// Parses a schema file.
    ///
    /// # Errors
    ///
    /// [`ImportError::Schema`] when it is not valid JSON of this form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ImportError> {
        serde_json::from_slice(bytes).map_err(|e| ImportError::Schema {
            reason: bounded(e.to_string()),
        })
    }

    /// Reads a schema file (at most 64 MiB).
    ///
    /// # Errors
    ///
    /// [`ImportError::Read`] when it cannot be read; as
    /// [`from_json`](Self::from_json).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ImportError> {
        let bytes =
            crate::artifact::read_capped(path.as_ref(), 64 << 20).map_err(ImportError::Read)?;
        Self::from_json(&bytes)
    }

    /// The schema for a model with `proposed` features.
    pub(crate) fn schema_for(
        &self,
        proposed: &[ProposedFeature],
        options: &ImportOptions,
    ) -> Result<FeatureSchema, ImportError> {
        let schema_err = |reason: String| ImportError::Schema {
            reason: bounded(reason),
        };
        if let Some(f) = self
            .features
            .iter()
            .find(|f| !proposed.iter().any(|p| p.name == f.name()))
        {
            return Err(schema_err(format!(
                "feature `{}` is not a feature of the model (it has {})",
                f.name(),
                names(proposed)
            )));
        }
        let mut builder = FeatureSchema::builder();
        for p in proposed {
            let given = self.features.iter().find(|f| f.name() == p.name);
            // A feature the file lists keeps its form: a categorical one
            // is encoded as its level index, which is what the trees split
            // on (categorical splits test it, numeric splits compare it).
            let feature = match (given, &p.categorical) {
                (Some(f), _) => {
                    if let FeatureKind::Categorical { levels, .. } = f.kind() {
                        if levels.len() > options.max_levels {
                            return Err(schema_err(format!(
                                "feature `{}` has {} levels, more than the limit of {}",
                                p.name,
                                levels.len(),
                                options.max_levels
                            )));
                        }
                        // A level's index is the code the trees split on:
                        // where the model file names its categories, the
                        // schema file must give them the same codes.
                        if let Some(trained) = p.categorical.as_ref().filter(|_| p.named) {
                            check_level_order(&p.name, trained, levels).map_err(schema_err)?;
                        }
                    }
                    f.clone()
                }
                (None, Some(levels)) if !levels.is_empty() => {
                    Feature::categorical(p.name.clone(), levels.iter().cloned())
                }
                (None, Some(_)) => {
                    return Err(schema_err(format!(
                        "feature `{}` is categorical: the schema file must list its levels",
                        p.name
                    )));
                }
                (None, None) => Feature::float(p.name.clone()).allow_non_finite(),
            };
            builder = builder.feature(feature);
        }
        builder.build().map_err(|e| schema_err(e.to_string()))
    }
}

/// `given` (a schema file's levels) starts with `trained` (the model's
/// categories, in code order).
fn check_level_order(name: &str, trained: &[String], given: &[String]) -> Result<(), String> {
    let quoted = |s: &str| format!("`{}`", s.chars().take(40).collect::<String>());
    for (code, t) in trained.iter().enumerate() {
        match given.get(code) {
            Some(g) if g == t => {}
            Some(g) => {
                return Err(format!(
                    "feature `{name}`: level {code} is {} in the schema file but {} in the model \
                     file (the schema file must list the model's {} categories first, in the \
                     model's order)",
                    quoted(g),
                    quoted(t),
                    trained.len()
                ));
            }
            None => {
                return Err(format!(
                    "feature `{name}`: the schema file lists {} levels, the model file {} \
                     categories (the schema file must list all of them first, in the model's \
                     order; level {code} would be {})",
                    given.len(),
                    trained.len(),
                    quoted(t)
                ));
            }
        }
    }
    Ok(())
}

fn names(features: &[ProposedFeature]) -> String {
    let mut s = features
        .iter()
        .take(8)
        .map(|f| format!("`{}`", f.name))
        .collect::<Vec<_>>()
        .join(", ");
    if features.len() > 8 {
        s.push_str(&format!(" and {} more", features.len() - 8));
    }
    s
}
