//! Checking rows that arrive already encoded (dense `f64` in schema order).
//!
//! Transports that accept a plain numeric matrix (an Open Inference Protocol
//! FP64 tensor, say) must not let it bypass validation: every value is held
//! to the rules its raw form would have to pass.

use ndarray::Array2;

use super::definition::FastCheck;
use super::{FeatureBatch, FeatureSchema, FeatureVector, InputError, SchemaError, Violation};

impl FeatureSchema {
    /// Checks one already encoded row (one `f64` per feature, in schema
    /// order) and wraps it as a [`FeatureVector`].
    ///
    /// The values must be what [`validate`](Self::validate) would have
    /// produced: floats within bounds (and finite unless the feature allows
    /// otherwise); integers finite, integral, at most 2^53 in magnitude and
    /// within bounds; booleans exactly `0.0` or `1.0`; categorical values an
    /// integral index below the number of levels.
    ///
    /// # Errors
    ///
    /// [`InputError::WidthMismatch`] when `row` does not have one value per
    /// feature; [`InputError::Schema`] listing every offending feature
    /// (out-of-range values as
    /// [`ViolationKind::OutOfRange`](super::ViolationKind::OutOfRange),
    /// non-integral integers, booleans and indices as
    /// [`ViolationKind::LossyCast`](super::ViolationKind::LossyCast), NaN
    /// and infinities as
    /// [`ViolationKind::NonFinite`](super::ViolationKind::NonFinite)).
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::{Feature, FeatureSchema};
    ///
    /// let schema = FeatureSchema::builder()
    ///     .feature(Feature::integer("items").min(0.0))
    ///     .feature(Feature::categorical("device", ["mobile", "desktop"]))
    ///     .build()?;
    /// assert_eq!(schema.validate_encoded(&[3.0, 1.0])?.as_slice(), &[3.0, 1.0]);
    ///
    /// // 2.5 items, and a device index beyond the two levels:
    /// let err = schema.validate_encoded(&[2.5, 2.0]).unwrap_err();
    /// assert!(matches!(err, modelhost::schema::InputError::Schema(e) if e.violations().len() == 2));
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn validate_encoded(&self, row: &[f64]) -> Result<FeatureVector, InputError> {
        self.check_width(row.len())?;
        if let Some(checks) = self.fast_checks() {
            let mut values: Box<[f64]> = row.into();
            if fast_pass(checks, &mut values) {
                return Ok(FeatureVector::new(values, self.clone()));
            }
        }
        let mut violations = Vec::new();
        let values: Box<[f64]> = row
            .iter()
            .enumerate()
            .map(|(i, &v)| self.encoded_value(i, v, None, &mut violations))
            .collect();
        if violations.is_empty() {
            Ok(FeatureVector::new(values, self.clone()))
        } else {
            Err(SchemaError::new(violations).into())
        }
    }

    /// Checks a matrix of already encoded rows (rows × features) as
    /// [`validate_encoded`](Self::validate_encoded) checks one, and wraps it
    /// as a [`FeatureBatch`] without copying a standard-layout matrix.
    ///
    /// # Errors
    ///
    /// [`InputError::WidthMismatch`] when the matrix does not have one column per
    /// feature; [`InputError::Schema`] listing every violation of every row, each
    /// with its row index.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::{Feature, FeatureSchema};
    /// use ndarray::array;
    ///
    /// let schema = FeatureSchema::builder().feature(Feature::boolean("returning")).build()?;
    /// assert_eq!(schema.validate_encoded_batch(array![[1.0], [0.0]])?.len(), 2);
    /// assert!(schema.validate_encoded_batch(array![[1.0], [0.5]]).is_err());
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn validate_encoded_batch(&self, rows: Array2<f64>) -> Result<FeatureBatch, InputError> {
        self.check_width(rows.ncols())?;
        let mut rows = if rows.is_standard_layout() {
            rows
        } else {
            rows.as_standard_layout().into_owned()
        };
        if let (Some(checks), Some(values)) = (self.fast_checks(), rows.as_slice_mut())
            && fast_pass(checks, values)
        {
            return Ok(FeatureBatch::new(rows, self.clone()));
        }
        let mut violations = Vec::new();
        for (r, mut row) in rows.rows_mut().into_iter().enumerate() {
            for (i, v) in row.iter_mut().enumerate() {
                *v = self.encoded_value(i, *v, Some(r), &mut violations);
            }
        }
        if violations.is_empty() {
            Ok(FeatureBatch::new(rows, self.clone()))
        } else {
            Err(SchemaError::new(violations).into())
        }
    }

