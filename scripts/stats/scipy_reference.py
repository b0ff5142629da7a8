#!/usr/bin/python3
"""Reference values for src/stats from scipy.stats (written against scipy 1.10).

Run with Debian's interpreter, which has scipy:

    /usr/bin/python3 scripts/stats/scipy_reference.py [--out PATH]

Writes test/fixtures/stats/scipy_reference.json by default. The output is deterministic:
every case draws from its own seeded numpy Generator, and keys are sorted. Each case
records the inputs, scipy's statistic and p-value (defaults of each scipy function), and
the method scipy's 'auto' rule picks; the script checks that rule by re-running scipy with
the method forced, so a scipy whose rule differs fails here rather than in the TS tests.

Samples are rounded to a few decimals (or drawn as integers) to keep the file small; the
rounding also produces the ties the tests need.
"""

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
from scipy import special, stats

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "stats" / "scipy_reference.json"


def as_list(values):
    """Plain Python numbers: ints stay ints, floats use repr (round-trips exactly in JS)."""
    out = []
    for v in np.asarray(values).tolist():
        out.append(int(v) if isinstance(v, int) else float(v))
    return out


def rng(seed):
    return np.random.default_rng(seed)


def normal(seed, n, loc=0.0, decimals=3):
    return np.round(rng(seed).normal(loc, 1.0, n), decimals)


def same_p(p1, p2):
    return p1 == p2 or (math.isnan(p1) and math.isnan(p2))


# ------------------------------------------------------------------------------------------
# Mann-Whitney U
# ------------------------------------------------------------------------------------------

