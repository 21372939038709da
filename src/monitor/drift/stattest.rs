//! Evidently's drift tests and its default choice of test per column.
//!
//! Each test follows Evidently 0.7's `legacy/calculations/stattests` module
//! (and the scipy functions it calls): the same statistic, the same
//! default threshold and the same comparison with the threshold.

use serde::{Deserialize, Serialize};

use super::{Binning, Column, binned, js_of, psi_of};

/// Reference rows above which Evidently switches from p-value tests to
/// distances (`reference_data.shape[0] <= 1000`).
pub const LARGE_REFERENCE: usize = 1000;

/// Sample size up to which scipy's `ks_2samp` computes the exact p-value
/// (`MAX_AUTO_N`); beyond it the asymptotic distribution is used.
pub const KS_EXACT_MAX_N: usize = 10_000;

/// Whether a column holds measurements or categories, as Evidently's
/// `ColumnType` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Floats and integers.
    Numeric,
    /// Categories and booleans.
    Categorical,
}

/// A drift test, named as Evidently names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatTest {
    /// Two-sample Kolmogorov–Smirnov p-value (`"ks"`; scipy's `ks_2samp`,
    /// exact up to 10,000 values a side, asymptotic beyond); drift when the
    /// p-value is at most the threshold (default 0.05).
    Ks,
    /// Chi-square p-value of the current counts against the reference
    /// shares (`"chisquare"`); drift when the p-value is below the
    /// threshold (default 0.05).
    #[serde(rename = "chisquare")]
    ChiSquare,
    /// Two-proportion Z-test p-value for columns with two values (`"z"`);
    /// drift when the p-value is below the threshold (default 0.05).
    Z,
    /// Wasserstein distance divided by the reference standard deviation
    /// (at least 0.001) (`"wasserstein"`); drift at or above the threshold
    /// (default 0.1).
    Wasserstein,
    /// Jensen–Shannon distance of the binned shares (`"jensenshannon"`);
    /// drift at or above the threshold (default 0.1).
    #[serde(rename = "jensenshannon")]
    JensenShannon,
    /// Population stability index (`"psi"`); drift at or above the
    /// threshold (default 0.1).
    Psi,
}

impl StatTest {
    /// Every test, in the order above.
    pub const ALL: [StatTest; 6] = [
        StatTest::Ks,
        StatTest::ChiSquare,
        StatTest::Z,
        StatTest::Wasserstein,
        StatTest::JensenShannon,
        StatTest::Psi,
    ];

