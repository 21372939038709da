//! Drift: binning, PSI, Kolmogorov–Smirnov and Jensen–Shannon, Evidently's
//! drift tests and their default choice per column ([`StatTest`]), the
//! per-feature and dataset-level verdicts built from them, and the offline
//! comparison of two data sets ([`compare`] over [`DataSet`]s). The
//! conventions are stated in the [`monitor`](super) module docs; every item
//! here is also re-exported there.
//!
//! ```
//! use modelhost::monitor::drift::{self, CsvLimits, DataSet};
//! use modelhost::schema::{Feature, FeatureSchema};
//!
//! let schema = FeatureSchema::builder()
//!     .feature(Feature::float("price"))
//!     .feature(Feature::categorical("device", ["mobile", "desktop"]))
//!     .build()?;
//! let reference = "price,device\n9.5,mobile\n12.0,desktop\n10.5,mobile\n";
//! let current = "price,device\n19.5,desktop\n22.0,desktop\n20.5,desktop\n";
//! let read = |csv: &str| DataSet::from_csv(&schema, csv.as_bytes(), CsvLimits::default());
//! let report = drift::compare(&schema, &read(reference)?, &read(current)?)?;
//! for f in &report.features {
//!     println!("{}: {} {:?} at {} -> {:?}", f.name, f.test, f.score, f.threshold, f.verdict);
//! }
//! # Ok::<(), modelhost::Error>(())
//! ```

pub(crate) mod offline;
pub(crate) mod stattest;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use offline::{CsvLimits, DataSet, compare, compare_with};
pub use stattest::{ColumnKind, KS_EXACT_MAX_N, LARGE_REFERENCE, StatTest};

/// How numeric columns are cut into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Binning {
    /// numpy's `bins="sturges"`: bin width `ptp / (log2(n) + 1)` over the
    /// combined data, so about `ceil(log2(n) + 1)` bins (the default).
    #[default]
    Sturges,
    /// A fixed number of equal-width bins. Evidently's `n_bins` parameter
    /// is ignored for numeric columns (its `get_binned_data` always uses
    /// Sturges edges), so only this choice departs from Evidently.
    Fixed(usize),
}

/// numpy's `histogram_bin_edges(values, bins)` for finite `values`.
///
/// Edges are equal-width from the minimum to the maximum of `values` (widened
/// by 0.5 on each side when all values are equal; `[0, 1]` when there are
/// none), computed exactly as numpy's `linspace` does. The last bin is
/// closed on the right when counting (see [`histogram`]).
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{Binning, histogram_bin_edges};
///
/// // 8 values: sturges gives log2(8) + 1 = 4 bins.
/// let edges = histogram_bin_edges(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0], Binning::Sturges);
/// assert_eq!(edges, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
/// ```
#[must_use]
pub fn histogram_bin_edges(values: &[f64], binning: Binning) -> Vec<f64> {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let n = finite().count();
    let (lo, hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    edges_of(n, lo, hi, binning)
}

/// The edges numpy computes for `n` finite values between `lo` and `hi`.
fn edges_of(n: usize, lo: f64, hi: f64, binning: Binning) -> Vec<f64> {
    let (mut first, mut last) = if n == 0 { (0.0, 1.0) } else { (lo, hi) };
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let bins = match binning {
        Binning::Fixed(b) => b.max(1),
        Binning::Sturges if n == 0 => 1,
        Binning::Sturges => {
            // numpy: width = ptp(a) / (log2(a.size) + 1); n = ceil((last - first) / width),
            // or 1 when the width is zero. Computed the same way for the
            // same rounding.
            let width = (hi - lo) / ((n as f64).log2() + 1.0);
            if width != 0.0 && width.is_finite() {
                // Saturates instead of overflowing; bounded by the data size.
                (((last - first) / width).ceil() as usize).clamp(1, n.max(1) * 2)
            } else {
                1
            }
        }
    };
    linspace(first, last, bins + 1)
}

/// numpy's `linspace(start, stop, num, endpoint=True)`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut out: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64) / div * delta + start
            } else {
                (i as f64) * step + start
            }
        })
        .collect();
    if num > 1 {
        out[num - 1] = stop;
    }
    out
}

