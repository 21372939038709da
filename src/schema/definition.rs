//! [`FeatureSchema`], its builder, and the checking of raw values.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::feature::MAX_EXACT_INT;
use super::value::ValueRef;
use super::{
    ExtraFeatures, Feature, FeatureBatch, FeatureKind, FeatureMap, FeatureType, FeatureValue,
    FeatureVector, SchemaDefinitionError, SchemaError, Violation, ViolationKind,
};

/// The input contract of a model: ordered, named, typed features.
///
/// A schema is immutable once built and cheap to clone (one reference count).
/// [`FeatureSchema::validate`] turns a caller's [`FeatureMap`] into the dense
/// [`FeatureVector`] a model consumes, reporting every violation at once.
///
/// # Rules
///
/// - Every required feature must be present and non-null; an absent or null
///   optional feature takes its default.
/// - Casts are lossless only: an integer is accepted for a float feature
///   (when its magnitude is at most 2^53), an integral float for an integer
///   feature; a string is never parsed into a number, and a number is never a
///   boolean or a categorical level.
/// - NaN and infinities are rejected unless the float feature allows them.
/// - Bounds are inclusive.
/// - Features the schema does not have are an error unless the schema was
///   built with [`ExtraFeatures::Ignore`].
///
/// # Encoding
///
/// Floats and integers encode as themselves, booleans as `0.0`/`1.0`, and
/// categorical levels as their index in the vocabulary.
///
/// # Examples
///
/// ```
/// use modelhost::{Feature, FeatureMap, FeatureSchema};
///
/// let schema = FeatureSchema::builder()
///     .feature(Feature::integer("recency_days").min(0.0))
///     .feature(Feature::float("basket_value").min(0.0))
///     .feature(Feature::categorical("device", ["mobile", "desktop", "tablet"]))
///     .feature(Feature::boolean("returning").optional(false))
///     .build()?;
///
/// let row = schema.validate(
///     &FeatureMap::new()
///         .with("recency_days", 3)
///         .with("basket_value", 42.5)
///         .with("device", "desktop"),
/// )?;
/// assert_eq!(row.as_slice(), &[3.0, 42.5, 1.0, 0.0]);
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SchemaDef", into = "SchemaDef")]
pub struct FeatureSchema {
    inner: Arc<Inner>,
}

struct Inner {
    features: Vec<Feature>,
    /// Per-feature compiled checks, parallel to `features`.
    compiled: Vec<Compiled>,
    /// The same checks for already encoded values as plain ranges, parallel
    /// to `features`; `None` when a feature accepts non-finite values.
    fast: Option<Box<[FastCheck]>>,
    /// Indices of `features`, sorted by name, for a merge join with the
    /// (sorted) entries of a [`FeatureMap`].
    by_name: Vec<usize>,
    /// Encoded defaults, parallel to `features` (`None`: required).
    defaults: Vec<Option<f64>>,
    extra: ExtraFeatures,
    fingerprint: Fingerprint,
}

#[derive(Clone)]
enum Compiled {
    Float {
        min: f64,
        max: f64,
        allow_non_finite: bool,
    },
    Integer {
        min: f64,
        max: f64,
    },
    Boolean,
    Categorical {
        index: HashMap<String, usize>,
        unknown: Option<usize>,
    },
}

/// An encoded value passes when it lies in `lo..=hi` (so NaN never does)
/// and, for `integral` features, has no fraction: the whole of
/// [`FeatureSchema::check_encoded`] for every feature that refuses
/// non-finite values, as two comparisons and a cast.
#[derive(Debug, Clone, Copy)]
pub(super) struct FastCheck {
    lo: f64,
    hi: f64,
    integral: bool,
}

impl FastCheck {
    #[inline]
    pub(super) fn passes(self, v: f64) -> bool {
        // Integral without a conversion or a libm call: below 2^52 in
        // magnitude, adding and removing 2^52 rounds to the nearest integer,
        // which is the value itself only for an integer; from 2^52 on every
        // double is an integer. (NaN fails the range below.)
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let a = v.abs();
        #[allow(clippy::float_cmp)]
        let integral = !self.integral | (a >= TWO_52) | ((a + TWO_52) - TWO_52 == a);
        // `&`, not `&&`: no branches, so the loop over a row stays tight.
        (v >= self.lo) & (v <= self.hi) & integral
    }

