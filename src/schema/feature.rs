//! One feature of a schema: its name, kind, presence and default.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::FeatureValue;

/// The largest integer magnitude an `f64` represents exactly (2^53).
pub(crate) const MAX_EXACT_INT: i64 = 1 << 53;

/// What values a feature takes and how they are encoded in the dense row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum FeatureKind {
    /// A real number, encoded as itself. Integers are accepted where they
    /// convert exactly.
    Float {
        /// Inclusive lower bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Inclusive upper bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Whether NaN and the infinities are accepted (default: no).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allow_non_finite: bool,
    },
    /// A whole number, encoded as an `f64` (so at most 2^53 in magnitude).
    /// Floats are accepted only when integral.
    Integer {
        /// Inclusive lower bound (kept as `f64`; every admissible integer is
        /// exact in `f64`, so comparisons are exact).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Inclusive upper bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// `true` / `false`, encoded as `1.0` / `0.0`.
    Boolean,
    /// One level out of a fixed vocabulary, encoded as the level's index
    /// (ordinal encoding, which is what tree models consume).
    Categorical {
        /// The vocabulary, in encoding order.
        levels: Vec<String>,
        /// A level (from `levels`) that unknown input maps to. `None` makes
        /// unknown input an error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unknown_level: Option<String>,
    },
}

impl FeatureKind {
    /// The family of this kind, as named in violations.
    #[must_use]
    pub fn feature_type(&self) -> FeatureType {
        match self {
            Self::Float { .. } => FeatureType::Float,
            Self::Integer { .. } => FeatureType::Integer,
            Self::Boolean => FeatureType::Boolean,
            Self::Categorical { .. } => FeatureType::Categorical,
        }
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range =
            |f: &mut fmt::Formatter<'_>, min: &Option<f64>, max: &Option<f64>| match (min, max) {
                (None, None) => Ok(()),
                (lo, hi) => {
                    f.write_str(" in [")?;
                    match lo {
                        Some(v) => write!(f, "{v}")?,
                        None => f.write_str("-inf")?,
                    }
                    f.write_str(", ")?;
                    match hi {
                        Some(v) => write!(f, "{v}]"),
                        None => f.write_str("inf]"),
                    }
                }
            };
        match self {
            Self::Float {
                min,
                max,
                allow_non_finite,
            } => {
                f.write_str("float")?;
                range(f, min, max)?;
                if *allow_non_finite {
                    f.write_str(" (NaN/inf allowed)")?;
                }
                Ok(())
            }
            Self::Integer { min, max } => {
                f.write_str("integer")?;
                range(f, min, max)
            }
            Self::Boolean => f.write_str("boolean"),
            Self::Categorical {
                levels,
                unknown_level,
            } => {
                write!(f, "one of {levels:?}")?;
                match unknown_level {
                    Some(u) => write!(f, " (unknown -> {u:?})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The family of a [`FeatureKind`], without its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeatureType {
    /// See [`FeatureKind::Float`].
    Float,
    /// See [`FeatureKind::Integer`].
    Integer,
    /// See [`FeatureKind::Boolean`].
    Boolean,
    /// See [`FeatureKind::Categorical`].
    Categorical,
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Float => "a float",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean",
            Self::Categorical => "a categorical level (string)",
        })
    }
}

/// One named feature: its kind, and whether it is required or optional with a
/// default.
///
/// Made with [`Feature::float`], [`Feature::integer`], [`Feature::boolean`] or
/// [`Feature::categorical`] and refined with the setters; checked as a whole
/// when the [`SchemaBuilder`](super::SchemaBuilder) builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) kind: FeatureKind,
    /// `None`: required. `Some(v)`: optional, and absent input takes `v`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default: Option<FeatureValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// A setter was used on a kind it does not apply to; reported by the
    /// builder rather than silently ignored.
    #[serde(skip)]
    pub(crate) misuse: Option<&'static str>,
}