/// numpy's `histogram(values, edges)[0]` for sorted, finite `values`: bin
/// `i` counts `edges[i] <= v < edges[i + 1]`, the last bin also counts
/// `v == edges[last]`, and values outside the edges are not counted.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::histogram;
///
/// assert_eq!(histogram(&[0.0, 1.0, 1.0, 2.0], &[0.0, 1.0, 2.0]), vec![1, 3]);
/// ```
#[must_use]
pub fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    if edges.len() < 2 {
        return Vec::new();
    }
    // Cumulative counts at each edge, as numpy's searchsorted does.
    let last = edges.len() - 1;
    let cum: Vec<usize> = edges
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            if i == last {
                sorted.partition_point(|&v| v <= e)
            } else {
                sorted.partition_point(|&v| v < e)
            }
        })
        .collect();
    cum.windows(2).map(|w| (w[1] - w[0]) as u64).collect()
}

/// A column prepared for repeated comparisons: finite values, sorted, with
/// the number of distinct values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    pub(crate) sorted: Vec<f64>,
    pub(crate) distinct: usize,
    /// Distinct values in order, with how often each occurs.
    pub(crate) runs: Vec<(f64, u64)>,
    mean: Option<f64>,
}

impl Column {
    pub(crate) fn new(values: impl IntoIterator<Item = f64>) -> Self {
        // Finite floats sort as integers once their sign is folded in, which
        // is about twice as fast as comparing floats.
        let mut keys: Vec<u64> = values
            .into_iter()
            .filter(|v| v.is_finite())
            .map(|v| {
                // -0.0 and 0.0 are one value, as for numpy.
                let b = (v + 0.0).to_bits();
                if b >> 63 == 1 { !b } else { b | 1 << 63 }
            })
            .collect();
        keys.sort_unstable();
        let sorted: Vec<f64> = keys
            .into_iter()
            .map(|k| f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k }))
            .collect();
        let mut runs: Vec<(f64, u64)> = Vec::new();
        for &v in &sorted {
            match runs.last_mut() {
                Some((x, n)) if *x == v => *n += 1,
                _ => runs.push((v, 1)),
            }
        }
        let mean = (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64);
        Self {
            distinct: runs.len(),
            sorted,
            runs,
            mean,
        }
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        self.mean
    }
}

/// Evidently's `get_binned_data` without the smoothing: each side's share of
/// rows per bin (or per distinct value), or `None` if a side is empty.
pub(crate) fn binned(
    reference: &Column,
    current: &Column,
    categorical: bool,
    binning: Binning,
) -> Option<(Vec<f64>, Vec<f64>)> {
    bins(reference, current, categorical, binning).map(|b| (b.reference, b.current))
}

/// The bins behind a binned comparison, with their edges or values.
pub(crate) fn bins(
    reference: &Column,
    current: &Column,
    categorical: bool,
    binning: Binning,
) -> Option<Distribution> {
    let (nr, nc) = (reference.sorted.len(), current.sorted.len());
    if nr == 0 || nc == 0 {
        return None;
    }
    if !categorical && reference.distinct > 20 {
        // Both sides are sorted: the combined extremes are at their ends.
        let lo = reference.sorted[0].min(current.sorted[0]);
        let hi = reference.sorted[nr - 1].max(current.sorted[nc - 1]);
        let edges = edges_of(nr + nc, lo, hi, binning);
        let r = histogram(&reference.sorted, &edges);
        let c = histogram(&current.sorted, &edges);
        return Some(Distribution {
            edges,
            values: Vec::new(),
            labels: Vec::new(),
            reference: r.iter().map(|&k| k as f64 / nr as f64).collect(),
            current: c.iter().map(|&k| k as f64 / nc as f64).collect(),
            omitted: 0,
        });
    }
    // Value counts over the union of the distinct values, merged in order.
    let (mut r, mut c, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let (a, b) = (&reference.runs, &current.runs);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (ka, kb) = (a.get(i).map(|x| x.0), b.get(j).map(|x| x.0));
        let key = match (ka, kb) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (None, None) => break,
        };
        let (mut ra, mut rb) = (0, 0);
        if ka == Some(key) {
            ra = a[i].1;
            i += 1;
        }
        if kb == Some(key) {
            rb = b[j].1;
            j += 1;
        }
        values.push(key);
        r.push(ra as f64 / nr as f64);
        c.push(rb as f64 / nc as f64);
    }
    Some(Distribution {
        edges: Vec::new(),
        values,
        labels: Vec::new(),
        reference: r,
        current: c,
        omitted: 0,
    })
}