    fn of(c: &Compiled) -> Option<Self> {
        let exact = MAX_EXACT_INT as f64;
        Some(match c {
            Compiled::Float {
                allow_non_finite: true,
                ..
            } => return None,
            Compiled::Float { min, max, .. } => Self {
                lo: min.max(-f64::MAX),
                hi: max.min(f64::MAX),
                integral: false,
            },
            Compiled::Integer { min, max } => Self {
                lo: min.max(-exact),
                hi: max.min(exact),
                integral: true,
            },
            Compiled::Boolean => Self {
                lo: 0.0,
                hi: 1.0,
                integral: true,
            },
            Compiled::Categorical { index, .. } => Self {
                lo: 0.0,
                hi: index.len() as f64 - 1.0,
                integral: true,
            },
        })
    }
}

/// The serialized form of a schema; deserializing goes through the builder,
/// so a decoded schema is as checked as a built one.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaDef {
    features: Vec<Feature>,
    #[serde(default)]
    extra_features: ExtraFeatures,
}

impl TryFrom<SchemaDef> for FeatureSchema {
    type Error = SchemaDefinitionError;
    fn try_from(def: SchemaDef) -> Result<Self, Self::Error> {
        SchemaBuilder {
            features: def.features,
            extra: def.extra_features,
        }
        .build()
    }
}

impl From<FeatureSchema> for SchemaDef {
    fn from(s: FeatureSchema) -> Self {
        Self {
            features: s.inner.features.clone(),
            extra_features: s.inner.extra,
        }
    }
}

/// A stable SHA-256 digest of a schema's features (names, order, kinds,
/// bounds, vocabularies, defaults). Descriptions and the
/// [`ExtraFeatures`] policy do not change it, since neither changes how a row
/// is encoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The raw digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Builds a [`FeatureSchema`]; every check runs once, in [`SchemaBuilder::build`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SchemaBuilder {
    features: Vec<Feature>,
    extra: ExtraFeatures,
}

impl SchemaBuilder {
    /// Appends a feature; features encode in the order they are added.
    pub fn feature(mut self, feature: Feature) -> Self {
        self.features.push(feature);
        self
    }

    /// What to do with input features the schema lacks (default:
    /// [`ExtraFeatures::Reject`]).
    pub fn extra_features(mut self, policy: ExtraFeatures) -> Self {
        self.extra = policy;
        self
    }

    /// Checks the definition and builds the schema.
    ///
    /// # Errors
    ///
    /// [`SchemaDefinitionError`] for the first problem found: no features, an
    /// empty or repeated name, a NaN bound or min above max, an empty or
    /// repeated categorical level, an unknown level outside the vocabulary, or
    /// a default that the feature itself would reject.
    pub fn build(self) -> Result<FeatureSchema, SchemaDefinitionError> {
        if self.features.is_empty() {
            return Err(SchemaDefinitionError::Empty);
        }
        let mut compiled = Vec::with_capacity(self.features.len());
        for (index, f) in self.features.iter().enumerate() {
            if f.name.is_empty() {
                return Err(SchemaDefinitionError::EmptyName { index });
            }
            if let Some(reason) = f.misuse {
                return Err(SchemaDefinitionError::SetterMisuse {
                    feature: f.name.clone(),
                    reason,
                });
            }
            compiled.push(compile(f)?);
        }
        let mut by_name: Vec<usize> = (0..self.features.len()).collect();
        by_name.sort_by(|&a, &b| self.features[a].name.cmp(&self.features[b].name));
        for w in by_name.windows(2) {
            if self.features[w[0]].name == self.features[w[1]].name {
                return Err(SchemaDefinitionError::DuplicateName {
                    feature: self.features[w[0]].name.clone(),
                });
            }
        }
        let fingerprint = fingerprint(&self.features);
        let fast = compiled.iter().map(FastCheck::of).collect();
        let mut inner = Inner {
            features: self.features,
            compiled,
            fast,
            by_name,
            defaults: Vec::new(),
            extra: self.extra,
            fingerprint,
        };
        // Defaults must pass their own feature's checks; encode them once.
        let mut defaults = Vec::with_capacity(inner.features.len());
        for (i, f) in inner.features.iter().enumerate() {
            let encoded = match &f.default {
                None => None,
                Some(FeatureValue::Null) => Some(Err(ViolationKind::Missing)),
                Some(d) => Some(inner.check(i, d.as_ref())),
            };
            match encoded {
                None => defaults.push(None),
                Some(Ok(v)) => defaults.push(Some(v)),
                Some(Err(kind)) => {
                    return Err(SchemaDefinitionError::InvalidDefault {
                        feature: f.name.clone(),
                        violation: Box::new(Violation {
                            row: None,
                            feature: f.name.clone(),
                            kind,
                        }),
                    });
                }
            }
        }
        inner.defaults = defaults;
        Ok(FeatureSchema {
            inner: Arc::new(inner),
        })
    }
}