    /// Evidently's name for the test (`"ks"`, `"chisquare"`, `"z"`,
    /// `"wasserstein"`, `"jensenshannon"`, `"psi"`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            StatTest::Ks => "ks",
            StatTest::ChiSquare => "chisquare",
            StatTest::Z => "z",
            StatTest::Wasserstein => "wasserstein",
            StatTest::JensenShannon => "jensenshannon",
            StatTest::Psi => "psi",
        }
    }

    /// The test Evidently calls `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::monitor::StatTest;
    ///
    /// assert_eq!(StatTest::from_name("wasserstein"), Some(StatTest::Wasserstein));
    /// assert_eq!(StatTest::from_name("t_test"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Evidently's default threshold for the test.
    #[must_use]
    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::Ks | StatTest::ChiSquare | StatTest::Z => 0.05,
            StatTest::Wasserstein | StatTest::JensenShannon | StatTest::Psi => 0.1,
        }
    }

    /// Whether the test's score is a p-value (small means drift) rather
    /// than a distance (large means drift).
    #[must_use]
    pub fn is_p_value(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::ChiSquare | StatTest::Z)
    }

    /// Whether `score` means drift at `threshold`, with Evidently's
    /// comparison for the test (`p <= t` for KS, `p < t` for chi-square and
    /// Z, `d >= t` for the distances).
    #[must_use]
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::Ks => score <= threshold,
            StatTest::ChiSquare | StatTest::Z => score < threshold,
            StatTest::Wasserstein | StatTest::JensenShannon | StatTest::Psi => score >= threshold,
        }
    }

    /// Evidently's default test for a column (`_get_default_stattest`):
    /// with at most 1,000 reference values, KS for numeric columns with
    /// more than 5 distinct values, else chi-square (more than 2 distinct
    /// values) or the Z-test; with a larger reference, normed Wasserstein
    /// for numeric columns with more than 5 distinct values, else
    /// Jensen–Shannon. `distinct` counts the distinct values of reference
    /// and current together.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::monitor::{ColumnKind, StatTest};
    ///
    /// assert_eq!(StatTest::default_for(ColumnKind::Numeric, 5_000, 900), StatTest::Wasserstein);
    /// assert_eq!(StatTest::default_for(ColumnKind::Numeric, 500, 900), StatTest::Ks);
    /// assert_eq!(StatTest::default_for(ColumnKind::Categorical, 500, 2), StatTest::Z);
    /// assert_eq!(StatTest::default_for(ColumnKind::Categorical, 500, 3), StatTest::ChiSquare);
    /// assert_eq!(StatTest::default_for(ColumnKind::Categorical, 5_000, 3), StatTest::JensenShannon);
    /// ```
    #[must_use]
    pub fn default_for(kind: ColumnKind, reference_rows: usize, distinct: usize) -> Self {
        match (reference_rows <= LARGE_REFERENCE, kind) {
            (true, ColumnKind::Numeric) if distinct > 5 => StatTest::Ks,
            (true, _) if distinct > 2 => StatTest::ChiSquare,
            (true, _) => StatTest::Z,
            (false, ColumnKind::Numeric) if distinct > 5 => StatTest::Wasserstein,
            (false, _) => StatTest::JensenShannon,
        }
    }

    /// The fewest values a side for a verdict that means much; smaller
    /// windows get a warning naming this minimum (see
    /// [`DriftReport::warnings`](super::DriftReport::warnings)).
    ///
    /// The p-value tests are valid at any size, but with fewer than 30
    /// values a side they can hardly reach p < 0.05 for a moderate shift.
    /// The distances have no such correction: between 5,000 reference
    /// values and a window drawn from the same normal distribution, the
    /// normed Wasserstein distance and the Jensen–Shannon distance average
    /// about 0.09 at 200 window rows (at or above the 0.1 threshold in 37%
    /// and 30% of such windows) and about 0.045 at 1,000 (95th percentile
    /// 0.07), so a small window drifts on noise alone.
    #[must_use]
    pub fn min_rows(self) -> usize {
        match self {
            StatTest::Ks | StatTest::ChiSquare | StatTest::Z => 30,
            StatTest::Wasserstein | StatTest::JensenShannon | StatTest::Psi => 1_000,
        }
    }
}

impl std::fmt::Display for StatTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `test` on two prepared columns; `None` when either side is empty.
pub(crate) fn run(
    test: StatTest,
    reference: &Column,
    current: &Column,
    categorical: bool,
    binning: Binning,
) -> Option<f64> {
    if reference.sorted.is_empty() || current.sorted.is_empty() {
        return None;
    }
    Some(match test {
        StatTest::Ks => ks_p_value(reference, current),
        StatTest::ChiSquare => chi_square_p_value(reference, current),
        StatTest::Z => z_p_value(reference, current),
        StatTest::Wasserstein => wasserstein_normed(reference, current),
        StatTest::JensenShannon => {
            let (p, q) = binned(reference, current, categorical, binning)?;
            js_of(&p, &q)
        }
        StatTest::Psi => {
            let (r, c) = binned(reference, current, categorical, binning)?;
            psi_of(r, c)
        }
    })
}