/// The most bins or values a [`Distribution`] keeps for display.
pub const MAX_BINS: usize = 100;

/// The shares behind a column's comparison: each side's share of its rows
/// per bin (numeric columns with more than 20 distinct reference values)
/// or per value (every other column), before any smoothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Distribution {
    /// Bin edges (one more than the shares) when the column was binned;
    /// empty when it was compared value by value.
    pub edges: Vec<f64>,
    /// The values compared one by one (level indices for categorical
    /// features); empty when binned.
    pub values: Vec<f64>,
    /// The level names of `values`, when known.
    pub labels: Vec<String>,
    /// The reference's share of rows per bin or value.
    pub reference: Vec<f64>,
    /// The current data's share of rows per bin or value.
    pub current: Vec<f64>,
    /// Values left out of `values` to keep it within [`MAX_BINS`] (the
    /// ones with the smallest combined share; the test saw them all).
    pub omitted: usize,
}

impl Distribution {
    /// Keeps at most [`MAX_BINS`] values (binned columns have far fewer).
    fn bounded(mut self) -> Self {
        if self.values.len() <= MAX_BINS {
            return self;
        }
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_by(|&a, &b| {
            let (sa, sb) = (
                self.reference[a] + self.current[a],
                self.reference[b] + self.current[b],
            );
            sb.total_cmp(&sa)
        });
        let mut keep: Vec<usize> = order[..MAX_BINS].to_vec();
        keep.sort_unstable();
        self.omitted = self.values.len() - MAX_BINS;
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        self.values = pick(&self.values);
        self.reference = pick(&self.reference);
        self.current = pick(&self.current);
        self
    }
}