fn compile(f: &Feature) -> Result<Compiled, SchemaDefinitionError> {
    let range = |min: Option<f64>, max: Option<f64>| {
        let lo = min.unwrap_or(f64::NEG_INFINITY);
        let hi = max.unwrap_or(f64::INFINITY);
        if lo.is_nan() || hi.is_nan() {
            return Err(SchemaDefinitionError::InvalidRange {
                feature: f.name.clone(),
                reason: "a bound is NaN",
            });
        }
        if lo > hi {
            return Err(SchemaDefinitionError::InvalidRange {
                feature: f.name.clone(),
                reason: "min is greater than max",
            });
        }
        Ok((lo, hi))
    };
    Ok(match &f.kind {
        FeatureKind::Float {
            min,
            max,
            allow_non_finite,
        } => {
            let (min, max) = range(*min, *max)?;
            Compiled::Float {
                min,
                max,
                allow_non_finite: *allow_non_finite,
            }
        }
        FeatureKind::Integer { min, max } => {
            let (min, max) = range(*min, *max)?;
            Compiled::Integer { min, max }
        }
        FeatureKind::Boolean => Compiled::Boolean,
        FeatureKind::Categorical {
            levels,
            unknown_level,
        } => {
            let vocab_err = |reason| SchemaDefinitionError::InvalidVocabulary {
                feature: f.name.clone(),
                reason,
            };
            if levels.is_empty() {
                return Err(vocab_err("no levels"));
            }
            let mut index = HashMap::with_capacity(levels.len());
            for (i, l) in levels.iter().enumerate() {
                if l.is_empty() {
                    return Err(vocab_err("an empty level"));
                }
                if index.insert(l.clone(), i).is_some() {
                    return Err(vocab_err("a level is repeated"));
                }
            }
            let unknown = match unknown_level {
                None => None,
                Some(u) => Some(*index.get(u).ok_or_else(|| {
                    SchemaDefinitionError::UnknownLevelNotInVocabulary {
                        feature: f.name.clone(),
                        level: u.clone(),
                    }
                })?),
            };
            Compiled::Categorical { index, unknown }
        }
    })
}

fn fingerprint(features: &[Feature]) -> Fingerprint {
    #[derive(Serialize)]
    struct Canon<'a> {
        name: &'a str,
        kind: &'a FeatureKind,
        default: &'a Option<FeatureValue>,
    }
    let canon: Vec<Canon<'_>> = features
        .iter()
        .map(|f| Canon {
            name: &f.name,
            kind: &f.kind,
            default: &f.default,
        })
        .collect();
    // serde_json output for these plain structs is deterministic (fixed field
    // order, shortest round-trip float formatting).
    let bytes = serde_json::to_vec(&canon).unwrap_or_default();
    Fingerprint(Sha256::digest(&bytes).into())
}

