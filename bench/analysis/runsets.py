"""Two sets of runs compared with the run as the unit (the rule: bench.analysis.verdicts).

A set's value of a metric is the mean over its runs of each run's own statistic (a run's p50
TTFT, a run's output tok/s), computed from its samples with the summary's definition. With >= 2
runs on a side the interval of a change comes from those run values alone (`compare` ->
verdicts.judge); `compare_family` judges a short family at a simultaneous 95% and shows the rest.

Within-run intervals (one run on a side, only when asked for): a seeded bootstrap of the requests
inside each run (tasks for task metrics; a request's gaps stay together; windows of time for
rates, bench.analysis.stats.time_windows), drawing the same request ids on both sides where every
run sent the same requests (a slow prompt is slow on both sides and cancels out of B/A); a side
of several runs also resamples its runs (two-stage). numpy throughout, vectorised, seeded.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from bench.analysis import stats
from bench.analysis.verdicts import (ALPHA, NO_DRIFT, NOT_JUDGED, error_change, finalize,  # noqa: F401
                                     judge, not_judged, usable)
from bench.metrics.sample_values import completed
from bench.types import Sample


@dataclass(frozen=True)
class Units:
    """What one run contributes to a key, one entry per unit, in `ids` order."""
    kind: str                    # scalar | pooled | ratio
    ids: tuple[str, ...]
    a: np.ndarray                # scalar: values (NaN = none); pooled: (n, width) NaN-padded; ratio: num
    b: np.ndarray | None = None  # ratio: den

    def reorder(self, order: list[str]) -> Units:
        pos = {u: i for i, u in enumerate(self.ids)}
        idx = np.array([pos[u] for u in order])
        return Units(self.kind, tuple(order), self.a[idx], None if self.b is None else self.b[idx])

    def count(self) -> int:
        """Units that carry a value (for the too-few-samples rule)."""
        if self.kind == "ratio":
            return len(self.ids)
        valid = ~np.isnan(self.a)
        return int(valid.any(axis=1).sum() if valid.ndim == 2 else valid.sum())


def _nan_stat(x: np.ndarray, stat: str) -> np.ndarray:
    """A statistic of each row ignoring NaN; percentiles as numpy's default linear method."""
    if stat == "mean":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(x, axis=1)
    xs = np.sort(x, axis=1)                          # NaN sorts last
    k = (~np.isnan(xs)).sum(axis=1)
    pos = float(stat[1:]) / 100 * np.maximum(k - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    rows = np.arange(len(xs))
    out = xs[rows, lo] + (pos - lo) * (xs[rows, hi] - xs[rows, lo])
    return np.where(k > 0, out, np.nan)


def units(key: str, samples: list[Sample], slo: dict | None) -> Units | None:
    """The per-unit data of `key` for one run (warm-up free samples); None if not computable."""
    found = stats.resampled(key)
    if found is None:
        return None
    m, _ = found
    ids = tuple(s.request_id for s in samples)
    if m.kind == "rate":
        part = stats._rate_completions(key, samples, slo)
        if part is None:
            return None
        num, den, first = stats.time_windows(*part)
        # a window's id: the run's first completion id in it plus the window count, so windows pair
        # across runs only where the runs completed the same requests in the same windows
        done = _completion_ids(key, samples)
        return Units("ratio", tuple(f"{done[i]}/{len(first)}" for i in first), num, den)
    if m.kind == "fraction":
        part = stats._units(key, samples, slo)
        return part and Units("ratio", ids, np.asarray(part[1], float), np.asarray(part[2], float))
    if m.kind == "task":
        tasks = stats._tasks(samples)
        if not tasks:
            return None
        vals = np.array([np.nan if v is None else v for v in map(m.per_task, tasks)], float)
        return Units("scalar", tuple(t[0].task_id for t in tasks), vals)
    ok = [completed(s) for s in samples]
    if m.kind == "scalar":
        vals = [m.per_sample(s) if good else None for s, good in zip(samples, ok)]
        return Units("scalar", ids, np.array([np.nan if v is None else v for v in vals], float))
    rows = [np.asarray(m.per_sample(s) if good else [], float) for s, good in zip(samples, ok)]
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        return None
    pad = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        pad[i, :len(r)] = r
    return Units("pooled", ids, pad)


def _completion_ids(key: str, samples: list[Sample]) -> list[str]:
    """Unit ids (requests, or tasks for task rates) in completion order."""
    if stats.METRICS[key].per_task is not None:
        tasks = stats._tasks(samples)
        order, _ = stats._completion_gaps([min(s.sent_ns for s in t) for t in tasks],
                                          [max(s.end_ns for s in t) for t in tasks])
        return [tasks[i][0].task_id for i in order]
    order, _ = stats._completion_gaps([s.sent_ns for s in samples], [s.end_ns for s in samples])
    return [samples[i].request_id for i in order]


def of(u: Units, key: str, idx: np.ndarray) -> np.ndarray:
    """The run's statistic for each row of an index matrix (B, n) over its units."""
    if u.kind == "ratio":
        return u.a[idx].sum(axis=1) / np.maximum(u.b[idx].sum(axis=1), 1e-12)
    stat = stats._STAT.match(key)["stat"]
    x = u.a[idx]
    return _nan_stat(x.reshape(len(idx), -1), stat)


def point(u: Units, key: str) -> float:
    return float(of(u, key, np.arange(len(u.ids))[None, :])[0])


@dataclass(frozen=True)
class SetBoot:
    points: np.ndarray           # each run's own value
    boot: np.ndarray             # (B,) the set's value per two-stage replicate
    within_se: np.ndarray        # each run's within-run bootstrap SE
    n_units: int                 # units with a value, summed over runs

    @property
    def value(self) -> float:
        return float(np.nanmean(self.points))


def _paired_ids(all_units: list[Units]) -> list[str] | None:
    first = sorted(all_units[0].ids)
    same = all(len(u.ids) == len(first) and sorted(u.ids) == first for u in all_units[1:])
    return first if same and len(set(first)) == len(first) else None


def _inner(units_: list[Units], key: str, rng: np.random.Generator, n_boot: int,
           shared: np.ndarray | None) -> np.ndarray:
    """(runs, B): each run's statistic under stage-2 resamples (shared ids when paired)."""
    return np.stack([of(u, key, shared if shared is not None else rng.integers(0, len(u.ids), (n_boot, len(u.ids))))
                     for u in units_])


def _outer(inner: np.ndarray, rng: np.random.Generator, paired: bool, pick: np.ndarray | None = None) -> np.ndarray:
    """Stage 1: draw runs with replacement (`pick`, shared by both sides when runs are paired by
    repetition). Unpaired requests: the j-th draw reads the inner replicates in its own random
    order, so a run drawn twice in one replicate gets two different stage-2 draws; paired,
    replicate b reads column b everywhere (the one id draw of that replicate)."""
    r, n_boot = inner.shape
    pick = rng.integers(0, r, (n_boot, r)) if pick is None else pick
    cols = (np.repeat(np.arange(n_boot)[:, None], r, axis=1) if paired
            else np.stack([rng.permutation(n_boot) for _ in range(r)], axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(inner[pick, cols], axis=1)


def two_stage(key: str, runs_a: list[list[Sample]], runs_b: list[list[Sample]], slo_a: dict | None,
              slo_b: dict | None, n_boot: int = stats.N_BOOT, seed: int = 0, pair_runs: bool = False):
    """(SetBoot A, SetBoot B, requests paired, runs paired) or None when a side lacks the key.
    pair_runs: run i of A and run i of B were made side by side (the same repetition of an
    interleaved A B A B design), so stage 1 draws them together and their shared drift cancels."""
    ua = [u for u in (units(key, r, slo_a) for r in runs_a) if u is not None]
    ub = [u for u in (units(key, r, slo_b) for r in runs_b) if u is not None]
    if not ua or not ub:
        return None
    pair_runs = pair_runs and len(ua) == len(runs_a) == len(ub) == len(runs_b) >= 2
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ua), (n_boot, len(ua))) if pair_runs else None
    order = _paired_ids(ua + ub)
    shared = None
    if order is not None:
        ua, ub = [u.reorder(order) for u in ua], [u.reorder(order) for u in ub]
        shared = rng.integers(0, len(order), (n_boot, len(order)))
    out = []
    for us in (ua, ub):
        inner = _inner(us, key, rng, n_boot, shared)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            se = np.nanstd(inner, axis=1, ddof=1)
        out.append(SetBoot(np.array([point(u, key) for u in us]), _outer(inner, rng, shared is not None, pick), se,
                           sum(u.count() for u in us)))
    return out[0], out[1], order is not None, pair_runs


def cv_pct(x: np.ndarray) -> float | None:
    """Between-run coefficient of variation, in percent (None below two runs)."""
    x = x[~np.isnan(x)]
    if len(x) < 2 or x.mean() == 0:
        return None
    return float(x.std(ddof=1) / abs(x.mean()) * 100)


def within_pct(s: SetBoot) -> float | None:
    """Mean within-run relative standard error, in percent (what one run's own CI reflects)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = s.within_se / np.abs(s.points)
    rel = rel[np.isfinite(rel)]
    return float(rel.mean() * 100) if len(rel) else None


def run_values(key: str, runs: list[list[Sample]], slo: dict | None) -> tuple[np.ndarray, int]:
    """Each run's own value of `key` (NaN where the run has none: no completed request), and
    the units with a value over all runs."""
    us = [units(key, r, slo) for r in runs]
    vals = np.array([point(u, key) if u is not None else np.nan for u in us], float)
    return vals, sum(u.count() for u in us if u is not None)


def compare(key: str, runs_a: list[list[Sample]], runs_b: list[list[Sample]], slo_a: dict | None = None,
            slo_b: dict | None = None, min_effect_pct: float = stats.MIN_EFFECT_PCT,
            n_boot: int = stats.N_BOOT, seed: int = 0, within_run: bool | None = None,
            pair_runs: bool = False, alpha: float = ALPHA, drift_allowance_pct: float = 0.0) -> stats.Change | None:
    """B against A for one key, the run as the unit (bench.analysis.verdicts), judged at level
    1 - alpha; None when neither side has it. pair_runs: run i of A and run i of B are one round
    (they ran side by side; bench.analysis.rounds decides it from metadata). drift_allowance_pct:
    the sets did not alternate in time, so a verdict's interval must clear +/- this, not just 0."""
    if key == "error_rate":
        return finalize(error_change(runs_a, runs_b), alpha, min_effect_pct, within_run)
    if stats.resampled(key) is None:
        return None
    pa, n_a = run_values(key, runs_a, slo_a)
    pb, n_b = run_values(key, runs_b, slo_b)
    has_a, has_b = bool(np.isfinite(pa).any()), bool(np.isfinite(pb).any())
    if not (has_a or has_b):
        return None
    if not (has_a and has_b):
        return stats.Change(key, None, None, None, None, None, "missing on one side")
    va, vb, paired = usable(pa, pb, pair_runs)
    lost = (len(pa) - len(va)) + (len(pb) - len(vb))
    note = f"{lost} run(s) without a value left out" if lost else ""
    base = stats.Change(key, float(np.nanmean(pa)), float(np.nanmean(pb)), None, None, None, "", n_a, n_b,
                        runs_a=len(va), runs_b=len(vb), runs_paired=paired, cv_a_pct=cv_pct(va),
                        cv_b_pct=cv_pct(vb), note=note, drift_allowance_pct=drift_allowance_pct)
    if not len(va) or not len(vb):
        return replace(base, verdict="no CI (no positive run value)")
    per_run = min(n_a / max(len(runs_a), 1), n_b / max(len(runs_b), 1))
    if per_run < stats.min_units(key):
        return replace(base, change_pct=(base.b / base.a - 1) * 100 if base.a else None,
                       verdict=f"too few samples (n={per_run:.0f} per run, need {stats.min_units(key)})")
    if min(len(va), len(vb)) >= 2 or (max(len(va), len(vb)) >= 2 and not within_run):
        return judge(base, va, vb, paired, alpha, min_effect_pct, within_run)
    return _within_run(key, runs_a, runs_b, slo_a, slo_b, base, min_effect_pct, n_boot, seed, within_run, alpha)


def _within_run(key, runs_a, runs_b, slo_a, slo_b, base: stats.Change, min_effect_pct: float, n_boot: int,
                seed: int, within_run: bool | None, alpha: float) -> stats.Change:
    """One run on a side and within_run asked for: the within-run bootstrap (requests; windows of
    time for rates; a side of several runs also resamples its runs). It holds no drift of the
    single run, so finalize gives one run a side a verdict only when asked for."""
    pick_a = [r for r in runs_a if np.isfinite(run_values(key, [r], slo_a)[0][0])]
    pick_b = [r for r in runs_b if np.isfinite(run_values(key, [r], slo_b)[0][0])]
    a, b, paired, _ = two_stage(key, pick_a, pick_b, slo_a, slo_b, n_boot, seed)
    c = replace(base, paired=paired, within_a_pct=within_pct(a), within_b_pct=within_pct(b),
                method="within-run bootstrap" + (" (paired request ids)" if paired else ""))
    if not np.isfinite(a.value) or a.value == 0:
        return replace(c, verdict="no CI (baseline is 0)")
    ok = np.isfinite(a.boot) & np.isfinite(b.boot) & (a.boot > 0) & (b.boot > 0)
    se = float(np.std(np.log(b.boot[ok] / a.boot[ok]), ddof=1)) if ok.sum() > 1 else None
    c = replace(c, change_pct=(b.value / a.value - 1) * 100, se=se, df=float("inf"))
    return finalize(c, alpha, min_effect_pct, within_run)


def compare_family(keys: tuple[str, ...], runs_a: list[list[Sample]], runs_b: list[list[Sample]],
                   slo_a: dict | None, slo_b: dict | None, family: tuple[str, ...],
                   min_effect_pct: float = stats.MIN_EFFECT_PCT, within_run: bool | None = None,
                   pair_runs: bool = False, seed: int = 0,
                   drift_allowance_pct: float = 0.0) -> dict[str, stats.Change | None]:
    """Every key of `keys` compared; those in `family` judged together at a simultaneous 95%
    (Bonferroni: each at 0.05 / m for the m family keys present), the others shown with their
    marginal 95% interval and "not judged"."""
    judged = [k for k in keys if k in family]
    alpha_each = ALPHA / max(1, len(judged))
    out = {}
    for key in keys:
        if key in family:
            out[key] = compare(key, runs_a, runs_b, slo_a, slo_b, min_effect_pct, seed=seed,
                               within_run=within_run, pair_runs=pair_runs, alpha=alpha_each,
                               drift_allowance_pct=drift_allowance_pct)
        else:
            c = compare(key, runs_a, runs_b, slo_a, slo_b, min_effect_pct, seed=seed, within_run=within_run,
                        pair_runs=pair_runs, drift_allowance_pct=drift_allowance_pct)
            out[key] = c and not_judged(c, min_effect_pct, within_run)
    return out