/// Evidently's empty-bin smoothing, applied in place to one side.
fn fill_zeroes(percents: &mut [f64]) {
    let min = percents
        .iter()
        .copied()
        .filter(|&p| p != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() {
        return;
    }
    let fill = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    for p in percents.iter_mut().filter(|p| **p == 0.0) {
        *p = fill;
    }
}

pub(crate) fn psi_columns(
    reference: &Column,
    current: &Column,
    categorical: bool,
    binning: Binning,
) -> Option<f64> {
    let (r, c) = binned(reference, current, categorical, binning)?;
    Some(psi_of(r, c))
}

pub(crate) fn psi_of(mut r: Vec<f64>, mut c: Vec<f64>) -> f64 {
    fill_zeroes(&mut r);
    fill_zeroes(&mut c);
    r.iter()
        .zip(&c)
        .map(|(&r, &c)| (r - c) * (r / c).ln())
        .sum()
}

pub(crate) fn js_columns(
    reference: &Column,
    current: &Column,
    categorical: bool,
    binning: Binning,
) -> Option<f64> {
    let (p, q) = binned(reference, current, categorical, binning)?;
    Some(js_of(&p, &q))
}

pub(crate) fn js_of(p: &[f64], q: &[f64]) -> f64 {
    // scipy.spatial.distance.jensenshannon(p, q), natural logarithm.
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (&p, &q) in p.iter().zip(q) {
        let (p, q) = (p / sp, q / sq);
        let m = (p + q) / 2.0;
        left += rel_entr(p, m);
        right += rel_entr(q, m);
    }
    ((left + right) / 2.0).max(0.0).sqrt()
}

pub(crate) fn ks_columns(a: &Column, b: &Column) -> Option<f64> {
    let (n1, n2) = (a.sorted.len() as f64, b.sorted.len() as f64);
    if a.sorted.is_empty() || b.sorted.is_empty() {
        return None;
    }
    // scipy.stats.ks_2samp: the largest gap between the two empirical CDFs,
    // evaluated just after every observed value. Between two distinct values
    // of `b` its CDF is flat and `a`'s only rises, so the extremes over
    // `a`'s values there are at the interval's ends: evaluating at each
    // distinct value of `b` and just before the next one gives the same
    // maximum, from the same counts (so the same floating-point values),
    // with one forward pass over `a`. The pass steps over `a`'s runs of
    // equal values rather than its values: the same counts, far fewer steps
    // for features with few distinct values.
    let (ra, b) = (&a.runs, &b.runs);
    let (mut p, mut cum) = (0, 0u64);
    let mut below = |x: f64| {
        while p < ra.len() && ra[p].0 < x {
            cum += ra[p].1;
            p += 1;
        }
        (cum, p)
    };
    let mut d = below(b[0].0).0 as f64 / n1;
    let mut cb = 0u64;
    for (k, &(x, count)) in b.iter().enumerate() {
        cb += count;
        let f2 = cb as f64 / n2;
        let (lt, at) = below(x);
        let equal = ra.get(at).filter(|r| r.0 == x).map_or(0, |r| r.1);
        d = d.max(((lt + equal) as f64 / n1 - f2).abs());
        if let Some(&(next, _)) = b.get(k + 1) {
            d = d.max(below(next).0 as f64 / n1 - f2);
        }
    }
    Some(d)
}

/// Population stability index of `current` against `reference`, with
/// Evidently's binning and empty-bin smoothing (see [the monitor
/// docs](crate::monitor#drift-scores)); `None` when either side has no
/// finite value.
///
/// `categorical` compares value counts; otherwise a column with more than
/// 20 distinct reference values is binned with `binning`.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{Binning, psi};
///
/// let same = psi(&[0.0, 1.0, 1.0, 2.0], &[0.0, 1.0, 1.0, 2.0], true, Binning::Sturges);
/// assert_eq!(same, Some(0.0));
/// // 50/50 against 90/10: (0.9 - 0.5) ln(0.9/0.5) + (0.1 - 0.5) ln(0.1/0.5)
/// let shifted = psi(&[0.0, 1.0], &[0.0; 9].iter().chain(&[1.0]).copied().collect::<Vec<_>>(),
///                   true, Binning::Sturges).unwrap();
/// assert!((shifted - (0.4 * 1.8f64.ln() - 0.4 * 0.2f64.ln())).abs() < 1e-12);
/// ```
#[must_use]
pub fn psi(reference: &[f64], current: &[f64], categorical: bool, binning: Binning) -> Option<f64> {
    psi_columns(
        &Column::new(reference.iter().copied()),
        &Column::new(current.iter().copied()),
        categorical,
        binning,
    )
}

/// Two-sample Kolmogorov–Smirnov statistic (as `scipy.stats.ks_2samp`
/// reports it): the largest distance between the two empirical CDFs.
/// `None` when either side has no finite value.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::ks_statistic;
///
/// assert_eq!(ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), Some(0.0));
/// assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), Some(1.0));
/// ```
#[must_use]
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Option<f64> {
    ks_columns(
        &Column::new(a.iter().copied()),
        &Column::new(b.iter().copied()),
    )
}

/// Jensen–Shannon distance (natural logarithm, as
/// `scipy.spatial.distance.jensenshannon`) between the binned distributions
/// (same binning as [`psi`], without smoothing, as Evidently does); between
/// 0 and `sqrt(ln 2)`. `None` when either side has no finite value.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{Binning, jensen_shannon};
///
/// let d = jensen_shannon(&[0.0, 0.0], &[1.0, 1.0], true, Binning::Sturges).unwrap();
/// assert!((d - std::f64::consts::LN_2.sqrt()).abs() < 1e-12);
/// ```
#[must_use]
pub fn jensen_shannon(
    reference: &[f64],
    current: &[f64],
    categorical: bool,
    binning: Binning,
) -> Option<f64> {
    js_columns(
        &Column::new(reference.iter().copied()),
        &Column::new(current.iter().copied()),
        categorical,
        binning,
    )
}

/// How far a column has moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The column's test did not find drift.
    Stable,
    /// Not produced by the built-in tests (each decides drift or not);
    /// kept so that code matching on verdicts keeps compiling.
    Warn,
    /// The column's test found drift at its threshold.
    Drift,
}

/// The test and threshold of one column, overriding the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ColumnTest {
    /// The test (default: as [`DriftThresholds::test`]).
    pub test: Option<StatTest>,
    /// The threshold (default: as [`DriftThresholds::threshold`], else the
    /// test's [own](StatTest::default_threshold)).
    pub threshold: Option<f64>,
}