impl Feature {
    fn new(name: impl Into<String>, kind: FeatureKind) -> Self {
        Self {
            name: name.into(),
            kind,
            default: None,
            description: None,
            misuse: None,
        }
    }

    /// A required float feature, unbounded, rejecting NaN and infinities.
    #[must_use]
    pub fn float(name: impl Into<String>) -> Self {
        Self::new(
            name,
            FeatureKind::Float {
                min: None,
                max: None,
                allow_non_finite: false,
            },
        )
    }

    /// A required, unbounded integer feature.
    #[must_use]
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(
            name,
            FeatureKind::Integer {
                min: None,
                max: None,
            },
        )
    }

    /// A required boolean feature.
    #[must_use]
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, FeatureKind::Boolean)
    }

    /// A required categorical feature over `levels`; unknown levels are an
    /// error unless [`Feature::unknown_as`] names a fallback.
    #[must_use]
    pub fn categorical<I, S>(name: impl Into<String>, levels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            FeatureKind::Categorical {
                levels: levels.into_iter().map(Into::into).collect(),
                unknown_level: None,
            },
        )
    }

    /// A feature of an explicit kind.
    #[must_use]
    pub fn of_kind(name: impl Into<String>, kind: FeatureKind) -> Self {
        Self::new(name, kind)
    }

    /// Inclusive lower bound (float and integer features; default: none).
    /// On other kinds the builder reports
    /// [`SchemaDefinitionError::SetterMisuse`](super::SchemaDefinitionError::SetterMisuse).
    #[must_use]
    pub fn min(mut self, bound: f64) -> Self {
        match &mut self.kind {
            FeatureKind::Float { min, .. } | FeatureKind::Integer { min, .. } => *min = Some(bound),
            _ => self.misuse = Some("min() applies to float and integer features only"),
        }
        self
    }

    /// Inclusive upper bound (float and integer features; default: none).
    #[must_use]
    pub fn max(mut self, bound: f64) -> Self {
        match &mut self.kind {
            FeatureKind::Float { max, .. } | FeatureKind::Integer { max, .. } => *max = Some(bound),
            _ => self.misuse = Some("max() applies to float and integer features only"),
        }
        self
    }

    /// Accept NaN and infinities (float features; default: rejected).
    #[must_use]
    pub fn allow_non_finite(mut self) -> Self {
        if let FeatureKind::Float {
            allow_non_finite, ..
        } = &mut self.kind
        {
            *allow_non_finite = true;
        } else {
            self.misuse = Some("allow_non_finite() applies to float features only");
        }
        self
    }

    /// Map levels outside the vocabulary to `level`, which must itself be one
    /// of the levels (categorical features; default: unknown levels are an
    /// error).
    #[must_use]
    pub fn unknown_as(mut self, level: impl Into<String>) -> Self {
        if let FeatureKind::Categorical { unknown_level, .. } = &mut self.kind {
            *unknown_level = Some(level.into());
        } else {
            self.misuse = Some("unknown_as() applies to categorical features only");
        }
        self
    }

    /// Make the feature optional: absent or null input takes `default`
    /// (default: the feature is required).
    #[must_use]
    pub fn optional(mut self, default: impl Into<FeatureValue>) -> Self {
        self.default = Some(default.into());
        self
    }

    /// A human-readable description, exported into JSON Schema.
    #[must_use]
    pub fn describe(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// The feature's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The feature's kind.
    #[must_use]
    pub fn kind(&self) -> &FeatureKind {
        &self.kind
    }

    /// The default for absent input, or `None` if the feature is required.
    #[must_use]
    pub fn default_value(&self) -> Option<&FeatureValue> {
        self.default.as_ref()
    }

    /// Whether absent input is an error.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }

    /// The description, if any.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

/// What validation does with input features the schema does not have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraFeatures {
    /// Report each as [`ViolationKind::Unexpected`](super::ViolationKind::Unexpected) (the default).
    #[default]
    Reject,
    /// Ignore them, as MLflow's scoring server does.
    Ignore,
}
