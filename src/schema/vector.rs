//! Validated rows: [`FeatureVector`] (one) and [`FeatureBatch`] (many).

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use super::FeatureSchema;

/// One validated, encoded row, and the schema it was checked against.
///
/// Only validation makes one ([`FeatureSchema::validate`],
/// [`FeatureSchema::encode`]), so holding a `FeatureVector` means the row
/// satisfies its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureVector {
    values: Box<[f64]>,
    schema: FeatureSchema,
}

impl FeatureVector {
    pub(crate) fn new(values: Box<[f64]>, schema: FeatureSchema) -> Self {
        debug_assert_eq!(values.len(), schema.len());
        Self { values, schema }
    }

    /// The encoded values, in schema order.
    #[must_use]
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// The row as a 1 × width matrix view, ready for a model.
    #[must_use]
    pub fn as_row(&self) -> ArrayView2<'_, f64> {
        ArrayView1::from(&self.values[..]).insert_axis(Axis(0))
    }

    /// The schema the row was validated against.
    #[must_use]
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// Number of values (the schema's width).
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always `false`: schemas have at least one feature.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Many validated rows in one dense matrix, and the schema they satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBatch {
    rows: Array2<f64>,
    schema: FeatureSchema,
}

impl FeatureBatch {
    pub(crate) fn new(rows: Array2<f64>, schema: FeatureSchema) -> Self {
        debug_assert_eq!(rows.ncols(), schema.len());
        Self { rows, schema }
    }

    /// Stacks validated rows that share one encoding into a batch.
    ///
    /// Returns `None` when `rows` is empty or the rows were validated against
    /// schemas with different fingerprints.
    #[must_use]
    pub fn from_vectors(rows: &[FeatureVector]) -> Option<Self> {
        let schema = rows.first()?.schema().clone();
        if rows.iter().any(|r| !r.schema().same_encoding(&schema)) {
            return None;
        }
        let mut matrix = Array2::zeros((rows.len(), schema.len()));
        for (mut out, r) in matrix.rows_mut().into_iter().zip(rows) {
            out.as_slice_mut()
                .expect("rows of a fresh standard-layout array are contiguous")
                .copy_from_slice(r.as_slice());
        }
        Some(Self::new(matrix, schema))
    }

    /// The rows as a matrix view (rows × schema width).
    #[must_use]
    pub fn rows(&self) -> ArrayView2<'_, f64> {
        self.rows.view()
    }

    /// Row `i` as a slice.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`FeatureBatch::len`].
    #[must_use]
    pub fn row(&self, i: usize) -> &[f64] {
        self.rows
            .row(i)
            .to_slice()
            .expect("rows of a standard-layout array are contiguous")
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.nrows()
    }

    /// Whether the batch has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.nrows() == 0
    }

    /// The schema the rows were validated against.
    #[must_use]
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// Consumes the batch, returning the matrix.
    #[must_use]
    pub fn into_array(self) -> Array2<f64> {
        self.rows
    }
}