/// How columns are tested for drift and when the dataset drifts.
///
/// The defaults are Evidently's (0.7, `DataDriftPreset`): each column gets
/// the test [`StatTest::default_for`] picks from the reference size, the
/// number of distinct values and the column kind, at that test's default
/// threshold, and the dataset drifts when at least half of its columns
/// drift. Tests and thresholds can be set for every column or per column.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{DriftThresholds, StatTest};
///
/// // PSI at 0.2 for "price", Evidently's choice everywhere else.
/// let t = DriftThresholds::default().column("price", Some(StatTest::Psi), Some(0.2));
/// assert_eq!(t.choose("price", modelhost::monitor::ColumnKind::Numeric, 10, 10), (StatTest::Psi, 0.2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftThresholds {
    /// Share of drifting features at or above which the dataset drifts
    /// (default `0.5`).
    pub dataset_share: f64,
    /// How numeric columns are binned for PSI and Jensen–Shannon (default
    /// Sturges, as Evidently).
    pub binning: Binning,
    /// The test for every column without one of its own (default `None`:
    /// Evidently's choice per column).
    pub test: Option<StatTest>,
    /// The threshold for every column without one of its own (default
    /// `None`: the test's default).
    pub threshold: Option<f64>,
    /// Per-column tests and thresholds, by column name.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnTest>,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            dataset_share: 0.5,
            binning: Binning::Sturges,
            test: None,
            threshold: None,
            columns: BTreeMap::new(),
        }
    }
}

impl DriftThresholds {
    /// Sets the test (or `None`: the default choice) and the threshold (or
    /// `None`: the test's default) of the column called `name`.
    #[must_use]
    pub fn column(
        mut self,
        name: impl Into<String>,
        test: Option<StatTest>,
        threshold: Option<f64>,
    ) -> Self {
        self.columns
            .insert(name.into(), ColumnTest { test, threshold });
        self
    }

    /// Sets the test and threshold of every column without its own.
    #[must_use]
    pub fn all_columns(mut self, test: Option<StatTest>, threshold: Option<f64>) -> Self {
        self.test = test;
        self.threshold = threshold;
        self
    }

    /// Sets the share of drifting columns at which the dataset drifts.
    #[must_use]
    pub fn dataset_share(mut self, share: f64) -> Self {
        self.dataset_share = share;
        self
    }

    /// The test and threshold for a column, given its kind, its number of
    /// reference values and the distinct values of both sides together.
    #[must_use]
    pub fn choose(
        &self,
        name: &str,
        kind: ColumnKind,
        reference_rows: usize,
        distinct: usize,
    ) -> (StatTest, f64) {
        let own = self.columns.get(name).copied().unwrap_or_default();
        let test = own
            .test
            .or(self.test)
            .unwrap_or_else(|| StatTest::default_for(kind, reference_rows, distinct));
        let threshold = own
            .threshold
            .or(self.threshold)
            .unwrap_or_else(|| test.default_threshold());
        (test, threshold)
    }

    /// What is wrong with these settings, if anything: a dataset share
    /// outside `0..=1`, or a threshold that is not finite and positive.
    pub(crate) fn problem(&self) -> Option<String> {
        if !(0.0..=1.0).contains(&self.dataset_share) {
            return Some(format!(
                "dataset share {} is not between 0 and 1",
                self.dataset_share
            ));
        }
        let bad = |t: Option<f64>| t.is_some_and(|t| !(t.is_finite() && t > 0.0));
        if bad(self.threshold) {
            return Some(format!(
                "threshold {:?} is not finite and positive",
                self.threshold
            ));
        }
        self.columns
            .iter()
            .find(|(_, c)| bad(c.threshold))
            .map(|(n, c)| {
                format!(
                    "threshold {:?} of column {n:?} is not finite and positive",
                    c.threshold
                )
            })
    }
}

