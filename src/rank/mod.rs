//! Ranking: score many candidates for one context in one call and keep the
//! best.
//!
//! A recommender asks "which of these N products should this visitor see?".
//! [`rank`] builds one row per candidate (the session's features shared, the
//! candidate's own added, a candidate's value winning on a clash), sends all
//! rows to a [`ModelServer`] as **one** request — so exactly one model
//! version scores every candidate, even while versions are swapped — and
//! returns the top `k` with their scores, that version and the request id.
//!
//! A catalog's candidates change far less often than visits come:
//! [`Candidates`] validates their own features once, and
//! [`RankRequest::prepared`] then validates only the session's features per
//! call and assembles the rows from the two (the cheapest way to rank; see
//! BENCHMARKS.md).
//!
//! What is ranked by: a regressor's score, or a classifier's probability of
//! one label ([`RankRequest::by_label`]; by default the last label, which for
//! two labels is the positive class by convention). A classifier without
//! probabilities cannot rank: [`Error::Rank`].
//!
//! # Examples
//!
//! ```
//! # use modelhost::{Deployment, Feature, FeatureMap, FeatureSchema, InProcessServer};
//! # use modelhost::model::{TreeClassifier, TreeLimits, TreeNode};
//! use modelhost::rank::{RankRequest, rank};
//! # let schema = FeatureSchema::builder()
//! #     .feature(Feature::float("basket_value"))
//! #     .feature(Feature::float("product_price"))
//! #     .build()?;
//! # let leaf = |class, p: [f64; 2]| TreeNode::Leaf { class, distribution: Some(p.to_vec()) };
//! # let nodes = [
//! #     TreeNode::Split { feature: 1, threshold: 50.0, left: 1, right: 2 },
//! #     leaf(1, [0.2, 0.8]),
//! #     leaf(0, [0.7, 0.3]),
//! # ];
//! # let limits = TreeLimits { max_depth: 8, max_nodes: 8 };
//! # let model = TreeClassifier::new(&nodes, schema, ["skip".into(), "buy".into()].into(), limits)?;
//! # let server = InProcessServer::new(Deployment::new("shop", 1, model))?;
//! // `server` serves a classifier with labels ["skip", "buy"].
//! let session = FeatureMap::new().with("basket_value", 10.0);
//! let candidates: Vec<FeatureMap> = [5.0, 90.0, 20.0]
//!     .iter()
//!     .map(|&price| FeatureMap::new().with("product_price", price))
//!     .collect();
//! let top = rank(&server, RankRequest::new(&session, &candidates, 2).with_id("visit-7"))?;
//! assert_eq!(top.items.len(), 2);
//! assert_eq!(top.version, 1);
//! assert_eq!(top.id.as_deref(), Some("visit-7"));
//! // The cheap products first; by p(buy).
//! assert_eq!(top.items[0].index, 0);
//! assert_eq!(top.items[1].index, 2);
//! assert_eq!(top.items[0].score, 0.8);
//! # Ok::<(), modelhost::Error>(())
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::OutputKind;
use crate::schema::{FeatureBatch, FeatureMap, FeatureSchema, SchemaError};
use crate::server::{ModelServer, PredictRequest, PredictResponse};

/// Candidates to rank for one context.
#[derive(Debug, Clone)]
#[must_use]
pub struct RankRequest<'a> {
    rows: Rows<'a>,
    k: usize,
    id: Option<String>,
    label: Option<String>,
}

#[derive(Debug, Clone)]
enum Rows<'a> {
    Maps {
        session: &'a FeatureMap,
        candidates: &'a [FeatureMap],
    },
    Encoded(Cow<'a, ndarray::Array2<f64>>),
    Prepared {
        session: &'a FeatureMap,
        candidates: &'a Candidates,
    },
}

