//! Differences between two feature schemas, and whether they break input.

use std::collections::HashSet;
use std::fmt;

use super::{ExtraFeatures, Feature, FeatureKind, FeatureSchema};

/// How the input contract changes between two model versions.
///
/// A change is *breaking* when some input that the old schema accepts is
/// rejected by the new one: a new required feature, a removed feature while
/// extra features are rejected, a narrower range, fewer categorical levels,
/// non-finite values no longer allowed, an optional feature made required, or
/// a change of type other than integer → float.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SchemaDiff {
    /// Features only the new schema has.
    pub added: Vec<String>,
    /// Features only the old schema has.
    pub removed: Vec<String>,
    /// Features both have, defined differently.
    pub changed: Vec<FeatureChange>,
    /// Whether the shared features are in a different order (changes the
    /// encoding, not which input is valid).
    pub reordered: bool,
    /// Why the change is breaking; empty when it is not.
    pub breaking: Vec<String>,
}

/// One feature defined differently in two schemas.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FeatureChange {
    /// The feature.
    pub feature: String,
    /// Its old definition.
    pub from: Feature,
    /// Its new definition.
    pub to: Feature,
}

impl SchemaDiff {
    /// Compares `old` with `new`.
    #[must_use]
    pub fn between(old: &FeatureSchema, new: &FeatureSchema) -> Self {
        let mut diff = Self::default();
        if old.same_encoding(new) && old.extra_features() == new.extra_features() {
            return diff;
        }
        let rejects_extra = new.extra_features() == ExtraFeatures::Reject;
        let mut shared_old = Vec::new();
        for f in old.features() {
            match new.feature(f.name()) {
                None => {
                    diff.removed.push(f.name().to_owned());
                    if rejects_extra {
                        diff.breaking.push(format!("`{}` was removed", f.name()));
                    }
                }
                Some((_, g)) => {
                    shared_old.push(f.name());
                    if f != g {
                        if let Some(reason) = narrows(f, g) {
                            diff.breaking.push(format!("`{}`: {reason}", f.name()));
                        }
                        diff.changed.push(FeatureChange {
                            feature: f.name().to_owned(),
                            from: f.clone(),
                            to: g.clone(),
                        });
                    }
                }
            }
        }
        for g in new.features() {
            if old.feature(g.name()).is_none() {
                diff.added.push(g.name().to_owned());
                if g.is_required() {
                    diff.breaking
                        .push(format!("`{}` is new and required", g.name()));
                }
            }
        }
        if old.extra_features() == ExtraFeatures::Ignore && rejects_extra {
            diff.breaking
                .push("extra features were ignored and are now rejected".to_owned());
        }
        let shared_new: Vec<&str> = new
            .features()
            .iter()
            .map(Feature::name)
            .filter(|n| old.feature(n).is_some())
            .collect();
        diff.reordered = shared_old != shared_new;
        diff
    }

    /// Whether any input valid under the old schema is invalid under the new.
    #[must_use]
    pub fn is_breaking(&self) -> bool {
        !self.breaking.is_empty()
    }

    /// Whether the schemas encode rows identically.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && !self.reordered
    }
}

/// Removed levels named in a breaking reason; the rest are counted.
const MAX_LEVELS_SHOWN: usize = 5;

/// Why `new` rejects some value `old` accepts, if it does.
fn narrows(old: &Feature, new: &Feature) -> Option<String> {
    if old.default_value().is_some() && new.is_required() {
        return Some("optional before, required now".into());
    }
    let lower = |a: Option<f64>, b: Option<f64>| b.is_some_and(|b| a.is_none_or(|a| b > a));
    let upper = |a: Option<f64>, b: Option<f64>| b.is_some_and(|b| a.is_none_or(|a| b < a));
    let range = |a_min, a_max, b_min, b_max| {
        (lower(a_min, b_min) || upper(a_max, b_max)).then(|| "range narrowed".to_owned())
    };
    match (old.kind(), new.kind()) {
        (
            FeatureKind::Float {
                min: a_min,
                max: a_max,
                allow_non_finite: a_nf,
            },
            FeatureKind::Float {
                min: b_min,
                max: b_max,
                allow_non_finite: b_nf,
            },
        ) => {
            if *a_nf && !b_nf {
                return Some("NaN and infinities no longer allowed".into());
            }
            range(*a_min, *a_max, *b_min, *b_max)
        }
        (
            FeatureKind::Integer {
                min: a_min,
                max: a_max,
            },
            FeatureKind::Integer {
                min: b_min,
                max: b_max,
            },
        )
        | (
            FeatureKind::Integer {
                min: a_min,
                max: a_max,
            },
            FeatureKind::Float {
                min: b_min,
                max: b_max,
                ..
            },
        ) => range(*a_min, *a_max, *b_min, *b_max),
        (FeatureKind::Boolean, FeatureKind::Boolean) => None,
        (
            FeatureKind::Categorical {
                levels: a,
                unknown_level: a_unknown,
            },
            FeatureKind::Categorical {
                levels: b,
                unknown_level: b_unknown,
            },
        ) => {
            if b_unknown.is_some() {
                None
            } else if a_unknown.is_some() {
                Some("unknown levels were mapped and are now rejected".into())
            } else {
                // A set, not `b.contains`: swaps compare schemas under the
                // swap lock, and vocabularies can have 100,000s of levels.
                let kept: HashSet<&str> = b.iter().map(String::as_str).collect();
                let mut lost = a.iter().filter(|l| !kept.contains(l.as_str()));
                let shown: Vec<&String> = lost.by_ref().take(MAX_LEVELS_SHOWN).collect();
                let more = lost.count();
                (!shown.is_empty()).then(|| match more {
                    0 => format!("levels {shown:?} were removed"),
                    n => format!("levels {shown:?} and {n} more were removed"),
                })
            }
        }
        (a, b) => Some(format!(
            "type changed from {} to {}",
            a.feature_type(),
            b.feature_type()
        )),
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no schema changes");
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("added {:?}", self.added));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {:?}", self.removed));
        }
        if !self.changed.is_empty() {
            let names: Vec<&str> = self.changed.iter().map(|c| c.feature.as_str()).collect();
            parts.push(format!("changed {names:?}"));
        }
        if self.reordered {
            parts.push("reordered".into());
        }
        f.write_str(&parts.join(", "))?;
        if self.is_breaking() {
            write!(f, "; breaking: {}", self.breaking.join("; "))?;
        }
        Ok(())
    }
}