/// Drift of one column (a feature, or the predictions) in one comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FeatureDrift {
    /// The column's name (`"prediction"` for predictions).
    pub name: String,
    /// Whether the column holds categories (category indices, booleans).
    pub categorical: bool,
    /// The test that decided the verdict.
    pub test: StatTest,
    /// The test's score: a p-value for [p-value tests](StatTest::is_p_value),
    /// else a distance; `None` when a side had no finite value.
    pub score: Option<f64>,
    /// The threshold the score was compared with.
    pub threshold: f64,
    /// The verdict: [`Verdict::Drift`] when the test found drift.
    pub verdict: Verdict,
    /// Population stability index (for context, whatever the test).
    pub psi: Option<f64>,
    /// Kolmogorov–Smirnov statistic (for context).
    pub ks: Option<f64>,
    /// Jensen–Shannon distance (for context).
    pub js: Option<f64>,
    /// Mean of the reference sample (numeric columns only).
    pub reference_mean: Option<f64>,
    /// Mean of the current values (numeric columns only).
    pub current_mean: Option<f64>,
    /// Finite values in the reference.
    pub reference_count: u64,
    /// Finite values in the current data.
    pub current_count: u64,
    /// Distinct values of both sides together (what the default choice of
    /// test looks at).
    pub distinct: u64,
    /// The bins or values and each side's shares behind PSI and
    /// Jensen–Shannon (and the report's charts).
    pub distribution: Distribution,
}