impl Inner {
    /// Checks one present, non-null value against feature `i` and encodes it.
    #[inline]
    fn check(&self, i: usize, value: ValueRef<'_>) -> Result<f64, ViolationKind> {
        let expected = || self.features[i].kind.feature_type();
        let lossy = |value: ValueRef<'_>| ViolationKind::LossyCast {
            value: value.to_owned_value(),
            expected: expected(),
        };
        let wrong = |value: ValueRef<'_>| ViolationKind::WrongType {
            expected: expected(),
            found: value.value_type(),
        };
        match &self.compiled[i] {
            Compiled::Float {
                min,
                max,
                allow_non_finite,
            } => {
                let v = match value {
                    ValueRef::Float(v) => v,
                    ValueRef::Int(n) if n.unsigned_abs() <= MAX_EXACT_INT as u64 => n as f64,
                    ValueRef::Int(_) => return Err(lossy(value)),
                    _ => return Err(wrong(value)),
                };
                if v.is_nan() {
                    return if *allow_non_finite {
                        Ok(v)
                    } else {
                        Err(ViolationKind::NonFinite { value: v })
                    };
                }
                if v.is_infinite() && !allow_non_finite {
                    return Err(ViolationKind::NonFinite { value: v });
                }
                in_range(v, *min, *max)
            }
            Compiled::Integer { min, max } => {
                let v = match value {
                    ValueRef::Int(n) if n.unsigned_abs() <= MAX_EXACT_INT as u64 => n as f64,
                    ValueRef::Int(_) => return Err(lossy(value)),
                    ValueRef::Float(v) if !v.is_finite() => {
                        return Err(ViolationKind::NonFinite { value: v });
                    }
                    ValueRef::Float(v) if v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT as f64 => v,
                    ValueRef::Float(_) => return Err(lossy(value)),
                    _ => return Err(wrong(value)),
                };
                in_range(v, *min, *max)
            }
            Compiled::Boolean => match value {
                ValueRef::Bool(b) => Ok(if b { 1.0 } else { 0.0 }),
                _ => Err(wrong(value)),
            },
            Compiled::Categorical { index, unknown } => match value {
                ValueRef::Str(s) => match index.get(s).or(unknown.as_ref()) {
                    Some(&ix) => Ok(ix as f64),
                    None => Err(ViolationKind::UnknownCategory {
                        value: s.to_owned(),
                    }),
                },
                _ => Err(wrong(value)),
            },
        }
    }
}

#[inline]
fn in_range(v: f64, min: f64, max: f64) -> Result<f64, ViolationKind> {
    if v < min || v > max {
        Err(ViolationKind::OutOfRange {
            value: v,
            min: min.is_finite().then_some(min),
            max: max.is_finite().then_some(max),
        })
    } else {
        Ok(v)
    }
}

impl FeatureSchema {
    /// The checks of [`check_encoded`](Self::check_encoded) as ranges, one
    /// per feature, when every feature has one.
    pub(super) fn fast_checks(&self) -> Option<&[FastCheck]> {
        self.inner.fast.as_deref()
    }

    /// Checks an already encoded value for feature `i` against the rules its
    /// raw form would have to pass (see `schema/encoded.rs`).
    pub(super) fn check_encoded(&self, i: usize, v: f64) -> Result<f64, ViolationKind> {
        let lossy = |expected| ViolationKind::LossyCast {
            value: FeatureValue::Float(v),
            expected,
        };
        match &self.inner.compiled[i] {
            Compiled::Float {
                min,
                max,
                allow_non_finite,
            } => {
                if !v.is_finite() {
                    return if *allow_non_finite {
                        Ok(v)
                    } else {
                        Err(ViolationKind::NonFinite { value: v })
                    };
                }
                in_range(v, *min, *max)
            }
            Compiled::Integer { min, max } => {
                if !v.is_finite() {
                    return Err(ViolationKind::NonFinite { value: v });
                }
                if v.fract() != 0.0 || v.abs() > MAX_EXACT_INT as f64 {
                    return Err(lossy(FeatureType::Integer));
                }
                in_range(v, *min, *max)
            }
            Compiled::Boolean => {
                if v == 0.0 || v == 1.0 {
                    Ok(v)
                } else {
                    Err(lossy(FeatureType::Boolean))
                }
            }
            Compiled::Categorical { index, .. } => {
                if !v.is_finite() {
                    return Err(ViolationKind::NonFinite { value: v });
                }
                if v.fract() != 0.0 {
                    return Err(lossy(FeatureType::Categorical));
                }
                let levels = index.len() as f64;
                if v < 0.0 || v >= levels {
                    return Err(ViolationKind::OutOfRange {
                        value: v,
                        min: Some(0.0),
                        max: Some(levels - 1.0),
                    });
                }
                Ok(v)
            }
        }
    }
}