/// Candidates' own features, validated once against a schema: a catalog
/// of products to rank for many visits.
///
/// Every candidate must give the same features (a catalog's columns);
/// each value is checked by its feature's rules when the set is built.
/// [`RankRequest::prepared`] then validates only the session's features
/// per call. The rows are built for this schema: if the server has since
/// moved to a version whose schema encodes differently, the call fails
/// with [`Error::SchemaMismatch`] and the set must be built again from the
/// new version's metadata.
///
/// # Examples
///
/// ```
/// # use modelhost::{Feature, FeatureMap, FeatureSchema};
/// use modelhost::rank::Candidates;
///
/// let schema = FeatureSchema::builder()
///     .feature(Feature::float("basket_value"))
///     .feature(Feature::float("product_price").min(0.0))
///     .build()?;
/// let products: Vec<FeatureMap> = [5.0, 90.0, 20.0]
///     .iter()
///     .map(|&price| FeatureMap::new().with("product_price", price))
///     .collect();
/// let catalog = Candidates::new(&schema, &products)?;
/// assert_eq!(catalog.len(), 3);
///
/// let bad = [FeatureMap::new().with("product_price", -1.0)];
/// assert!(Candidates::new(&schema, &bad).is_err());
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Candidates {
    schema: FeatureSchema,
    /// The schema columns the candidates give, in the first candidate's
    /// order.
    columns: Vec<usize>,
    /// `columns.len()` encoded values per candidate.
    values: Vec<f64>,
    len: usize,
}

impl Candidates {
    /// Validates each candidate's features against `schema`.
    ///
    /// # Errors
    ///
    /// [`Error::Schema`] naming every invalid value (with its candidate's
    /// index as the row) and every feature the schema refuses;
    /// [`Error::Rank`] when a candidate gives other features than the first.
    pub fn new(schema: &FeatureSchema, candidates: &[FeatureMap]) -> Result<Self> {
        let columns: Vec<usize> = candidates.first().map_or_else(Vec::new, |first| {
            first
                .iter()
                .filter_map(|(name, _)| schema.feature(name).map(|(i, _)| i))
                .collect()
        });
        let names: Vec<&str> = columns
            .iter()
            .map(|&i| schema.features()[i].name())
            .collect();
        let mut row = vec![0.0; schema.len()];
        let mut values = Vec::with_capacity(candidates.len() * columns.len());
        let mut violations = Vec::new();
        for (n, candidate) in candidates.iter().enumerate() {
            let given = candidate
                .iter()
                .filter(|(name, _)| schema.feature(name).is_some())
                .count();
            if let Some(lacking) = names.iter().find(|name| candidate.get(name).is_none()) {
                return Err(Error::Rank {
                    reason: format!(
                        "candidate {n} lacks `{lacking}`, which candidate 0 gives (every candidate must give the same features)"
                    ),
                });
            }
            if given != names.len() {
                let extra = candidate
                    .iter()
                    .map(|(name, _)| name)
                    .find(|name| schema.feature(name).is_some() && !names.contains(name))
                    .unwrap_or_default();
                return Err(Error::Rank {
                    reason: format!(
                        "candidate {n} gives `{extra}`, which candidate 0 does not (every candidate must give the same features)"
                    ),
                });
            }
            schema.fill_row_where(
                candidate,
                &mut row,
                Some(n),
                |name| names.contains(&name),
                &mut violations,
            );
            values.extend(columns.iter().map(|&i| row[i]));
        }
        if !violations.is_empty() {
            return Err(SchemaError::new(violations).into());
        }
        Ok(Self {
            schema: schema.clone(),
            columns,
            values,
            len: candidates.len(),
        })
    }