/// The number of distinct values of two sorted columns together.
fn union_distinct(a: &Column, b: &Column) -> usize {
    let (ra, rb) = (&a.runs, &b.runs);
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < ra.len() && j < rb.len() {
        match ra[i].0.total_cmp(&rb[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
        n += 1;
    }
    n + (ra.len() - i) + (rb.len() - j)
}

pub(crate) fn compare_column(
    name: &str,
    categorical: bool,
    reference: &Column,
    current: &Column,
    thresholds: &DriftThresholds,
) -> FeatureDrift {
    let kind = if categorical {
        ColumnKind::Categorical
    } else {
        ColumnKind::Numeric
    };
    let distinct = union_distinct(reference, current);
    let (test, threshold) = thresholds.choose(name, kind, reference.sorted.len(), distinct);
    // One binning serves PSI, Jensen-Shannon and the distribution.
    let dist = bins(reference, current, categorical, thresholds.binning);
    let js = dist.as_ref().map(|d| js_of(&d.reference, &d.current));
    let psi = dist
        .as_ref()
        .map(|d| psi_of(d.reference.clone(), d.current.clone()));
    let score = match test {
        StatTest::Psi => psi,
        StatTest::JensenShannon => js,
        _ => stattest::run(test, reference, current, categorical, thresholds.binning),
    };
    let verdict = match score {
        Some(s) if test.drifted(s, threshold) => Verdict::Drift,
        _ => Verdict::Stable,
    };
    let mean = |c: &Column| if categorical { None } else { c.mean() };
    FeatureDrift {
        name: name.to_owned(),
        categorical,
        test,
        score,
        threshold,
        verdict,
        psi,
        ks: ks_columns(reference, current),
        js,
        reference_mean: mean(reference),
        current_mean: mean(current),
        reference_count: reference.sorted.len() as u64,
        current_count: current.sorted.len() as u64,
        distinct: distinct as u64,
        distribution: dist.map(Distribution::bounded).unwrap_or_default(),
    }
}

/// Drift of every feature (and the predictions): one window of a monitor,
/// or an offline comparison ([`compare`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftReport {
    /// The model's name (empty for an offline comparison).
    pub model: String,
    /// The version whose reference the window was compared with (0 for an
    /// offline comparison).
    pub version: u64,
    /// The window's sequence number (0 for the first window of a version).
    pub window: u64,
    /// Rows the window covered (current rows of an offline comparison).
    pub rows: u64,
    /// Rows kept for the comparison (fewer than `rows` when the window is
    /// larger than the kept-rows bound and rows were strided).
    pub kept_rows: u64,
    /// Whether the window had filled; `false` for the current, partial
    /// window that [`Monitor::drift`](crate::monitor::Monitor::drift)
    /// reports before the first window completes.
    pub complete: bool,
    /// The rows a full window covers (equal to `rows` offline).
    pub window_rows: u64,
    /// Why the verdicts may not mean much (a window smaller than its
    /// tests need, a partial window), one sentence each.
    pub warnings: Vec<String>,
    /// One entry per feature, in schema order.
    pub features: Vec<FeatureDrift>,
    /// Drift of the predictions, when the reference recorded them.
    pub prediction: Option<FeatureDrift>,
    /// Features whose verdict is [`Verdict::Drift`].
    pub drifted: usize,
    /// `drifted / features`.
    pub drift_share: f64,
    /// Whether `drift_share` reached the dataset threshold.
    pub dataset_drift: bool,
}

impl DriftReport {
    /// The drift of the feature called `name`.
    #[must_use]
    pub fn feature(&self, name: &str) -> Option<&FeatureDrift> {
        self.features.iter().find(|f| f.name == name)
    }

    /// The report as one self-contained HTML page (no script, no network):
    /// the verdict table and a reference-versus-current chart per feature.
    #[must_use]
    pub fn render_html(&self, title: &str) -> String {
        super::drift_html::page(self, title)
    }

    /// Counts the drifted features, the share and the dataset verdict.
    pub(crate) fn tally(&mut self, dataset_share: f64) {
        self.drifted = self
            .features
            .iter()
            .filter(|f| f.verdict == Verdict::Drift)
            .count();
        self.drift_share = if self.features.is_empty() {
            0.0
        } else {
            self.drifted as f64 / self.features.len() as f64
        };
        self.dataset_drift = !self.features.is_empty() && self.drift_share >= dataset_share;
    }

    /// One warning per test whose minimum the smallest side misses.
    pub(crate) fn warn_small(&mut self) {
        let mut seen: Vec<StatTest> = Vec::new();
        for f in self.features.iter().chain(&self.prediction) {
            let n = f.current_count.min(f.reference_count);
            let min = f.test.min_rows() as u64;
            if n < min && !seen.contains(&f.test) {
                seen.push(f.test);
                self.warnings.push(format!(
                    "{} values of {:?} compared: {} needs at least {min} a side for a verdict that means much",
                    n, f.name, f.test
                ));
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sturges_matches_numpy_for_small_inputs() {
        // np.histogram_bin_edges([1, 2, 2, 3, 10], bins="sturges")
        // -> ptp 9, log2(5) + 1 = 3.32 -> 4 bins.
        let e = histogram_bin_edges(&[1.0, 2.0, 2.0, 3.0, 10.0], Binning::Sturges);
        assert_eq!(e, vec![1.0, 3.25, 5.5, 7.75, 10.0]);
        assert_eq!(histogram_bin_edges(&[], Binning::Sturges), vec![0.0, 1.0]);
        assert_eq!(
            histogram_bin_edges(&[2.0, 2.0], Binning::Sturges),
            vec![1.5, 2.5]
        );
    }

    #[test]
    fn empty_and_non_finite_inputs_do_not_panic() {
        assert_eq!(psi(&[], &[1.0], false, Binning::Sturges), None);
        assert_eq!(ks_statistic(&[f64::NAN], &[1.0]), None);
        let v: Vec<f64> = (0..50).map(f64::from).collect();
        assert!(psi(&v, &[f64::INFINITY, 3.0], false, Binning::Fixed(0)).is_some());
    }

    /// The run-based KS against a plain walk over every value.
    #[test]
    fn ks_matches_the_definition() {
        let naive = |a: &[f64], b: &[f64]| {
            let cdf =
                |s: &[f64], x: f64| s.iter().filter(|&&v| v <= x).count() as f64 / s.len() as f64;
            a.iter()
                .chain(b)
                .map(|&x| (cdf(a, x) - cdf(b, x)).abs())
                .fold(0.0, f64::max)
        };
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % m) as f64 - (m / 2) as f64
        };
        for round in 0..200 {
            let m = 3 + round % 40;
            let a: Vec<f64> = (0..1 + round % 17).map(|_| next(m)).collect();
            let b: Vec<f64> = (0..1 + round % 23).map(|_| next(m) * 0.5).collect();
            assert_eq!(ks_statistic(&a, &b), Some(naive(&a, &b)), "{a:?} {b:?}");
        }
        let c = Column::new([0.0, -0.0, -1.5, 2.0, f64::NAN]);
        assert_eq!(c.sorted, vec![-1.5, 0.0, 0.0, 2.0]);
        assert_eq!(c.distinct, 3);
    }
}
