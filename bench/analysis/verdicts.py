"""Intervals, minimum detectable effects and verdicts from a two-stage bootstrap's replicates
(bench.analysis.runsets), and the exact test of error rates. Pure functions over numbers."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from scipy import stats as sps

from bench.analysis import stats
from bench.types import Sample

ALPHA = 0.05
NO_DRIFT = "no verdict: 1 run per side, drift not measured"


def error_test(runs_a: list[list[Sample]], runs_b: list[list[Sample]]) -> tuple[int, int, int, int, float]:
    """(errors A, requests A, errors B, requests B, two-sided p of Fisher's exact test). Exact,
    so a baseline of zero errors is judged like any other (no normal approximation)."""
    ea = sum(not (s.ok and s.token_ns) for r in runs_a for s in r)
    eb = sum(not (s.ok and s.token_ns) for r in runs_b for s in r)
    na, nb = sum(map(len, runs_a)), sum(map(len, runs_b))
    if na == 0 or nb == 0:
        return ea, na, eb, nb, float("nan")
    p = float(sps.fisher_exact([[ea, na - ea], [eb, nb - eb]])[1])
    return ea, na, eb, nb, p


def _verdict_gate(n_runs_a: int, n_runs_b: int, within_run: bool | None) -> str | None:
    """Why no regression/improvement verdict may be printed, or None when one may."""
    if within_run or (n_runs_a >= 2 and n_runs_b >= 2):
        return None
    return NO_DRIFT


def _error_change(runs_a, runs_b, within_run) -> stats.Change:
    ea, na, eb, nb, p = error_test(runs_a, runs_b)
    ra, rb = (ea / na if na else None), (eb / nb if nb else None)
    change = None if not ra or rb is None else (rb / ra - 1) * 100
    c = stats.Change("error_rate", ra, rb, change, None, None,
                     "" if ra is not None and rb is not None else "missing on one side", na, nb,
                     runs_a=len(runs_a), runs_b=len(runs_b), p_value=p,
                     note=f"{ea}/{na} vs {eb}/{nb} failed, Fisher exact p={p:.2g}")
    return finalize(c, ALPHA, 0.0, within_run)


def _boot_se(a: np.ndarray, b: np.ndarray, n_runs: int) -> tuple[float, bool]:
    """SE of the change from the two-stage replicates: of log(B/A) when all are positive (ratios
    are skewed), else of B/A. The bootstrap variance of a mean of n runs is (n-1)/n of the
    real one; with 5 runs that would narrow every interval by 11%, so it is scaled back."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    log_scale = bool(len(a) and (a > 0).all() and (b > 0).all())
    d = np.log(b / a) if log_scale else b / np.where(a == 0, np.nan, a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = float(np.nanstd(d, ddof=1))
    return se * (np.sqrt(n_runs / (n_runs - 1)) if n_runs >= 2 else 1.0), log_scale


def _welch_df(pa: np.ndarray, pb: np.ndarray, paired: bool = False) -> float:
    """Welch-Satterthwaite degrees of freedom of the difference of two means of run values (on
    the log scale; pairs of runs: n - 1); infinite (a normal quantile) with one run per side."""
    if min(len(pa), len(pb)) < 2:
        return float("inf")
    if paired:
        return float(len(pa) - 1)
    if (pa <= 0).any() or (pb <= 0).any():
        return float("inf")
    va, vb = np.var(np.log(pa), ddof=1) / len(pa), np.var(np.log(pb), ddof=1) / len(pb)
    den = va ** 2 / (len(pa) - 1) + vb ** 2 / (len(pb) - 1)
    return float((va + vb) ** 2 / den) if den > 0 else float("inf")


def finalize(c: stats.Change, alpha: float, min_effect_pct: float, within_run: bool | None) -> stats.Change:
    """Interval, MDE and verdict of a change at level 1 - alpha (compare_sets passes alpha / m
    for m verdicts: simultaneous intervals). Interval: center +/- t_(df, 1-alpha/2) x SE (on the
    log scale when it applies), t because few runs estimate the between-run spread."""
    gate = _verdict_gate(c.runs_a, c.runs_b, within_run)
    if c.key == "error_rate":
        if c.p_value is None or c.verdict.startswith("missing") or gate:
            return _with(c, verdict=gate or c.verdict)
        if c.p_value < alpha and c.a != c.b:
            return _with(c, verdict="regression" if c.b > c.a else "improvement", ci_level=1 - alpha)
        return _with(c, verdict="no significant change", ci_level=1 - alpha)
    if c.se is None or c.change_pct is None:
        return c
    q = float(sps.t.ppf(1 - alpha / 2, c.df)) if np.isfinite(c.df) else float(sps.norm.ppf(1 - alpha / 2))
    q80 = float(sps.t.ppf(0.8, c.df)) if np.isfinite(c.df) else float(sps.norm.ppf(0.8))
    r = 1 + c.change_pct / 100
    if c.log_scale:
        lo, hi = (np.exp(np.log(r) + np.array([-q, q]) * c.se) - 1) * 100
        mde = ((1 + min_effect_pct / 100) * np.exp((q + q80) * c.se) - 1) * 100
    else:
        lo, hi = np.maximum((r - 1 + np.array([-q, q]) * c.se) * 100, -100.0)   # a ratio is >= 0
        mde = min_effect_pct + (q + q80) * c.se * 100
    v = gate or stats.verdict(c.change_pct, lo, hi, stats.higher_is_better(c.key), min_effect_pct)
    return _with(c, ci_low_pct=float(lo), ci_high_pct=float(hi), mde_pct=float(mde), verdict=v, ci_level=1 - alpha)


def _with(c: stats.Change, **kw) -> stats.Change:
    return replace(c, **kw)
