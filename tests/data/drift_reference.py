"""Reference drift scores for tests/monitoring.rs, from numpy and scipy.

Regenerate with (any recent numpy and scipy):

    python3 -m venv venv && venv/bin/pip install numpy scipy
    venv/bin/python tests/data/drift_reference.py > tests/data/drift_reference.json

PSI follows Evidently's get_binned_data (evidently/calculations/stattests/
utils.py): a numerical column with more than 20 unique reference values is
binned with np.histogram_bin_edges over reference + current (bins="sturges"
unless a case names a bin count), percents are counts / len; otherwise value
counts over the union of the values. Zero percents are replaced, per side, by
min(nonzero) / 1e6 if that min <= 0.0001, else 0.0001. PSI is
sum((ref - cur) * ln(ref / cur)). Jensen-Shannon uses the same percents
without the replacement, through scipy.spatial.distance.jensenshannon. KS is
scipy.stats.ks_2samp's statistic. If Evidently is installed (0.7 was used:
`pip install evidently "pandas<3"`), its own PSI and Jensen-Shannon tests
are run as well and must agree to 1e-12.
"""

import json
import sys

import numpy as np
from scipy import stats
from scipy.spatial import distance


def binned(ref, cur, categorical, bins, fill):
    if not categorical and len(np.unique(ref)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=bins)
        r = np.histogram(ref, edges)[0] / len(ref)
        c = np.histogram(cur, edges)[0] / len(cur)
    else:
        keys = sorted(set(ref.tolist()) | set(cur.tolist()))
        r = np.array([np.sum(ref == k) for k in keys]) / len(ref)
        c = np.array([np.sum(cur == k) for k in keys]) / len(cur)
    if fill:
        for p in (r, c):
            m = min(p[p != 0])
            np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c


def evidently_scores(ref, cur, categorical, bins):
    """PSI and Jensen-Shannon from Evidently's own implementation (its
    legacy stattests, which always bin with "sturges"), or None."""
    if bins != "sturges":
        return None
    try:
        import pandas as pd
        from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
        from evidently.legacy.calculations.stattests.psi import _psi
        from evidently.legacy.core import ColumnType
    except Exception:  # Evidently missing, or of another layout
        return None
    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    r, c = pd.Series(ref), pd.Series(cur)
    return float(_psi(r, c, kind, 0.1)[0]), float(_jensenshannon(r, c, kind, 0.1)[0])


def compact(values):
    return [int(v) if float(v).is_integer() else float(v) for v in values]


def case(name, ref, cur, categorical=False, bins="sturges"):
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    r, c = binned(ref, cur, categorical, bins, True)
    psi = float(np.sum((r - c) * np.log(r / c)))
    jr, jc = binned(ref, cur, categorical, bins, False)
    js = float(distance.jensenshannon(jr, jc))
    ev = evidently_scores(ref, cur, categorical, bins)
    if ev is not None:
        assert abs(ev[0] - psi) <= 1e-12 * max(1.0, psi), (name, ev[0], psi)
        assert abs(ev[1] - js) <= 1e-12, (name, ev[1], js)
    out = {
        "name": name,
        "categorical": categorical,
        "bins": None if bins == "sturges" else bins,
        "reference": compact(ref),
        "current": compact(cur),
        "psi": psi,
        "ks": float(stats.ks_2samp(ref, cur).statistic),
        "js": js,
        "checked_with_evidently": ev is not None,
    }
    if not categorical and len(np.unique(ref)) > 20:
        out["edges"] = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=bins).tolist()
    return out


def main():
    rng = np.random.default_rng(20240611)
    normal_ref = np.round(rng.normal(0.0, 1.0, 500), 6)
    normal_cur = np.round(rng.normal(0.5, 1.2, 300), 6)
    basket_ref = np.round(rng.gamma(2.0, 40.0, 1000), 2)
    basket_cur = np.round(rng.gamma(2.0, 55.0, 1000), 2)
    ints_ref = rng.integers(0, 60, 800)
    ints_cur = rng.integers(10, 90, 400)
    few_ref = rng.choice([0, 1, 2, 3, 4], 400, p=[0.4, 0.3, 0.2, 0.1, 0.0])
    few_cur = rng.choice([0, 1, 2, 3, 4], 250, p=[0.1, 0.2, 0.3, 0.2, 0.2])
    dev_ref = rng.choice([0, 1, 2], 1000, p=[0.6, 0.35, 0.05])
    dev_cur = rng.choice([0, 1, 2], 1000, p=[0.3, 0.2, 0.5])
    # One in 10,000: the smallest share is exactly 0.0001, so empty bins get
    # 0.0001 / 1e6 (the `<=` branch of the smoothing).
    rare_ref = np.array([0] * 9999 + [1])
    rare_cur = np.array([0] * 500 + [1] * 400 + [2] * 100)
    cases = [
        case("normal_shift", normal_ref, normal_cur),
        case("normal_same", normal_ref, normal_ref),
        case("normal_fixed_10_bins", normal_ref, normal_cur, bins=10),
        case("basket_gamma", basket_ref, basket_cur),
        case("integers_with_ties", ints_ref, ints_cur),
        case("few_unique_numeric", few_ref, few_cur),
        case("device_categorical", dev_ref, dev_cur, categorical=True),
        case("rare_category_smoothing", rare_ref, rare_cur, categorical=True),
        case("constant_current", normal_ref, np.full(50, 0.25)),
    ]
    # One case per line keeps the file small and its diffs readable.
    head = {"numpy": np.__version__, "scipy": __import__("scipy").__version__}
    sys.stdout.write(json.dumps(head)[:-1] + ', "cases": [\n')
    sys.stdout.write(",\n".join(json.dumps(c) for c in cases))
    sys.stdout.write("\n]}\n")


if __name__ == "__main__":
    main()