    /// Number of candidates.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no candidates.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The schema the candidates were validated against.
    #[must_use]
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// One row per candidate: `session`'s features (validated here, except
    /// those the candidates give), then the candidate's own.
    fn rows(&self, session: &FeatureMap) -> Result<FeatureBatch> {
        let schema = &self.schema;
        let width = schema.len();
        let m = self.columns.len();
        let given = |name: &str| {
            self.columns
                .iter()
                .any(|&i| schema.features()[i].name() == name)
        };
        if self.len == 0 {
            // No candidates, no rows: which features they would have given
            // is unknown, so the session is not checked.
            return Ok(FeatureBatch::new(
                ndarray::Array2::zeros((0, width)),
                schema.clone(),
            ));
        }
        let mut base = vec![0.0; width];
        let mut violations = Vec::new();
        schema.fill_row_where(
            session,
            &mut base,
            None,
            |name| !given(name),
            &mut violations,
        );
        if !violations.is_empty() {
            return Err(SchemaError::new(violations).into());
        }
        // The session's row for every candidate (copied in doubling
        // blocks), then each candidate's own values over it.
        let mut values = base.repeat(self.len);
        for (row, own) in values
            .chunks_exact_mut(width.max(1))
            .zip(self.values.chunks_exact(m.max(1)))
        {
            for (&i, &v) in self.columns.iter().zip(own) {
                row[i] = v;
            }
        }
        let rows = ndarray::Array2::from_shape_vec((self.len, width), values).map_err(|e| {
            Error::Rank {
                reason: e.to_string(),
            }
        })?;
        Ok(FeatureBatch::new(rows, schema.clone()))
    }
}

impl<'a> RankRequest<'a> {
    /// Ranks `candidates` (each one's own features) for `session` (features
    /// shared by all), keeping the best `k`.
    pub fn new(session: &'a FeatureMap, candidates: &'a [FeatureMap], k: usize) -> Self {
        Self {
            rows: Rows::Maps {
                session,
                candidates,
            },
            k,
            id: None,
            label: None,
        }
    }

    /// Ranks rows already encoded in schema order (one per candidate,
    /// session features included), validated by the server as
    /// [`PredictRequest::encoded`] rows are.
    pub fn encoded(rows: impl Into<Cow<'a, ndarray::Array2<f64>>>, k: usize) -> Self {
        Self {
            rows: Rows::Encoded(rows.into()),
            k,
            id: None,
            label: None,
        }
    }

    /// Ranks `candidates` validated beforehand for `session`, whose
    /// features are validated in the call (those the candidates give are
    /// taken from the candidates, as in [`new`](Self::new)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use modelhost::{Deployment, Feature, FeatureMap, FeatureSchema, InProcessServer};
    /// # use modelhost::model::{TreeClassifier, TreeLimits, TreeNode};
    /// use modelhost::rank::{Candidates, RankRequest, rank};
    /// # let schema = FeatureSchema::builder()
    /// #     .feature(Feature::float("basket_value"))
    /// #     .feature(Feature::float("product_price"))
    /// #     .build()?;
    /// # let leaf = |class, p: [f64; 2]| TreeNode::Leaf { class, distribution: Some(p.to_vec()) };
    /// # let nodes = [
    /// #     TreeNode::Split { feature: 1, threshold: 50.0, left: 1, right: 2 },
    /// #     leaf(1, [0.2, 0.8]),
    /// #     leaf(0, [0.7, 0.3]),
    /// # ];
    /// # let limits = TreeLimits { max_depth: 8, max_nodes: 8 };
    /// # let model = TreeClassifier::new(&nodes, schema.clone(), ["skip".into(), "buy".into()].into(), limits)?;
    /// # let server = InProcessServer::new(Deployment::new("shop", 1, model))?;
    /// let products: Vec<FeatureMap> = [90.0, 5.0]
    ///     .iter()
    ///     .map(|&price| FeatureMap::new().with("product_price", price))
    ///     .collect();
    /// // Once, when the catalog loads:
    /// let catalog = Candidates::new(&schema, &products)?;
    /// // Per visit:
    /// let visit = FeatureMap::new().with("basket_value", 10.0);
    /// let top = rank(&server, RankRequest::prepared(&visit, &catalog, 1))?;
    /// assert_eq!((top.items[0].index, top.items[0].score), (1, 0.8));
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn prepared(session: &'a FeatureMap, candidates: &'a Candidates, k: usize) -> Self {
        Self {
            rows: Rows::Prepared {
                session,
                candidates,
            },
            k,
            id: None,
            label: None,
        }
    }

