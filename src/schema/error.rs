//! What can be wrong with input ([`SchemaError`]) or with a schema definition
//! ([`SchemaDefinitionError`]).

use std::fmt;

use super::{FeatureType, FeatureValue, ValueType};

/// One thing wrong with one feature of one input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Index of the row within a batch; `None` for single-row validation.
    pub row: Option<usize>,
    /// Name of the offending feature (for [`ViolationKind::Unexpected`], the
    /// name the caller sent).
    pub feature: String,
    /// What is wrong.
    pub kind: ViolationKind,
}

/// The kinds of [`Violation`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A required feature was absent (or null).
    Missing,
    /// The value has a type the feature does not accept.
    WrongType {
        /// What the feature takes.
        expected: FeatureType,
        /// What was sent.
        found: ValueType,
    },
    /// The value has the right family of type but cannot be converted without
    /// losing information (a non-integral float for an integer feature, an
    /// integer beyond 2^53 that no `f64` represents exactly).
    LossyCast {
        /// The value as sent.
        value: FeatureValue,
        /// What the feature takes.
        expected: FeatureType,
    },
    /// The value lies outside the feature's declared range.
    OutOfRange {
        /// The value as a float.
        value: f64,
        /// Inclusive lower bound, if any.
        min: Option<f64>,
        /// Inclusive upper bound, if any.
        max: Option<f64>,
    },
    /// NaN or an infinity where the schema does not allow them.
    NonFinite {
        /// The value sent.
        value: f64,
    },
    /// A categorical level outside the vocabulary, and the schema maps no
    /// unknown level.
    UnknownCategory {
        /// The level sent.
        value: String,
    },
    /// A feature the schema does not have, while extra features are rejected
    /// (see [`ExtraFeatures`](super::ExtraFeatures)).
    Unexpected,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        let name = &self.feature;
        match &self.kind {
            ViolationKind::Missing => write!(f, "`{name}` is required but missing"),
            ViolationKind::WrongType { expected, found } => {
                write!(f, "`{name}` expects {expected}, got {found}")
            }
            ViolationKind::LossyCast { value, expected } => {
                write!(
                    f,
                    "`{name}` expects {expected}; {value} cannot be converted losslessly"
                )
            }
            ViolationKind::OutOfRange { value, min, max } => {
                write!(f, "`{name}` = {value} is out of range [")?;
                match min {
                    Some(m) => write!(f, "{m}")?,
                    None => f.write_str("-inf")?,
                }
                f.write_str(", ")?;
                match max {
                    Some(m) => write!(f, "{m}]"),
                    None => f.write_str("inf]"),
                }
            }
            ViolationKind::NonFinite { value } => {
                write!(f, "`{name}` = {value} is not finite")
            }
            ViolationKind::UnknownCategory { value } => {
                write!(f, "`{name}` has unknown level {value:?}")
            }
            ViolationKind::Unexpected => write!(f, "`{name}` is not a feature of this schema"),
        }
    }
}

/// Input did not satisfy a [`FeatureSchema`](crate::FeatureSchema): every
/// violation found, not just the first.
///
/// # Examples
///
/// ```
/// use modelhost::{Feature, FeatureMap, FeatureSchema};
/// use modelhost::schema::ViolationKind;
///
/// let schema = FeatureSchema::builder()
///     .feature(Feature::float("basket_value").min(0.0))
///     .feature(Feature::integer("items"))
///     .build()?;
/// let err = schema
///     .validate(&FeatureMap::new().with("basket_value", -3.0).with("colour", "red"))
///     .unwrap_err();
/// assert_eq!(err.violations().len(), 3); // out of range, missing, unexpected
/// assert!(err.violations().iter().any(|v| v.feature == "items" && v.kind == ViolationKind::Missing));
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    violations: Vec<Violation>,
}

impl SchemaError {
    pub(crate) fn new(violations: Vec<Violation>) -> Self {
        debug_assert!(!violations.is_empty());
        Self { violations }
    }

    /// Every violation, ordered by row, then by feature name.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Consumes the error, returning its violations.
    #[must_use]
    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.violations.len();
        write!(f, "input violates the feature schema ({n} violation")?;
        if n != 1 {
            f.write_str("s")?;
        }
        f.write_str("): ")?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaError {}

/// A schema definition that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaDefinitionError {
    /// The schema has no features.
    #[error("a feature schema needs at least one feature")]
    Empty,
    /// A feature name is empty.
    #[error("feature #{index} has an empty name")]
    EmptyName {
        /// Position of the feature.
        index: usize,
    },
    /// Two features share a name.
    #[error("feature `{feature}` is defined more than once")]
    DuplicateName {
        /// The repeated name.
        feature: String,
    },
    /// A bound is NaN, or min exceeds max.
    #[error("feature `{feature}` has an invalid range: {reason}")]
    InvalidRange {
        /// The feature.
        feature: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A categorical feature has no levels, an empty level, or a repeated one.
    #[error("feature `{feature}` has an invalid vocabulary: {reason}")]
    InvalidVocabulary {
        /// The feature.
        feature: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The unknown level named for a categorical feature is not in its vocabulary.
    #[error("feature `{feature}` maps unknown levels to {level:?}, which is not in its vocabulary")]
    UnknownLevelNotInVocabulary {
        /// The feature.
        feature: String,
        /// The level named.
        level: String,
    },
    /// An optional feature's default value does not satisfy the feature itself.
    #[error("feature `{feature}` has an invalid default: {violation}")]
    InvalidDefault {
        /// The feature.
        feature: String,
        /// Why the default fails.
        violation: Box<Violation>,
    },
    /// A setter was used on a kind it does not apply to (for example
    /// `min` on a boolean feature).
    #[error("feature `{feature}`: {reason}")]
    SetterMisuse {
        /// The feature.
        feature: String,
        /// Which setter, and what it applies to.
        reason: &'static str,
    },
    /// A Rust type's JSON Schema cannot be turned into a feature schema.
    #[error("cannot derive a feature schema from the type's JSON Schema: {reason}")]
    UnsupportedType {
        /// The feature, when the problem is with one.
        feature: Option<String>,
        /// What is unsupported.
        reason: String,
    },
}

/// Why input could not be turned into validated rows: the values broke the
/// schema, the row had the wrong width, or a typed value was not a struct.
///
/// The crate [`Error`](crate::Error) folds each case into its own variant
/// (`Schema`, `WidthMismatch`, `TypedInput`), so `?` keeps them apart.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Input violated the schema (every violation is listed).
    #[error(transparent)]
    Schema(#[from] SchemaError),

    /// An encoded row or matrix does not have one value per feature.
    #[error("input has {found} columns, the schema has {expected} features")]
    WidthMismatch {
        /// The schema's width.
        expected: usize,
        /// The columns given.
        found: usize,
    },

    /// A typed value could not be walked as a struct of features.
    #[error("typed input cannot be encoded: {reason}")]
    TypedInput {
        /// Why.
        reason: String,
    },
}