    fn check_width(&self, found: usize) -> Result<(), InputError> {
        if found == self.len() {
            Ok(())
        } else {
            Err(InputError::WidthMismatch {
                expected: self.len(),
                found,
            })
        }
    }

    fn encoded_value(
        &self,
        i: usize,
        v: f64,
        row: Option<usize>,
        violations: &mut Vec<Violation>,
    ) -> f64 {
        match self.check_encoded(i, v) {
            // `+ 0.0` turns a negative zero into the zero validation produces.
            Ok(v) => v + 0.0,
            Err(kind) => {
                violations.push(Violation {
                    row,
                    feature: self.features()[i].name().to_owned(),
                    kind,
                });
                v
            }
        }
    }
}

/// Checks rows of `checks.len()` values each and normalizes `-0.0` to the
/// `0.0` validation produces; `false` when any value fails (the caller then
/// runs the full checks to name every violation).
fn fast_pass(checks: &[FastCheck], values: &mut [f64]) -> bool {
    let mut ok = true;
    for row in values.chunks_exact_mut(checks.len()) {
        for (v, c) in row.iter_mut().zip(checks) {
            ok &= c.passes(*v);
            *v += 0.0;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use crate::FeatureSchema;
    use crate::schema::InputError;
    use crate::schema::{Feature, FeatureMap, ViolationKind};

    fn schema() -> FeatureSchema {
        FeatureSchema::builder()
            .feature(Feature::integer("n").min(0.0).max(10.0))
            .feature(Feature::float("x").max(1.0))
            .feature(Feature::float("any").allow_non_finite())
            .feature(Feature::boolean("b"))
            .feature(Feature::categorical("c", ["a", "b", "c"]))
            .build()
            .unwrap()
    }

    fn kinds(e: InputError) -> Vec<(String, ViolationKind)> {
        match e {
            InputError::Schema(e) => e
                .into_violations()
                .into_iter()
                .map(|v| (v.feature, v.kind))
                .collect(),
            other => panic!("expected a schema error, got {other}"),
        }
    }

    #[test]
    fn accepts_exactly_what_validation_produces() {
        let s = schema();
        let raw = FeatureMap::new()
            .with("n", 7)
            .with("x", -3.5)
            .with("any", f64::NAN)
            .with("b", true)
            .with("c", "c");
        let validated = s.validate(&raw).unwrap();
        let encoded = s.validate_encoded(validated.as_slice()).unwrap();
        assert_eq!(encoded.as_slice()[..2], validated.as_slice()[..2]);
        assert_eq!(encoded.as_slice()[3..], validated.as_slice()[3..]);
        assert!(encoded.as_slice()[2].is_nan());
        assert!(encoded.schema().same_encoding(&s));
    }

    #[test]
    fn names_every_violation() {
        let v = kinds(
            schema()
                .validate_encoded(&[10.5, f64::INFINITY, f64::NEG_INFINITY, 2.0, 3.0])
                .unwrap_err(),
        );
        let names: Vec<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n", "x", "b", "c"]);
        assert!(matches!(v[0].1, ViolationKind::LossyCast { .. }));
        assert!(matches!(v[1].1, ViolationKind::NonFinite { .. }));
        assert!(matches!(v[2].1, ViolationKind::LossyCast { .. }));
        assert!(matches!(
            v[3].1,
            ViolationKind::OutOfRange {
                min: Some(0.0),
                max: Some(2.0),
                ..
            }
        ));
    }

    #[test]
    fn checks_ranges_integrality_and_indices() {
        let s = schema();
        for (row, feature) in [
            ([11.0, 0.0, 0.0, 0.0, 0.0], "n"),
            ([-1.0, 0.0, 0.0, 0.0, 0.0], "n"),
            ([1e300, 0.0, 0.0, 0.0, 0.0], "n"),
            ([f64::NAN, 0.0, 0.0, 0.0, 0.0], "n"),
            ([0.0, 1.5, 0.0, 0.0, 0.0], "x"),
            ([0.0, f64::NAN, 0.0, 0.0, 0.0], "x"),
            ([0.0, 0.0, 0.0, -1.0, 0.0], "b"),
            ([0.0, 0.0, 0.0, 0.0, -1.0], "c"),
            ([0.0, 0.0, 0.0, 0.0, 0.5], "c"),
            ([0.0, 0.0, 0.0, 0.0, f64::NAN], "c"),
        ] {
            let v = kinds(s.validate_encoded(&row).unwrap_err());
            assert_eq!(v.len(), 1, "{row:?}");
            assert_eq!(v[0].0, feature, "{row:?}");
        }
        assert!(s.validate_encoded(&[0.0, 1.0, 5.0, 1.0, 2.0]).is_ok());
        // Negative zero is the zero that validation produces.
        let row = s.validate_encoded(&[-0.0, 0.0, 0.0, -0.0, -0.0]).unwrap();
        assert!(row.as_slice().iter().all(|v| v.is_sign_positive()));
    }

    #[test]
    fn width_and_batches() {
        let s = schema();
        assert!(matches!(
            s.validate_encoded(&[1.0]),
            Err(InputError::WidthMismatch {
                expected: 5,
                found: 1
            })
        ));
        let ok = s
            .validate_encoded_batch(array![[1.0, 0.0, 0.0, 1.0, 2.0], [2.0, 0.5, 0.0, 0.0, 0.0]])
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok.row(1), &[2.0, 0.5, 0.0, 0.0, 0.0]);
        // Column-major input is accepted and laid out by rows.
        let fortran = array![[1.0, 0.0, 0.0, 1.0, 2.0], [2.0, 0.5, 0.0, 0.0, 0.0]]
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
            .reversed_axes();
        assert_eq!(s.validate_encoded_batch(fortran).unwrap().row(0)[4], 2.0);
        let err = s
            .validate_encoded_batch(array![[1.0, 0.0, 0.0, 1.0, 2.0], [2.0, 0.5, 0.0, 3.0, 9.0]])
            .unwrap_err();
        match err {
            InputError::Schema(e) => {
                assert_eq!(e.violations().len(), 2);
                assert!(e.violations().iter().all(|v| v.row == Some(1)));
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            s.validate_encoded_batch(ndarray::Array2::zeros((2, 4))),
            Err(InputError::WidthMismatch { .. })
        ));
    }

    /// The range form of the checks (`FastCheck`) accepts exactly the values
    /// the full checks accept, and produces the same values.
    mod fast_path {
        use proptest::prelude::*;

        use crate::FeatureSchema;
        use crate::schema::Feature;

        fn finite_schema() -> FeatureSchema {
            FeatureSchema::builder()
                .feature(Feature::integer("n").min(-3.0).max(1e17))
                .feature(Feature::integer("open"))
                .feature(Feature::float("x").min(-1.5).max(2.0))
                .feature(Feature::float("free"))
                .feature(Feature::boolean("b"))
                .feature(Feature::categorical("c", ["a", "b", "c"]))
                .build()
                .unwrap()
        }

        fn edge() -> impl Strategy<Value = f64> {
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(-0.0),
                Just(0.0),
                Just(1.0),
                Just(2.0),
                Just(-3.0),
                Just(2.5),
                Just(9_007_199_254_740_992.0),
                Just(9_007_199_254_740_994.0),
                Just(-9_007_199_254_740_994.0),
                Just(f64::MAX),
                Just(-f64::MAX),
                Just(f64::MIN_POSITIVE),
                (-4i64..4).prop_map(|i| i as f64),
                any::<f64>(),
                -10.0f64..10.0,
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn agrees_with_the_full_checks(row in proptest::collection::vec(edge(), 6)) {
                let schema = finite_schema();
                prop_assert!(schema.fast_checks().is_some());
                let expected: Vec<Result<f64, _>> = row
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| schema.check_encoded(i, v).map(|v| v + 0.0))
                    .collect();
                let fast = schema.validate_encoded(&row);
                let batch = schema.validate_encoded_batch(
                    ndarray::Array2::from_shape_vec((1, 6), row.clone()).unwrap(),
                );
                if expected.iter().all(Result::is_ok) {
                    let want: Vec<u64> =
                        expected.iter().map(|v| v.clone().unwrap().to_bits()).collect();
                    let got: Vec<u64> =
                        fast.unwrap().as_slice().iter().map(|v| v.to_bits()).collect();
                    prop_assert_eq!(&got, &want);
                    let got: Vec<u64> = batch.unwrap().rows().iter().map(|v| v.to_bits()).collect();
                    prop_assert_eq!(&got, &want);
                } else {
                    let bad = expected.iter().filter(|r| r.is_err()).count();
                    for e in [fast.unwrap_err(), batch.unwrap_err()] {
                        match e {
                            crate::schema::InputError::Schema(e) => {
                                prop_assert_eq!(e.violations().len(), bad);
                            }
                            other => prop_assert!(false, "unexpected {}", other),
                        }
                    }
                }
            }
        }

        #[test]
        fn a_feature_that_allows_non_finite_values_takes_the_full_checks() {
            let schema = FeatureSchema::builder()
                .feature(Feature::float("any").allow_non_finite())
                .build()
                .unwrap();
            assert!(schema.fast_checks().is_none());
            assert!(schema.validate_encoded(&[f64::NAN]).is_ok());
        }
    }
}