    /// Tags the call; the response echoes the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Ranks a classifier's candidates by the probability of `label`
    /// (default: the last label).
    pub fn by_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Number of candidates.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Maps { candidates, .. } => candidates.len(),
            Rows::Encoded(rows) => rows.nrows(),
            Rows::Prepared { candidates, .. } => candidates.len(),
        }
    }

    /// Whether there are no candidates.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One ranked candidate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Ranked {
    /// Its position in the request's candidates.
    pub index: usize,
    /// Its score (a regressor's output or the probability of the ranked
    /// label).
    pub score: f64,
}

/// The best candidates, best first, and who scored them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RankResponse {
    /// The model's name.
    pub model: Arc<str>,
    /// The one version that scored every candidate.
    pub version: u64,
    /// The request's id, echoed.
    pub id: Option<String>,
    /// The label ranked by (classifiers).
    pub label: Option<String>,
    /// At most `k` candidates, highest score first; equal scores keep the
    /// candidates' order.
    pub items: Vec<Ranked>,
}

/// Scores every candidate of `request` with one request to `server` (so by
/// one model version) and returns the best `k`.
///
/// # Errors
///
/// Any error of [`ModelServer::predict`] (invalid features name the
/// candidate row); [`Error::Rank`] when the model is a classifier without
/// probabilities or `by_label` names a label it does not have.
pub fn rank(server: &dyn ModelServer, request: RankRequest<'_>) -> Result<RankResponse> {
    let RankRequest { rows, k, id, label } = request;
    let predict = match rows {
        Rows::Maps {
            session,
            candidates,
        } => PredictRequest::rows(candidate_rows(session, candidates)),
        Rows::Encoded(Cow::Borrowed(rows)) => PredictRequest::encoded(rows),
        Rows::Encoded(Cow::Owned(rows)) => PredictRequest::encoded_owned(rows),
        Rows::Prepared {
            session,
            candidates,
        } => PredictRequest::from(candidates.rows(session)?),
    };
    let predict = match &id {
        Some(id) => predict.with_id(id.clone()),
        None => predict,
    };
    let response = server.predict(predict)?;
    RankResponse::from_predictions(&response, k, label)
}

/// One row per candidate: the session's features, then the candidate's own
/// (a candidate's value wins on a clash).
#[must_use]
pub fn candidate_rows(session: &FeatureMap, candidates: &[FeatureMap]) -> Vec<FeatureMap> {
    candidates
        .iter()
        .map(|c| {
            let mut row = session.clone();
            for (name, value) in c.iter() {
                row.insert(name, value.clone());
            }
            row
        })
        .collect()
}

impl RankResponse {
    /// The best `k` rows of a response that scored one row per candidate,
    /// ranked by score (regressors) or by the probability of `label`
    /// (classifiers; default the last label). For callers that send the
    /// request themselves, such as a transport.
    ///
    /// # Errors
    ///
    /// [`Error::Rank`] as for [`rank`].
    pub fn from_predictions(
        response: &PredictResponse,
        k: usize,
        label: Option<String>,
    ) -> Result<Self> {
        let (scores, label) = scores(response, label)?;
        Ok(Self {
            model: response.model.clone(),
            version: response.version,
            id: response.id.clone(),
            label,
            items: top_k(&scores, k),
        })
    }
}

