//! Statistics of the training data that travel with a model version: the
//! reference the monitor measures drift against.

use serde::{Deserialize, Serialize};

use crate::model::Predictions;
use crate::schema::{FeatureBatch, FeatureKind};

/// Per-feature statistics of the training data (and of the training-time
/// predictions), with a bounded sample of raw values for distribution tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReferenceStats {
    /// Rows the statistics were computed from.
    pub rows: u64,
    /// One entry per schema feature, in schema order.
    pub features: Vec<FeatureStats>,
    /// Statistics of the model's predictions on those rows (class index or
    /// score), where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<FeatureStats>,
}

/// Statistics of one column of encoded values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FeatureStats {
    /// The feature's name (`"prediction"` for predictions).
    pub name: String,
    /// Whether values are category indices rather than quantities.
    pub categorical: bool,
    /// Finite values seen.
    pub count: u64,
    /// NaN or infinite values seen (excluded from everything else).
    pub non_finite: u64,
    /// Mean of the finite values.
    pub mean: f64,
    /// Population standard deviation of the finite values.
    pub std: f64,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// An evenly strided sample of at most `max_sample` finite values, in
    /// data order.
    pub sample: Vec<f64>,
}

impl FeatureStats {
    /// Statistics of `values`, keeping a strided sample of at most `max_sample`.
    #[must_use]
    pub fn from_values(
        name: impl Into<String>,
        categorical: bool,
        values: impl IntoIterator<Item = f64>,
        max_sample: usize,
    ) -> Self {
        let all: Vec<f64> = values.into_iter().collect();
        let finite: Vec<f64> = all.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len();
        let mean = if n == 0 {
            0.0
        } else {
            finite.iter().sum::<f64>() / n as f64
        };
        let var = if n == 0 {
            0.0
        } else {
            finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64
        };
        let sample = if max_sample == 0 || n == 0 {
            Vec::new()
        } else if n <= max_sample {
            finite.clone()
        } else {
            (0..max_sample)
                .map(|i| finite[i * n / max_sample])
                .collect()
        };
        Self {
            name: name.into(),
            categorical,
            count: n as u64,
            non_finite: (all.len() - n) as u64,
            mean,
            std: var.sqrt(),
            min: if n == 0 {
                0.0
            } else {
                finite.iter().copied().fold(f64::INFINITY, f64::min)
            },
            max: if n == 0 {
                0.0
            } else {
                finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            },
            sample,
        }
    }
}

impl ReferenceStats {
    /// Default bound on the raw sample kept per column.
    pub const DEFAULT_SAMPLE: usize = 5_000;

    /// Statistics of a validated training batch and, optionally, the model's
    /// predictions on it, keeping at most `max_sample` raw values per column.
    #[must_use]
    pub fn from_batch(
        batch: &FeatureBatch,
        predictions: Option<&Predictions>,
        max_sample: usize,
    ) -> Self {
        let rows = batch.rows();
        let features = batch
            .schema()
            .features()
            .iter()
            .enumerate()
            .map(|(j, f)| {
                FeatureStats::from_values(
                    f.name(),
                    matches!(
                        f.kind(),
                        FeatureKind::Categorical { .. } | FeatureKind::Boolean
                    ),
                    rows.column(j).iter().copied(),
                    max_sample,
                )
            })
            .collect();
        Self {
            rows: batch.len() as u64,
            features,
            predictions: predictions.map(|p| match (p.class_indices(), p.score_values()) {
                (Some(c), _) => FeatureStats::from_values(
                    "prediction",
                    true,
                    c.iter().map(|&c| c as f64),
                    max_sample,
                ),
                (None, s) => FeatureStats::from_values(
                    "prediction",
                    false,
                    s.unwrap_or_default().iter().copied(),
                    max_sample,
                ),
            }),
        }
    }
}