/// Counts of each side over the union of distinct values, in order.
fn value_counts(a: &Column, b: &Column) -> (Vec<f64>, Vec<u64>, Vec<u64>) {
    let (ra, rb) = (&a.runs, &b.runs);
    let (mut i, mut j) = (0, 0);
    let (mut keys, mut ca, mut cb) = (Vec::new(), Vec::new(), Vec::new());
    while i < ra.len() || j < rb.len() {
        let key = match (ra.get(i), rb.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let (mut na, mut nb) = (0, 0);
        if ra.get(i).is_some_and(|x| x.0 == key) {
            na = ra[i].1;
            i += 1;
        }
        if rb.get(j).is_some_and(|x| x.0 == key) {
            nb = rb[j].1;
            j += 1;
        }
        keys.push(key);
        ca.push(na);
        cb.push(nb);
    }
    (keys, ca, cb)
}

/// Evidently's `_chi_stat_test`: `scipy.stats.chisquare(f_obs = current
/// counts, f_exp = reference counts · n_current / n_reference)`.
fn chi_square_p_value(reference: &Column, current: &Column) -> f64 {
    let (_, r, c) = value_counts(reference, current);
    let k_norm = current.sorted.len() as f64 / reference.sorted.len() as f64;
    let mut stat = 0.0;
    for (&r, &c) in r.iter().zip(&c) {
        let exp = r as f64 * k_norm;
        let d = c as f64 - exp;
        // A level the reference never saw: scipy divides by zero and the
        // statistic is infinite (p-value 0).
        stat += d * d / exp;
    }
    let dof = r.len().saturating_sub(1) as f64;
    if stat.is_nan() {
        return f64::NAN;
    }
    chi2_sf(dof, stat)
}

/// Evidently's `_z_stat_test`: the two-sided two-proportion Z-test on the
/// share of the smallest value.
fn z_p_value(reference: &Column, current: &Column) -> f64 {
    if reference.distinct == 1 && current.distinct == 1 && reference.sorted[0] == current.sorted[0]
    {
        return 1.0;
    }
    let (keys, r, c) = value_counts(reference, current);
    let _ = keys;
    let (n1, n2) = (reference.sorted.len() as f64, current.sorted.len() as f64);
    // Evidently codes the first (smallest) value 0 and every other 1.
    let p1 = (n1 - r[0] as f64) / n1;
    let p2 = (n2 - c[0] as f64) / n2;
    let p = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    2.0 * (1.0 - normal_cdf(z.abs()))
}

/// `scipy.stats.wasserstein_distance(reference, current) /
/// max(np.std(reference), 0.001)`.
fn wasserstein_normed(reference: &Column, current: &Column) -> f64 {
    let (u, v) = (&reference.sorted, &current.sorted);
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    // Walk the merged sorted values; between consecutive values both CDFs
    // are constant.
    let (mut i, mut j) = (0usize, 0usize);
    let mut all = Vec::with_capacity(u.len() + v.len());
    while i < u.len() || j < v.len() {
        if j >= v.len() || (i < u.len() && u[i] <= v[j]) {
            all.push(u[i]);
            i += 1;
        } else {
            all.push(v[j]);
            j += 1;
        }
    }
    let (mut pu, mut pv) = (0usize, 0usize);
    let mut total = 0.0;
    for w in all.windows(2) {
        let x = w[0];
        while pu < u.len() && u[pu] <= x {
            pu += 1;
        }
        while pv < v.len() && v[pv] <= x {
            pv += 1;
        }
        total += (pu as f64 / nu - pv as f64 / nv).abs() * (w[1] - w[0]);
    }
    let mean = reference.mean().unwrap_or(0.0);
    let var = u.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / nu;
    total / var.sqrt().max(0.001)
}

/// `scipy.stats.ks_2samp(reference, current)[1]` with `method="auto"`.
fn ks_p_value(a: &Column, b: &Column) -> f64 {
    let d = super::ks_columns(a, b).unwrap_or(0.0);
    let (n1, n2) = (a.sorted.len() as u64, b.sorted.len() as u64);
    ks_2samp_p(n1, n2, d)
}

/// The two-sided p-value of the two-sample KS statistic `d` for sample
/// sizes `n1` and `n2`, as scipy's `ks_2samp` in `auto` mode computes it.
pub(crate) fn ks_2samp_p(n1: u64, n2: u64, d: f64) -> f64 {
    if n1.max(n2) as usize <= KS_EXACT_MAX_N
        && let Some(p) = ks_exact(n1, n2, d)
    {
        return p.clamp(0.0, 1.0);
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round();
    kolmogorov_sf(en, d).clamp(0.0, 1.0)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp` (two-sided).
fn ks_exact(n1: u64, n2: u64, d: f64) -> Option<f64> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    if h == 0 {
        return Some(1.0);
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

/// scipy's `_compute_prob_outside_square`.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (nf, hf) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (nf / hf).floor() as i64;
    while k >= 0 {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy's `_compute_outer_prob_inside_method` (Hodges' inside method,
/// computing 1 - p directly as Viehmann does).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (m, n, h) = (m as i64, n as i64, h as i64);
    let ceil_div = |a: i64, b: i64| (a as f64 / b as f64).ceil() as i64;
    let floor_div = |a: i64, b: i64| (a as f64 / b as f64).floor() as i64;
    let mut minj = 0i64;
    let mut maxj = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for x in a.iter_mut().take(maxj as usize) {
        *x = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let prev = a[(jj + minj - lastminj) as usize];
            val = (prev * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = (maxj - minj) as usize;
            let to = (from + (lastlen - curlen) as usize).min(a.len());
            for x in &mut a[from..to] {
                *x = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// The survival function of the two-sided one-sample KS statistic for `n`
/// values (scipy's `kstwo.sf(x, n)`, `scipy.stats._ksstats._kolmogn`),
/// route by route: Ruben–Gambino's closed forms at the extremes,
/// `2 · smirnov` for large `n·x²`, Durbin's matrix (Marsaglia–Tsang–Wang)
/// where scipy uses it or Pomeranz's recursion (both exact), and the
/// Pelz–Good expansion elsewhere.
fn kolmogorov_sf(n: f64, x: f64) -> f64 {
    if n.is_nan() || n < 1.0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = n * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = (ln_factorial(n) - n * n.ln() + n * (2.0 * t - 1.0).ln()).exp();
        return 1.0 - cdf;
    }
    if t >= n - 1.0 {
        return 2.0 * (1.0 - x).powf(n);
    }
    if x >= 0.5 {
        return 2.0 * smirnov(n, x);
    }
    let nxx = t * x;
    if n <= 140.0 {
        // scipy: Durbin's matrix up to 0.754693, Pomeranz up to 4; both
        // compute the exact distribution, so the matrix serves both.
        if nxx <= 4.0 {
            return (1.0 - durbin_cdf(n as u64, x)).clamp(0.0, 1.0);
        }
        return 2.0 * smirnov(n, x);
    }
    if nxx >= 370.0 {
        return 0.0;
    }
    if nxx >= 2.2 {
        return 2.0 * smirnov(n, x);
    }
    let cdf = if n <= 100_000.0 && n * x.powf(1.5) <= 1.4 {
        durbin_cdf(n as u64, x)
    } else {
        pelz_good_cdf(n, x)
    };
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// scipy's `_kolmogn_DMTW`: `P(D_n <= d)` by Durbin's matrix, as Marsaglia,
/// Tsang and Wang compute it (the `k`-th diagonal entry of `H^n`, scaled
/// by `n!/n^n`), with the same rescaling against overflow.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let (ep128, em128) = (2f64.powi(128), 2f64.powi(-128));
    let mut v = vec![0.0; m];
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    // H[r][c], row-major.
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let mul = |a: &[f64], b: &[f64]| {
        let mut out = vec![0.0; m * m];
        for r in 0..m {
            for l in 0..m {
                let x = a[r * m + l];
                if x != 0.0 {
                    for c in 0..m {
                        out[r * m + c] += x * b[l * m + c];
                    }
                }
            }
        }
        out
    };
    let mut pwr = vec![0.0; m * m];
    for i in 0..m {
        pwr[i * m + i] = 1.0;
    }
    let (mut nn, mut expnt, mut hexpnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = mul(&pwr, &hm);
            expnt += hexpnt;
        }
        hm = mul(&hm, &hm);
        hexpnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > ep128 {
            for x in &mut hm {
                *x /= ep128;
            }
            hexpnt += 128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < em128 {
            p *= ep128;
            expnt -= 128;
        }
    }
    if expnt != 0 {
        p *= 2f64.powi(expnt);
    }
    p.clamp(0.0, 1.0)
}

fn ln_factorial(n: f64) -> f64 {
    ln_gamma(n + 1.0)
}

/// The one-sided KS survival function `P(D+_n >= x)` by the
/// Birnbaum–Tingey sum, in logarithms.
fn smirnov(n: f64, x: f64) -> f64 {
    let nn = n as u64;
    let jmax = (n * (1.0 - x)).floor() as u64;
    let lnf_n = ln_factorial(n);
    let mut sum = 0.0;
    for j in 0..=jmax.min(nn) {
        let jf = j as f64;
        let a = 1.0 - x - jf / n;
        let b = x + jf / n;
        if a <= 0.0 {
            continue;
        }
        let ln_term = lnf_n - ln_factorial(jf) - ln_factorial(n - jf)
            + (n - jf) * a.ln()
            + (jf - 1.0) * b.ln();
        sum += ln_term.exp();
    }
    (x * sum).clamp(0.0, 1.0)
}

/// scipy's `_kolmogn_PelzGood`: the Pelz–Good approximation of the CDF.
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    let sqrt2pi = (2.0 * PI).sqrt();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qp = q.powf(8.0 * kk as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (v, c) in k.iter_mut().zip(coeffs) {
            *v = *v * qp + c;
        }
    }
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (v, d) in k.iter_mut().zip(div) {
        *v = *v * q * sqrt2pi / d;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    let sqrt3z = 3f64.sqrt() * z;
    for kk in (1..=maxk).rev() {
        let kf = kk as f64;
        let qp = q2.powf(kf * kf);
        k2extra += kf * kf * qp;
        let kspi = PI * kf;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * kf * kf * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    k.iter()
        .enumerate()
        .map(|(i, v)| v / n.powf(i as f64 / 2.0))
        .sum()
}

/// The standard normal CDF.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    // Φ(x) = erfc(-x/√2)/2, erfc through the regularized incomplete gamma.
    let t = x / std::f64::consts::SQRT_2;
    if t >= 0.0 {
        1.0 - 0.5 * gamma_q(0.5, t * t)
    } else {
        0.5 * gamma_q(0.5, t * t)
    }
}

/// The chi-square survival function with `dof` degrees of freedom.
pub(crate) fn chi2_sf(dof: f64, x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    if dof <= 0.0 || x <= 0.0 {
        // scipy: chi2.sf(x, 0) is nan; a single category cannot drift.
        return if dof <= 0.0 { f64::NAN } else { 1.0 };
    }
    gamma_q(dof / 2.0, x / 2.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma function Q(a, x).
pub(crate) fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let front = (a * x.ln() - x - ln_gamma(a)).exp();
    if x < a + 1.0 {
        // Series for P.
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        (1.0 - sum * front).clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (front * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300) || (a - b).abs() < 1e-300
    }

    #[test]
    fn special_functions_match_known_values() {
        // scipy.stats.norm.cdf(1.96), chi2.sf(3.84, 1), chi2.sf(10, 4)
        assert!(close(normal_cdf(1.96), 0.975_002_104_851_780, 1e-12));
        assert!(close(chi2_sf(1.0, 3.84), 0.050_043_521_248_705_2, 1e-10));
        assert!(close(chi2_sf(4.0, 10.0), 0.040_427_681_994_512_8, 1e-10));
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-13));
    }

    #[test]
    fn exact_ks_matches_scipy() {
        // scipy.stats.ks_2samp: n1 = n2 = 10, d = 0.5 -> 0.16782134274394334;
        // n1 = 5, n2 = 7, d = 5/7 -> 0.06565656565656565.
        assert!(close(
            ks_2samp_p(10, 10, 0.5),
            0.167_821_342_743_943_34,
            1e-12
        ));
        assert!(close(
            ks_2samp_p(5, 7, 5.0 / 7.0),
            0.065_656_565_656_565_65,
            1e-12
        ));
        assert_eq!(ks_2samp_p(3, 4, 0.0), 1.0);
        // The asymptotic route: scipy.stats.kstwo.sf(d, n).
        for (n, d, p) in [
            (400.0, 0.05, 0.261_212_446_071_291_24),
            (400.0, 0.1, 0.000_619_179_724_802_33),
            (5000.0, 0.03, 0.000_241_592_344_226_668_17),
            (5000.0, 0.015, 0.208_461_420_961_862_04),
            // Durbin's matrix (n <= 140, and n x^1.5 <= 1.4 above), and
            // Pomeranz's recursion in scipy.
            (100.0, 0.05, 0.9532159710635725),
            (100.0, 0.15, 0.019839242125643017),
            (2000.0, 0.0075, 0.9998386991703584),
        ] {
            let got = kolmogorov_sf(n, d);
            assert!(
                close(got, p, 1e-11),
                "kstwo.sf({d}, {n}) = {got}, scipy {p}"
            );
        }
    }

    #[test]
    fn default_selection_follows_evidently() {
        use ColumnKind::*;
        assert_eq!(StatTest::default_for(Numeric, 1000, 6), StatTest::Ks);
        assert_eq!(StatTest::default_for(Numeric, 1000, 5), StatTest::ChiSquare);
        assert_eq!(StatTest::default_for(Numeric, 1000, 2), StatTest::Z);
        assert_eq!(
            StatTest::default_for(Numeric, 1001, 6),
            StatTest::Wasserstein
        );
        assert_eq!(
            StatTest::default_for(Numeric, 1001, 5),
            StatTest::JensenShannon
        );
        assert_eq!(
            StatTest::default_for(Categorical, 1001, 2),
            StatTest::JensenShannon
        );
    }
}