/// Each row's score and the label it is the probability of.
fn scores(r: &PredictResponse, label: Option<String>) -> Result<(Vec<f64>, Option<String>)> {
    let p = &r.predictions;
    match &*r.output {
        OutputKind::Regression => Ok((p.score_values().unwrap_or_default().to_vec(), None)),
        OutputKind::Classification { labels, .. } => {
            let column = match &label {
                Some(l) => labels
                    .iter()
                    .position(|x| x == l)
                    .ok_or_else(|| Error::Rank {
                        reason: format!("the model has no label `{l}`"),
                    })?,
                None => labels.len().saturating_sub(1),
            };
            let scores = p.probability_column(column);
            // No rows, no probabilities needed.
            let scores = scores.or_else(|| p.is_empty().then(Vec::new));
            let scores = scores.ok_or_else(|| Error::Rank {
                reason: format!(
                    "model {} version {} gives no probabilities to rank by",
                    r.model, r.version
                ),
            })?;
            Ok((scores, labels.get(column).cloned()))
        }
    }
}

/// The `k` best indices by score, best first; ties keep index order, NaN
/// ranks last.
///
/// A few of many (a recommender's top 3 of 100) are kept in one pass over
/// the scores, in a short list held in order; more are selected and
/// sorted.
fn top_k(scores: &[f64], k: usize) -> Vec<Ranked> {
    let key = |i: usize| {
        let s = scores[i];
        if s.is_nan() { f64::NEG_INFINITY } else { s }
    };
    let k = k.min(scores.len());
    if k == 0 {
        return Vec::new();
    }
    let idx = if k <= SHORT_LIST {
        let mut best: Vec<usize> = Vec::with_capacity(k + 1);
        for i in 0..scores.len() {
            let s = key(i);
            // Earlier indices win ties, so a candidate enters only above
            // every kept score it does not beat strictly.
            if best.len() == k && s.total_cmp(&key(best[k - 1])).is_le() {
                continue;
            }
            let at = best.partition_point(|&b| key(b).total_cmp(&s).is_ge());
            best.insert(at, i);
            best.truncate(k);
        }
        best
    } else {
        let order = |a: &usize, b: &usize| key(*b).total_cmp(&key(*a)).then(a.cmp(b));
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, order);
            idx.truncate(k);
        }
        idx.sort_unstable_by(order);
        idx
    };
    idx.into_iter()
        .map(|index| Ranked {
            index,
            score: scores[index],
        })
        .collect()
}

/// The most candidates [`top_k`] keeps in its one-pass list.
const SHORT_LIST: usize = 16;

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::top_k;

    #[test]
    fn top_k_orders_by_score_then_index_with_nan_last() {
        let s = [0.2, f64::NAN, 0.9, 0.2, 0.5];
        let got: Vec<usize> = top_k(&s, 4).iter().map(|r| r.index).collect();
        assert_eq!(got, [2, 4, 0, 3]);
        assert_eq!(top_k(&s, 10).len(), 5);
        assert_eq!(top_k(&s, 10)[4].index, 1);
        assert!(top_k(&s, 0).is_empty());
        assert!(top_k(&[], 3).is_empty());
    }

    proptest::proptest! {
        /// Both ways of keeping the best (the one-pass short list and
        /// selecting) agree with sorting everything, ties and NaN included.
        #[test]
        fn top_k_is_the_head_of_a_full_sort(
            scores in proptest::collection::vec(
                proptest::prop_oneof![
                    (0..6i32).prop_map(f64::from),
                    -1.0..1.0f64,
                    proptest::strategy::Just(f64::NAN),
                    proptest::strategy::Just(f64::NEG_INFINITY),
                ],
                0..60,
            ),
            k in 0..40usize,
        ) {
            let key = |i: usize| if scores[i].is_nan() { f64::NEG_INFINITY } else { scores[i] };
            let mut all: Vec<usize> = (0..scores.len()).collect();
            all.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
            all.truncate(k);
            let got: Vec<usize> = top_k(&scores, k).iter().map(|r| r.index).collect();
            proptest::prop_assert_eq!(got, all);
        }
    }
}
