"""The verdict rule between two sets of runs, the run as the unit. Pure functions over numbers.

- >= 2 runs a side: a t interval of log(B/A) from the runs' own values (Welch on log run values;
  a paired t on the log ratios of rounds that ran side by side). No request is resampled: a
  run's value already carries its within-run noise, so resampling requests again counts it twice.
- One run on one side, >= 2 on the other: the single run against the other side's mean, with the
  other side's run-to-run spread standing for both (a t interval with n - 1 df).
- One run a side: drift between runs is not measured; no verdict unless asked for (`within_run`:
  the within-run bootstrap of bench.analysis.runsets, df infinite).
- Error rate: each run's error rate is one value (a crashed run is one event, not many failed
  requests), judged by an exact permutation test over the runs' rates.

Four outcomes by the interval (at level 1 - alpha, alpha already divided over the family) and a
margin m (min_effect_pct): regression / improvement when the interval excludes no change and the
point change is beyond m in the metric's bad / good direction; equivalent when the whole interval
lies inside +/- m; otherwise inconclusive, with the minimum detectable effect and the runs per
side that would resolve a change of m at the runs' observed spread.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from bench.analysis import stats
from bench.types import Sample

ALPHA = 0.05
POWER = 0.8
# Sets that did not alternate in time carry a drift between sessions no interval sees: their
# interval must clear +/- this much, not just 0 (a 2% drift then rarely passes; half the margin).
DRIFT_ALLOWANCE_PCT = 2.5
NO_DRIFT = "no verdict: 1 run per side, drift not measured"
NOT_JUDGED = "not judged"
RUNS_NEEDED_MAX = 100        # beyond this, "more than 100" runs per side
EXACT_MAX = 20000            # relabellings of runs enumerated exactly (8 + 8 runs: 12870)


def _q(p: float, df: float) -> float:
    return float(sps.t.ppf(p, df)) if np.isfinite(df) else float(sps.norm.ppf(p))


def log_t(pa: np.ndarray, pb: np.ndarray, paired: bool) -> tuple[float, float, float, float]:
    """(log ratio of the sets, its SE, df, pooled SD of one run's log value) from run values.
    Paired: pa[i] and pb[i] are one round. One run on a side: the other side's spread stands
    for both (SE = s x sqrt(1/n + 1), df = n - 1)."""
    la, lb = np.log(pa), np.log(pb)
    d = float(lb.mean() - la.mean())
    if paired:
        r = lb - la
        sd = float(r.std(ddof=1))
        return d, sd / math.sqrt(len(r)), len(r) - 1.0, sd / math.sqrt(2)
    if min(len(la), len(lb)) == 1:
        many = la if len(la) > 1 else lb
        sd = float(many.std(ddof=1))
        return d, sd * math.sqrt(1 / len(many) + 1), len(many) - 1.0, sd
    va, vb = la.var(ddof=1) / len(la), lb.var(ddof=1) / len(lb)
    den = va ** 2 / (len(la) - 1) + vb ** 2 / (len(lb) - 1)
    df = float((va + vb) ** 2 / den) if den > 0 else float(len(la) + len(lb) - 2)
    sd = float(math.sqrt((la.var(ddof=1) + lb.var(ddof=1)) / 2))
    return d, float(math.sqrt(va + vb)), df, sd


@lru_cache(maxsize=64)
def _mde_factors(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, (t_(1-a/2) + t_0.8) x sqrt(2/n)) for n = 2 .. RUNS_NEEDED_MAX runs a side, df 2n - 2."""
    n = np.arange(2, RUNS_NEEDED_MAX + 1)
    df = 2 * n - 2
    return n, (sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(POWER, df)) * np.sqrt(2 / n)


def runs_needed(sd_log: float | None, alpha: float, min_effect_pct: float) -> int | None:
    """Runs per side at which the MDE of an unpaired comparison reaches the margin, for runs
    whose log values spread by sd_log: the smallest n with (t_(1-a/2) + t_0.8) x sd x sqrt(2/n)
    <= log(1 + margin), df = 2n - 2 (RUNS_NEEDED_MAX + 1: more than that). None when there is
    no spread or margin to go by."""
    if sd_log is None or not np.isfinite(sd_log) or min_effect_pct <= 0:
        return None
    n, factor = _mde_factors(alpha)
    ok = np.flatnonzero(factor * sd_log <= math.log1p(min_effect_pct / 100))
    return int(n[ok[0]]) if len(ok) else RUNS_NEEDED_MAX + 1


def usable(pa: np.ndarray, pb: np.ndarray, paired: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """Run values a log interval can use (finite, > 0; a run that completed nothing has no
    latency or throughput and counts in error_rate only); a round loses both runs if one lacks."""
    ok_a, ok_b = np.isfinite(pa) & (pa > 0), np.isfinite(pb) & (pb > 0)
    if paired and len(pa) == len(pb):
        both = ok_a & ok_b
        if both.sum() >= 2:
            return pa[both], pb[both], True
    return pa[ok_a], pb[ok_b], False


def judge(base: stats.Change, va: np.ndarray, vb: np.ndarray, paired: bool, alpha: float,
          min_effect_pct: float, within_run: bool | None = None) -> stats.Change:
    """`base` (key, values, counts) judged from usable run values, >= 2 on at least one side."""
    d, se, df, sd = log_t(va, vb, paired)
    c = replace(base, change_pct=float(np.expm1(d) * 100), se=se, df=df, sd_log=sd, runs_paired=paired,
                runs_a=len(va), runs_b=len(vb),
                method="paired t on log ratios of rounds" if paired else
                "Welch t on log run values" if min(len(va), len(vb)) >= 2 else
                "t on log run values, one run against the other side's spread")
    return finalize(c, alpha, min_effect_pct, within_run)


def finalize(c: stats.Change, alpha: float, min_effect_pct: float, within_run: bool | None) -> stats.Change:
    """Interval, MDE, runs needed and verdict of a change at level 1 - alpha (the family's
    share: compare_family passes alpha / m for a family of m). Interval: exp(log(B/A) +/- t(df)
    x SE) - 1; MDE: exp((t_(1-a/2) + t_0.8) x SE) - 1, the change the interval separates from no
    change 80% of the time (a verdict also needs the point change beyond the margin)."""
    if c.key == "error_rate":
        return _error_verdict(c, alpha, within_run)
    if c.se is None or c.change_pct is None:
        return c
    q, q80 = _q(1 - alpha / 2, c.df), _q(POWER, c.df)
    centre = math.log1p(c.change_pct / 100)
    lo, hi = (np.exp(centre + np.array([-q, q]) * c.se) - 1) * 100
    mde = (math.exp((q + q80) * c.se) - 1) * 100
    one_run = min(c.runs_a, c.runs_b) < 2 and max(c.runs_a, c.runs_b) < 2
    v = NO_DRIFT if one_run and not within_run else \
        stats.verdict(c.change_pct, lo, hi, stats.higher_is_better(c.key), min_effect_pct, c.drift_allowance_pct)
    need = runs_needed(c.sd_log, alpha, min_effect_pct) if v == "inconclusive" else None
    return replace(c, ci_low_pct=float(lo), ci_high_pct=float(hi), mde_pct=float(mde), verdict=v,
                   ci_level=1 - alpha, runs_needed=need)


def not_judged(c: stats.Change, min_effect_pct: float, within_run: bool | None) -> stats.Change:
    """Outside the family: the marginal 95% interval shown, no verdict."""
    c = finalize(c, ALPHA, min_effect_pct, within_run)
    keep = c.verdict.startswith(("too few", "missing", "no CI", "no verdict"))
    return c if keep else replace(c, verdict=NOT_JUDGED, runs_needed=None)


# ---- error rate: one value per run ----------------------------------------------------------

def run_error_rates(runs: list[list[Sample]]) -> np.ndarray:
    """Each run's failed / sent requests (a run that sent nothing has none)."""
    return np.array([sum(not (s.ok and s.token_ns) for s in r) / len(r) for r in runs if r], float)


@lru_cache(maxsize=64)
def _labellings(n_a: int, n_b: int) -> np.ndarray:
    """(k, n_a + n_b) 0/1 rows: every way to call n_b of the runs "B" (exact below
    EXACT_MAX relabellings), else a seeded sample of them."""
    n = n_a + n_b
    if math.comb(n, n_b) <= EXACT_MAX:
        rows = np.zeros((math.comb(n, n_b), n), bool)
        for i, pick in enumerate(itertools.combinations(range(n), n_b)):
            rows[i, list(pick)] = True
        return rows
    rng = np.random.default_rng(0)
    return np.argsort(rng.random((EXACT_MAX, n)), axis=1) < n_b


def permutation_p(ra: np.ndarray, rb: np.ndarray) -> float:
    """Two-sided p of the difference of mean run error rates, over the relabellings of runs."""
    x = np.r_[ra, rb]
    if np.ptp(x) == 0:
        return 1.0
    lab = _labellings(len(ra), len(rb))
    diff = (lab @ x) / len(rb) - ((~lab) @ x) / len(ra)
    hits = int(np.sum(np.abs(diff) >= abs(rb.mean() - ra.mean()) - 1e-12))
    exact = math.comb(len(x), len(rb)) <= EXACT_MAX        # else the observed labelling counts once more
    return hits / len(lab) if exact else (hits + 1) / (len(lab) + 1)


def error_change(runs_a: list[list[Sample]], runs_b: list[list[Sample]]) -> stats.Change:
    """error_rate of B against A, a run's rate as its value; judged later by finalize."""
    return rates_change(run_error_rates(runs_a), run_error_rates(runs_b),
                        sum(map(len, runs_a)), sum(map(len, runs_b)))


def rates_change(ra: np.ndarray, rb: np.ndarray, na: int = 0, nb: int = 0) -> stats.Change:
    """error_rate from each run's rate (na, nb: requests over all runs, for the record)."""
    if not len(ra) or not len(rb):
        return stats.Change("error_rate", None, None, None, None, None, "missing on one side", na, nb,
                            runs_a=len(ra), runs_b=len(rb))
    a, b = float(ra.mean()), float(rb.mean())
    p = permutation_p(ra, rb) if min(len(ra), len(rb)) >= 2 else float("nan")
    note = (f"{int((ra > 0).sum())} of {len(ra)} vs {int((rb > 0).sum())} of {len(rb)} runs had errors "
            f"(mean run error rate {a:.1%} vs {b:.1%})" + (f", permutation p={p:.2g}" if p == p else ""))
    return stats.Change("error_rate", a, b, (b / a - 1) * 100 if a else None, None, None, "", na, nb,
                        runs_a=len(ra), runs_b=len(rb), p_value=p, note=note, method="permutation over runs")


def _error_verdict(c: stats.Change, alpha: float, within_run: bool | None) -> stats.Change:
    if c.a is None or c.b is None:
        return c
    if min(c.runs_a, c.runs_b) < 2:
        return replace(c, verdict=NO_DRIFT if not within_run else
                       "no verdict: error rate is judged over runs (>= 2 per side)")
    if c.p_value < alpha and c.a != c.b:
        return replace(c, verdict="regression" if c.b > c.a else "improvement", ci_level=1 - alpha)
    return replace(c, verdict="equivalent" if c.a == c.b else "inconclusive", ci_level=1 - alpha)
