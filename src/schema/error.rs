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

/// The most characters of a caller's string (a feature name, a level, a
/// value) shown in a message; longer ones are cut with `…`.
const MAX_SHOWN_CHARS: usize = 64;

/// The most violations [`SchemaError`]'s `Display` lists; the rest are
/// counted ("and N more"). Every violation stays in
/// [`SchemaError::violations`].
pub const MAX_DISPLAYED_VIOLATIONS: usize = 20;

/// A caller's string, cut to [`MAX_SHOWN_CHARS`].
struct Short<'a>(&'a str);

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_SHOWN_CHARS) {
            None => f.write_str(self.0),
            Some((cut, _)) => write!(f, "{}…", &self.0[..cut]),
        }
    }
}

/// A float in at most about 25 characters: `1e300` stays `1e300`, not 301
/// digits.
struct ShortF64(f64);

impl fmt::Display for ShortF64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let a = v.abs();
        if v.is_finite() && a != 0.0 && !(1e-6..1e15).contains(&a) {
            write!(f, "{v:e}")
        } else {
            write!(f, "{v}")
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        let name = Short(&self.feature);
        match &self.kind {
            ViolationKind::Missing => write!(f, "`{name}` is required but missing"),
            ViolationKind::WrongType { expected, found } => {
                write!(f, "`{name}` expects {expected}, got {found}")
            }
            ViolationKind::LossyCast { value, expected } => {
                let value = match value {
                    FeatureValue::Float(x) => ShortF64(*x).to_string(),
                    other => other.to_string(),
                };
                write!(
                    f,
                    "`{name}` expects {expected}; {} cannot be converted losslessly",
                    Short(&value)
                )
            }
            ViolationKind::OutOfRange { value, min, max } => {
                write!(f, "`{name}` = {} is out of range [", ShortF64(*value))?;
                match min {
                    Some(m) => write!(f, "{}", ShortF64(*m))?,
                    None => f.write_str("-inf")?,
                }
                f.write_str(", ")?;
                match max {
                    Some(m) => write!(f, "{}]", ShortF64(*m)),
                    None => f.write_str("inf]"),
                }
            }
            ViolationKind::NonFinite { value } => {
                write!(f, "`{name}` = {value} is not finite")
            }
            ViolationKind::UnknownCategory { value } => {
                write!(
                    f,
                    "`{name}` has unknown level \"{}\"",
                    Short(&value.escape_debug().to_string())
                )
            }
            ViolationKind::Unexpected => write!(f, "`{name}` is not a feature of this schema"),
        }
    }
}

/// Input did not satisfy a [`FeatureSchema`](crate::FeatureSchema): every
/// violation found, not just the first.
///
/// Its `Display` stays short whatever the input: at most
/// [`MAX_DISPLAYED_VIOLATIONS`] violations are listed, then "and N more";
/// names and levels are cut at 64 characters and large or tiny numbers are
/// shown in exponent form.
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
        for (i, v) in self
            .violations
            .iter()
            .take(MAX_DISPLAYED_VIOLATIONS)
            .enumerate()
        {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        if n > MAX_DISPLAYED_VIOLATIONS {
            write!(f, "; and {} more", n - MAX_DISPLAYED_VIOLATIONS)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_bounded_whatever_the_input() {
        let long = "x".repeat(10_000);
        let violations: Vec<Violation> = (0..10_000)
            .map(|row| Violation {
                row: Some(row),
                feature: long.clone(),
                kind: ViolationKind::OutOfRange {
                    value: 1e300,
                    min: Some(0.0),
                    max: Some(1e-300),
                },
            })
            .collect();
        let text = SchemaError::new(violations).to_string();
        assert!(text.len() < 4_000, "{} bytes", text.len());
        assert!(text.contains("10000 violations"), "{text}");
        assert!(text.ends_with("; and 9980 more"), "{text}");
        assert!(
            text.contains("= 1e300 is out of range [0, 1e-300]"),
            "{text}"
        );
        assert!(text.contains(&format!("`{}…`", "x".repeat(MAX_SHOWN_CHARS))));

        let level = Violation {
            row: None,
            feature: "device".into(),
            kind: ViolationKind::UnknownCategory {
                value: "é".repeat(1_000),
            },
        };
        assert_eq!(
            level.to_string(),
            format!(
                "`device` has unknown level \"{}…\"",
                "é".repeat(MAX_SHOWN_CHARS)
            )
        );
        let small = Violation {
            row: None,
            feature: "basket_value".into(),
            kind: ViolationKind::OutOfRange {
                value: -3.5,
                min: Some(0.0),
                max: None,
            },
        };
        assert_eq!(
            small.to_string(),
            "`basket_value` = -3.5 is out of range [0, inf]"
        );
    }
}