impl FeatureSchema {
    /// Starts a [`SchemaBuilder`].
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The features, in encoding order.
    #[must_use]
    pub fn features(&self) -> &[Feature] {
        &self.inner.features
    }

    /// Number of features: the width of every encoded row.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.features.len()
    }

    /// Always `false`: a schema has at least one feature.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.features.is_empty()
    }

    /// The feature called `name` and its column index.
    #[must_use]
    pub fn feature(&self, name: &str) -> Option<(usize, &Feature)> {
        let f = &self.inner.features;
        self.inner
            .by_name
            .binary_search_by(|&i| f[i].name.as_str().cmp(name))
            .ok()
            .map(|pos| {
                let i = self.inner.by_name[pos];
                (i, &f[i])
            })
    }

    /// The policy for features the schema lacks.
    #[must_use]
    pub fn extra_features(&self) -> ExtraFeatures {
        self.inner.extra
    }

    /// A copy of this schema with another [`ExtraFeatures`] policy. The
    /// fingerprint, and so compatibility with models, is unchanged.
    #[must_use]
    pub fn with_extra_features(&self, policy: ExtraFeatures) -> Self {
        if policy == self.inner.extra {
            return self.clone();
        }
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                features: inner.features.clone(),
                compiled: inner.compiled.clone(),
                fast: inner.fast.clone(),
                by_name: inner.by_name.clone(),
                defaults: inner.defaults.clone(),
                extra: policy,
                fingerprint: inner.fingerprint,
            }),
        }
    }

    /// The stable digest of the feature definitions.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint
    }

    /// Whether `other` encodes rows identically (same fingerprint). Cheap when
    /// both are clones of one schema.
    #[must_use]
    pub fn same_encoding(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner.fingerprint == other.inner.fingerprint
    }

    /// Validates one row of raw input.
    ///
    /// # Errors
    ///
    /// [`SchemaError`] listing every violation (see the rules on
    /// [`FeatureSchema`]).
    pub fn validate(&self, input: &FeatureMap) -> Result<FeatureVector, SchemaError> {
        let mut row = vec![0.0; self.len()];
        let mut violations = Vec::new();
        self.fill_row(input, &mut row, None, &mut violations);
        if violations.is_empty() {
            Ok(FeatureVector::new(row.into_boxed_slice(), self.clone()))
        } else {
            Err(SchemaError::new(violations))
        }
    }

    /// Validates many rows into one dense matrix (one allocation for the
    /// whole batch, none per row).
    ///
    /// # Errors
    ///
    /// [`SchemaError`] listing every violation of every row; each carries its
    /// row index.
    pub fn validate_batch(&self, rows: &[FeatureMap]) -> Result<FeatureBatch, SchemaError> {
        let mut matrix = Array2::zeros((rows.len(), self.len()));
        let mut violations = Vec::new();
        for (i, (input, mut out)) in rows.iter().zip(matrix.rows_mut()).enumerate() {
            let out = out
                .as_slice_mut()
                .expect("rows of a fresh standard-layout array are contiguous");
            self.fill_row(input, out, Some(i), &mut violations);
        }
        if violations.is_empty() {
            Ok(FeatureBatch::new(matrix, self.clone()))
        } else {
            Err(SchemaError::new(violations))
        }
    }

    /// Validates `rows` and appends their encoded values to `out`; on error
    /// `out` is left as it was. Violations carry row indices when `indexed`.
    pub(crate) fn validate_into(
        &self,
        rows: &[FeatureMap],
        indexed: bool,
        out: &mut Vec<f64>,
    ) -> Result<(), SchemaError> {
        let start = out.len();
        let width = self.len();
        out.resize(start + rows.len() * width, 0.0);
        let mut violations = Vec::new();
        for (i, (input, row)) in rows
            .iter()
            .zip(out[start..].chunks_exact_mut(width))
            .enumerate()
        {
            let at = indexed.then_some(i);
            self.fill_row(input, row, at, &mut violations);
        }
        if violations.is_empty() {
            Ok(())
        } else {
            out.truncate(start);
            Err(SchemaError::new(violations))
        }
    }

    /// Validates `input` into `out` as one row of
    /// [`validate`](Self::validate) does, but keeps only the violations of
    /// the features `keep` accepts by name (and every feature the schema
    /// does not have, when it refuses those): for rows assembled from
    /// parts, each part answering for its own features.
    pub(crate) fn fill_row_where(
        &self,
        input: &FeatureMap,
        out: &mut [f64],
        row: Option<usize>,
        keep: impl Fn(&str) -> bool,
        violations: &mut Vec<Violation>,
    ) {
        let start = violations.len();
        self.fill_row(input, out, row, violations);
        let mine = violations.split_off(start);
        violations.extend(
            mine.into_iter()
                .filter(|v| matches!(v.kind, ViolationKind::Unexpected) || keep(&v.feature)),
        );
    }

    /// Merge-joins the map's sorted entries with the schema's sorted names.
    fn fill_row(
        &self,
        input: &FeatureMap,
        out: &mut [f64],
        row: Option<usize>,
        violations: &mut Vec<Violation>,
    ) {
        let inner = &*self.inner;
        let mut names = inner.by_name.iter().copied().peekable();
        for (key, value) in input.iter() {
            let mut matched = None;
            while let Some(&i) = names.peek() {
                match inner.features[i].name.as_str().cmp(key) {
                    std::cmp::Ordering::Less => {
                        self.absent(i, out, row, violations);
                        names.next();
                    }
                    std::cmp::Ordering::Equal => {
                        matched = Some(i);
                        names.next();
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            match matched {
                Some(i) => self.present(i, value.as_ref(), out, row, violations),
                None if inner.extra == ExtraFeatures::Reject => violations.push(Violation {
                    row,
                    feature: key.to_owned(),
                    kind: ViolationKind::Unexpected,
                }),
                None => {}
            }
        }
        for i in names {
            self.absent(i, out, row, violations);
        }
    }

    #[inline]
    pub(crate) fn present(
        &self,
        i: usize,
        value: ValueRef<'_>,
        out: &mut [f64],
        row: Option<usize>,
        violations: &mut Vec<Violation>,
    ) {
        if let ValueRef::Null = value {
            return self.absent(i, out, row, violations);
        }
        match self.inner.check(i, value) {
            Ok(v) => out[i] = v,
            Err(kind) => violations.push(Violation {
                row,
                feature: self.inner.features[i].name.clone(),
                kind,
            }),
        }
    }

    #[inline]
    pub(crate) fn absent(
        &self,
        i: usize,
        out: &mut [f64],
        row: Option<usize>,
        violations: &mut Vec<Violation>,
    ) {
        match self.inner.defaults[i] {
            Some(d) => out[i] = d,
            None => violations.push(Violation {
                row,
                feature: self.inner.features[i].name.clone(),
                kind: ViolationKind::Missing,
            }),
        }
    }

    /// The index of `name` using a positional hint first (typed input usually
    /// arrives in schema order).
    #[inline]
    pub(crate) fn index_of(&self, name: &str, hint: usize) -> Option<usize> {
        match self.inner.features.get(hint) {
            Some(f) if f.name == name => Some(hint),
            _ => self.feature(name).map(|(i, _)| i),
        }
    }

    /// The type of feature `i` (for violations raised outside `check`).
    pub(crate) fn feature_type(&self, i: usize) -> FeatureType {
        self.inner.features[i].kind.feature_type()
    }
}

impl PartialEq for FeatureSchema {
    fn eq(&self, other: &Self) -> bool {
        self.same_encoding(other)
            && self.inner.extra == other.inner.extra
            && self.inner.features == other.inner.features
    }
}

impl fmt::Debug for FeatureSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureSchema")
            .field("features", &self.inner.features)
            .field("extra_features", &self.inner.extra)
            .field("fingerprint", &self.inner.fingerprint)
            .finish()
    }
}