def mwu_case(name, a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    res = stats.mannwhitneyu(a, b)
    pooled = np.concatenate([a, b])
    ties = len(np.unique(pooled)) != len(pooled)
    # scipy 1.10 _mwu_choose_method: asymptotic if both n > 8 or there are ties.
    method = "asymptotic" if (len(a) > 8 and len(b) > 8) or ties else "exact"
    forced = stats.mannwhitneyu(a, b, method=method)
    assert same_p(forced.pvalue, res.pvalue) and forced.statistic == res.statistic, name
    return {
        "name": name,
        "a": as_list(a),
        "b": as_list(b),
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "method": method,
    }


def mwu_cases():
    cases = [
        mwu_case("n1_n1_less", [1.0], [2.0]),
        mwu_case("n1_n1_greater", [3.0], [2.0]),
        mwu_case("n1_n2", [1.5], [0.5, 2.5]),
        mwu_case("n2_n1", [0.5, 2.5], [1.5]),
        mwu_case("n2_n3", [1.0, 4.0], [2.0, 3.0, 5.0]),
        mwu_case("n3_n3_separated", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
        mwu_case("n1_n8", [0.25], [1, 2, 3, 4, 5, 6, 7, 8]),
        mwu_case("all_tied", [5.0, 5.0], [5.0]),
        mwu_case("n1_n1_tied", [1.0], [1.0]),
        mwu_case("small_ties", [1.0, 2.0, 2.0], [2.0, 3.0]),
        mwu_case("small_ties_2", [1.0, 1.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0, 5.0]),
        mwu_case("diabetes_example", [19, 22, 16, 29, 24], [20, 11, 17, 12]),
        mwu_case("n8_n9_boundary_exact", normal(101, 8), normal(102, 9, 0.5)),
        mwu_case("n9_n9_asymptotic", normal(103, 9), normal(104, 9, 0.5)),
        mwu_case("n8_n8_exact", normal(105, 8), normal(106, 8, 1.0)),
        mwu_case("n8_n8_one_tie", [1, 2, 3, 4, 5, 6, 7, 8], [8, 9, 10, 11, 12, 13, 14, 15]),
        mwu_case("n5_n20_exact", normal(107, 5), normal(108, 20, 0.3)),
        mwu_case("n8_n40_exact", normal(109, 8, 1.0), normal(110, 40)),
        mwu_case("n3_n100_exact", normal(111, 3, 0.5, 6), normal(112, 100, 0.0, 6)),
        mwu_case("n2_n300_exact_tail", np.array([-3.1234, -2.9876]), normal(113, 300, 0.0, 6)),
        mwu_case("n600_n700_shift", normal(114, 600, 0.1), normal(115, 700)),
        mwu_case("n500_n800_heavy_ties", rng(116).integers(0, 5, 500), rng(117).integers(0, 6, 800)),
        mwu_case("n520_n530_separated", np.arange(520) * 0.5, 1000.0 + np.arange(530)),
        mwu_case("n550_n560_null", normal(118, 550), normal(119, 560)),
    ]
    for i in range(24):
        g = rng(1000 + i)
        n1 = int(g.integers(1, 40))
        n2 = int(g.integers(1, 40))
        decimals = int(g.integers(0, 3))
        a = np.round(g.normal(0.3 * (i % 3), 1.5, n1), decimals)
        b = np.round(g.normal(0.0, 1.5, n2), decimals)
        cases.append(mwu_case(f"sweep_{i}", a, b))
    return cases


# ------------------------------------------------------------------------------------------
# Wilcoxon signed-rank
# ------------------------------------------------------------------------------------------

def wilcoxon_case(name, x, y=None):
    x = np.asarray(x, dtype=float)
    d = x if y is None else x - np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample / zero switch warnings are expected
        res = stats.wilcoxon(x) if y is None else stats.wilcoxon(x, y)
        # scipy 1.10: exact when len(d) <= 50 (zeros included) and no zeros; ties are ignored.
        method = "exact" if len(d) <= 50 and not np.any(d == 0) else "asymptotic"
        forced_name = "exact" if method == "exact" else "approx"
        forced = stats.wilcoxon(x, method=forced_name) if y is None else stats.wilcoxon(x, y, method=forced_name)
    assert same_p(forced.pvalue, res.pvalue) and forced.statistic == res.statistic, name
    case = {
        "name": name,
        "x": as_list(x),
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "method": method,
    }
    if y is not None:
        case["y"] = as_list(y)
    return case


def wilcoxon_cases():
    cases = [
        wilcoxon_case("one_sample_n1_pos", [1.5]),
        wilcoxon_case("one_sample_n1_neg", [-2.0]),
        wilcoxon_case("one_sample_n2", [1.0, 2.0]),
        wilcoxon_case("one_sample_n2_mixed", [1.0, -2.0]),
        wilcoxon_case("one_sample_n3", [3.0, -1.0, 2.0]),
        wilcoxon_case("one_sample_center", [1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, 0.5]),
        wilcoxon_case("ties_exact_truncated", [1.0, -1.0, 2.0]),
        wilcoxon_case("ties_exact", [1.0, 1.0, -2.0, 3.0, 4.0]),
        wilcoxon_case("ties_exact_2", [2.0, -2.0, 2.0, -2.0, 3.0]),
        wilcoxon_case("all_equal_positive", [1.0] * 10),
        wilcoxon_case("zero_small", [0.0, 1.0, 2.0, 3.0]),
        wilcoxon_case("zeros_and_ties", [0.0, 0.0, 1.0, -1.0, 2.0]),
        wilcoxon_case("single_nonzero", [0.0, 0.0, 0.0, 4.0]),
        wilcoxon_case("paired_small", [10.0, 12.0, 9.0, 15.0, 11.0], [9.5, 12.5, 7.0, 12.0, 11.25]),
        wilcoxon_case("paired_with_zero", [10.0, 12.0, 9.0, 15.0, 11.0, 8.0], [9.0, 12.0, 7.0, 12.0, 11.5, 8.0]),
        wilcoxon_case("n50_exact_boundary", normal(201, 50, 0.3)),
        wilcoxon_case("n50_exact_strong", normal(202, 50, 2.5)),
        wilcoxon_case("n50_with_zero", np.concatenate([[0.0], normal(203, 49, 0.3)])),
        wilcoxon_case("n51_asymptotic", normal(204, 51, 0.3)),
        wilcoxon_case("n51_strong", normal(205, 51, 3.0)),
        wilcoxon_case("n600_paired_ties_zeros", normal(206, 600, 0.05, 1), normal(207, 600, 0.0, 1)),
        wilcoxon_case("n800_paired_shift", normal(208, 800, 0.5), normal(209, 800)),
        wilcoxon_case("n700_all_positive", np.abs(normal(210, 700)) + 0.001),
    ]
    for i in range(24):
        g = rng(2000 + i)
        n = int(g.integers(1, 70))
        decimals = int(g.integers(0, 3))
        a = np.round(g.normal(0.4 * (i % 3), 1.0, n), decimals)
        b = np.round(g.normal(0.0, 1.0, n), decimals)
        if np.all(a - b == 0):
            b = b + 1.0
        cases.append(wilcoxon_case(f"sweep_{i}", a, b))
    return cases


# ------------------------------------------------------------------------------------------
# Two-sample Kolmogorov-Smirnov
# ------------------------------------------------------------------------------------------

def ks_case(name, a, b, shared=None):
    """`a` may be the name of a sample in `shared` (keeps the large samples stored once)."""
    a_values = np.asarray(shared[a] if isinstance(a, str) else a, dtype=float)
    b = np.asarray(b, dtype=float)
    res = stats.ks_2samp(a_values, b)
    # scipy 1.10: 'exact' if max(n1, n2) <= 10000 (two-sided exact never falls back).
    method = "exact" if max(len(a_values), len(b)) <= 10000 else "asymptotic"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exact->asymp fallback would warn: fail loudly
        forced = stats.ks_2samp(a_values, b, method="exact" if method == "exact" else "asymp")
    assert same_p(forced.pvalue, res.pvalue) and forced.statistic == res.statistic, name
    return {
        "name": name,
        "a": a if isinstance(a, str) else as_list(a_values),
        "b": as_list(b),
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "method": method,
    }


def build_ks(shared):
    big = "ks_big_10001"
    shared[big] = rng(399).integers(0, 100000, 10001)
    specs = [
        ("n1_n1", [1.0], [2.0]),
        ("n1_n1_equal", [1.0], [1.0]),
        ("n2_n1", [1.0, 2.0], [3.0]),
        ("n3_n2", [1.0, 2.0, 3.0], [1.5, 2.5]),
        ("identical", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
        ("separated_5_7", [1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15, 16]),
        ("square_10", normal(301, 10), normal(302, 10, 1.0)),
        ("square_50", normal(303, 50), normal(304, 50, 0.5)),
        ("square_200_separated", normal(305, 200), normal(306, 200, 4.0)),
        ("n7_n13", normal(307, 7), normal(308, 13, 0.8)),
        ("n30_n45", normal(309, 30), normal(310, 45, 0.2)),
        ("n60_n90_ties", rng(311).integers(0, 8, 60), rng(312).integers(1, 9, 90)),
        ("n100_n1000", normal(313, 100), normal(314, 1000, 0.25)),
        ("n3_n10000_boundary", [0.5, 100.5, 700.5], rng(315).integers(0, 1000, 10000)),
        ("n700_n1300", normal(316, 700, 0.15), normal(317, 1300)),
        ("n2000_n2500_null", normal(318, 2000), normal(319, 2500)),
        ("asymp_10001_vs_40", big, rng(320).integers(0, 100000, 40)),
        ("asymp_10001_vs_40_shift", big, rng(321).integers(30000, 100000, 40)),
        ("asymp_10001_vs_150", big, rng(322).integers(5000, 100000, 150)),
        ("asymp_10001_vs_400", big, rng(323).integers(0, 100000, 400)),
        ("asymp_10001_vs_3000_shift", big, rng(324).integers(2000, 102000, 3000)),
        ("asymp_10001_vs_3_far", big, [200000.0, 300000.0, 400000.0]),
        ("asymp_10001_vs_2_inside", big, [50000.5, 50001.5]),
    ]
    return [ks_case(name, a, b, shared) for name, a, b in specs]


# ------------------------------------------------------------------------------------------
# McNemar (no scipy function: built from scipy.stats.binom and chi2)
# ------------------------------------------------------------------------------------------

def mcnemar_case(name, b, c, both_right, both_wrong):
    n = b + c
    if n < 25:
        method = "exact"
        statistic = float(min(b, c))
        p_value = float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))
    else:
        method = "asymptotic"
        statistic = float(max(abs(b - c) - 1, 0) ** 2 / n)
        p_value = float(stats.chi2.sf(statistic, 1))
    return {
        "name": name,
        "b": b,
        "c": c,
        "both_right": both_right,
        "both_wrong": both_wrong,
        "statistic": statistic,
        "p_value": p_value,
        "method": method,
    }


def mcnemar_cases():
    specs = [
        ("no_discordant", 0, 0, 5, 5),
        ("one_discordant", 1, 0, 3, 2),
        ("balanced_small", 3, 3, 10, 1),
        ("small", 5, 12, 40, 3),
        ("balanced_24", 12, 12, 0, 0),
        ("extreme_24", 0, 24, 7, 0),
        ("extreme_24_rev", 24, 0, 0, 9),
        ("chi2_25", 13, 12, 50, 10),
        ("chi2_25_rev", 12, 13, 50, 10),
        ("chi2_balanced", 30, 30, 5, 5),
        ("chi2_moderate", 20, 40, 300, 40),
        ("chi2_large", 300, 200, 4000, 500),
        ("chi2_close", 1000, 1100, 9000, 800),
        ("chi2_extreme", 5, 95, 100, 0),
        ("chi2_tiny_p", 0, 500, 10, 10),
    ]
    return [mcnemar_case(*spec) for spec in specs]


# ------------------------------------------------------------------------------------------
# Special functions, checked directly so a failure points at the function, not the test
# ------------------------------------------------------------------------------------------

def special_cases():
    z_values = [-8.0, -5.0, -1.0, -0.5, 0.0, 0.3, 0.7, 1.0, 1.959963984540054, 3.0, 5.0, 8.0, 10.0, 20.0, 30.0, 37.0]
    chi2_values = [0.0, 1e-10, 0.5, 1.0, 3.841458820694124, 10.0, 50.0, 100.0, 500.0, 1000.0, 1400.0]
    kstwo = []
    for n in [1, 2, 3, 5, 10, 20, 50, 100, 140, 141, 200, 500, 1000, 5000, 20000, 200000]:
        xs = [0.3 / n, 0.75 / n, 1.0 / n, 1.5 / n, 0.9 * (1.4 / n) ** (2.0 / 3.0),
              0.5 * math.sqrt(0.754693 / n), math.sqrt(0.754693 / n), math.sqrt(1.0 / n),
              math.sqrt(2.0 / n), math.sqrt(3.0 / n), math.sqrt(4.5 / n), math.sqrt(10.0 / n),
              math.sqrt(30.0 / n), math.sqrt(100.0 / n), 0.3, 0.45, 0.5, 0.6, 0.9, 1.0 - 1.0 / n]
        for x in sorted(set(xs)):
            if 0.0 < x < 1.0:
                kstwo.append([n, x, float(stats.kstwo.sf(x, n))])
    smirnov = []
    for n in [1, 2, 5, 10, 100, 1000, 1013, 5000]:
        for x in [0.5 / n, 1.0 / n, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.95, 1.0 - 0.5 / n]:
            if 0.0 < x < 1.0:
                smirnov.append([n, x, float(special.smirnov(n, x))])
    # Large n: long sums (terms raised to powers ~n) and scipy's approximation above 1e6.
    for n, x in [(200000, 0.002), (200000, 0.0224), (1000001, 0.001), (1000001, 0.002)]:
        smirnov.append([n, x, float(special.smirnov(n, x))])
    kstwobign = [[x, float(stats.kstwobign.sf(x))] for x in [0.01, 0.04, 0.05, 0.1, 0.3, 0.5, 0.82, 0.83, 1.0, 1.36, 2.0, 5.0, 10.0]]
    return {
        "chi2_sf_df1": [[x, float(stats.chi2.sf(x, 1))] for x in chi2_values],
        "kstwo_sf": kstwo,
        "kstwobign_sf": kstwobign,
        "norm_sf": [[z, float(stats.norm.sf(z))] for z in z_values],
        "smirnov_sf": smirnov,
    }


# ------------------------------------------------------------------------------------------

def dump(doc):
    """JSON with sorted keys and one case per line, so diffs stay readable."""
    compact = dict(separators=(",", ":"), sort_keys=True, allow_nan=False)
    lines = ["{"]
    keys = sorted(doc)
    for ki, key in enumerate(keys):
        value = doc[key]
        tail = "," if ki < len(keys) - 1 else ""
        if isinstance(value, list):
            lines.append(f"{json.dumps(key)}:[")
            lines.extend(json.dumps(item, **compact) + ("," if i < len(value) - 1 else "") for i, item in enumerate(value))
            lines.append("]" + tail)
        elif isinstance(value, dict):
            lines.append(f"{json.dumps(key)}:{{")
            sub = sorted(value)
            lines.extend(f"{json.dumps(k)}:{json.dumps(value[k], **compact)}" + ("," if i < len(sub) - 1 else "") for i, k in enumerate(sub))
            lines.append("}" + tail)
        else:
            lines.append(f"{json.dumps(key)}:{json.dumps(value, **compact)}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    shared = {}
    ks = build_ks(shared)
    doc = {
        "generator": "scripts/stats/scipy_reference.py",
        "scipy_version": scipy.__version__,
        "numpy_version": np.__version__,
        "mannwhitneyu": mwu_cases(),
        "wilcoxon": wilcoxon_cases(),
        "ks_2samp": ks,
        "mcnemar": mcnemar_cases(),
        "special": special_cases(),
        "shared_samples": {k: as_list(v) for k, v in shared.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(doc))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
