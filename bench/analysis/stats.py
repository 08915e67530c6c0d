"""The units of one run a bootstrap resamples, one run's own interval, and the verdict rule.

A run's interval (`interval`) is a seeded percentile bootstrap over *units* (requests, or tasks
for task metrics) of that run, so it reflects the spread inside it; run-to-run drift of the
machine is not in it. Runs are compared with the run as the unit by bench.analysis.runsets.compare
(the one comparison; its rule is bench.analysis.verdicts); this module gives it the per-run units,
the within-run bootstrap and the verdict outcomes. What a key's metric is, and so how it is
resampled, is bench.metrics.definitions.

- Latency statistics (`ttft_ms_p99`, `e2e_ms_mean`, ...): resample requests with replacement and
  recompute the statistic with the same definition as the summary (numpy linear percentiles).
  Pooled per-token metrics (`itl_ms`, `chunk_gap_ms`) resample whole requests and pool their gaps
  (a cluster bootstrap: gaps inside one request are not independent).
- Rates (`request_s`, `output_tok_s`, `total_tok_s`, `goodput_request_s`, `tasks_s`): the run's
  duration is cut at each completion into gaps (first send -> first completion, then completion ->
  next completion), so the gaps sum to the duration, and consecutive completions are merged into
  windows of time (`time_windows`: >= 2 x the mean number in flight, >= sqrt(n) completions),
  because completions are not independent (a closed loop finishes in waves). Resampling windows
  gives rate* = sum(count*) / sum(seconds*), a ratio estimator: a block bootstrap over time.
- Fractions (`error_rate`, `slo_attainment`): the mean of a 0/1 indicator over requests.

Verdict on the interval of a change B / A - 1 (`verdict`): "regression" or "improvement" (by the
metric's direction) when the interval excludes no change and the point change is beyond
+/- `min_effect_pct` (default 5%); "equivalent" when the whole interval lies inside +/- it;
otherwise "inconclusive". A percentile gets no verdict ("too few samples") unless the runs have
at least two units beyond it (n >= 2 / (1 - q): 20 for p90, 200 for p99); below that the
bootstrap of a tail is meaningless."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from bench.metrics import sample_values as sv
from bench.metrics.core import meets_slo
from bench.metrics.definitions import STAT_KEY as _STAT
from bench.metrics.definitions import HEADLINE_KEYS, METRICS, Metric, metric_for, resampled
from bench.types import Sample

N_BOOT = 2000
CI_LEVEL = 0.95
MIN_EFFECT_PCT = 5.0
DEFAULT_KEYS = HEADLINE_KEYS     # what a comparison judges when no keys are named


def higher_is_better(key: str) -> bool | None:
    m = metric_for(key)
    return m.higher_is_better if m is not None else None


def _tasks(samples: list[Sample]) -> list[list[Sample]]:
    tasks: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        if s.task_id is not None:
            tasks[s.task_id].append(s)
    return list(tasks.values())


def task_latency_ms(samples: list[Sample]) -> list[float]:
    """Per task: first send of the task to its last token (tasks with a failed call excluded)."""
    return [v for ss in _tasks(samples) if (v := sv.task_latency_ms(ss)) is not None]


@dataclass(frozen=True)
class Resampler:
    """A statistic of one sample set: its point value and a function of bootstrap indices."""
    n: int                                          # units to resample
    point: float
    of: Callable[[np.ndarray], np.ndarray]          # (B, n) index matrix -> (B,) statistics


def _reduce(stat: str, x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x.mean(axis=axis) if stat == "mean" else np.percentile(x, float(stat[1:]), axis=axis)


def _scalar(values: list[float], stat: str) -> Resampler | None:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) < 2:
        return None
    return Resampler(len(v), float(_reduce(stat, v)), lambda idx: _reduce(stat, v[idx], axis=1))


def _pooled(per_unit: list[np.ndarray], stat: str) -> Resampler | None:
    arrs = [a for a in per_unit if len(a)]
    if len(arrs) < 2:
        return None
    return Resampler(len(arrs), float(_reduce(stat, np.concatenate(arrs))),
                     lambda idx: np.array([_reduce(stat, np.concatenate([arrs[i] for i in row])) for row in idx]))


def _ratio(num: np.ndarray, den: np.ndarray) -> Resampler | None:
    if len(num) < 2 or den.sum() <= 0:
        return None
    return Resampler(len(num), float(num.sum() / den.sum()),
                     lambda idx: num[idx].sum(axis=1) / np.maximum(den[idx].sum(axis=1), 1e-12))


def _completion_gaps(starts_ns: list[int], ends_ns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Units sorted by completion, and the gap (s) before each; the gaps sum to the duration."""
    order = np.argsort(ends_ns, kind="stable")
    ends = np.asarray(ends_ns, dtype=np.int64)[order]
    gaps = np.diff(np.concatenate([[min(starts_ns)], ends])) / 1e9
    return order, gaps


def _counts(m: Metric, samples: list[Sample], slo: dict | None) -> np.ndarray:
    """What each request adds to the numerator of rate or fraction `m`."""
    if not m.needs_slo:
        return np.array([m.per_sample(s) for s in samples])
    return np.array([float(bool(m.per_sample(s)) and meets_slo(s, slo)) for s in samples])


def time_windows(num: np.ndarray, gaps_s: np.ndarray, busy_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive completions merged into windows of time: (count, seconds) per window and the
    first completion of each. Completions are not independent (a closed loop at concurrency c
    finishes in waves of c; a slow stretch slows many), so a rate's bootstrap resamples windows
    of >= 2 x the mean number in flight (busy / duration, Little's law) and >= sqrt(n) completions."""
    n = len(num)
    in_flight = busy_s / max(float(gaps_s.sum()), 1e-12)
    size = max(math.ceil(math.sqrt(n)), math.ceil(2 * in_flight), 1)
    k = max(n // size, min(n, 2))        # two windows at least, so a short run still has an interval
    starts = np.linspace(0, n, k + 1).round().astype(int)[:-1]
    return np.add.reduceat(num, starts), np.add.reduceat(gaps_s, starts), starts


def _rate_units(key: str, samples: list[Sample], slo: dict | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(count, seconds) per window of time of one run, for rate `key` (time_windows)."""
    part = _rate_completions(key, samples, slo)
    return part and time_windows(*part)[:2]


def _rate_completions(key: str, samples: list[Sample], slo: dict | None):
    """(count, gap_s, busy_s) per completion of one run, in completion order."""
    m = METRICS[key]
    if m.per_task is not None:
        units = _tasks(samples)
        if not units:
            return None
        starts, ends = [min(s.sent_ns for s in u) for u in units], [max(s.end_ns for s in u) for u in units]
        order, gaps = _completion_gaps(starts, ends)
        return np.array([m.per_task(units[i]) for i in order], float), gaps, _busy_s(starts, ends)
    if not samples:
        return None
    starts, ends = [s.sent_ns for s in samples], [s.end_ns for s in samples]
    order, gaps = _completion_gaps(starts, ends)
    if m.needs_slo and (not slo or all(v is None for v in slo.values())):
        return None
    return np.asarray(_counts(m, [samples[i] for i in order], slo), float), gaps, _busy_s(starts, ends)


def _busy_s(starts_ns: list[int], ends_ns: list[int]) -> float:
    return float(sum(e - s for s, e in zip(starts_ns, ends_ns))) / 1e9


def _units(key: str, samples: list[Sample], slo: dict | None):
    """What one run contributes to `key`: ("ratio", num, den), ("scalar", values) or
    ("pooled", [per-request arrays]); None when this key cannot be computed from samples."""
    found = resampled(key)
    if found is None:
        return None
    m, _ = found
    if m.kind == "rate":
        r = _rate_units(key, samples, slo)
        return r and ("ratio", *r)
    if m.kind == "fraction":
        if m.needs_slo and (not slo or all(v is None for v in slo.values())):
            return None
        return "ratio", _counts(m, samples, slo), np.ones(len(samples))
    if m.kind == "task":
        return "scalar", [v for ss in _tasks(samples) if (v := m.per_task(ss)) is not None]
    ok = [s for s in samples if sv.completed(s)]
    if m.kind == "scalar":
        return "scalar", [m.per_sample(s) for s in ok]
    return "pooled", [np.asarray(m.per_sample(s), dtype=float) for s in ok]


def resampler(key: str, samples: list[Sample] | list[list[Sample]], slo: dict | None = None) -> Resampler | None:
    """How to bootstrap summary key `key` from the (warm-up free) samples of one run, or of
    several runs pooled (a list of lists: units are pooled, rates keep each run's own gaps)."""
    runs = samples if samples and isinstance(samples[0], list) else [samples]
    parts = [p for p in (_units(key, list(r), slo) for r in runs) if p is not None]
    if not parts:
        return None
    kind = parts[0][0]
    if kind == "ratio":
        return _ratio(np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    stat = _STAT.match(key)["stat"]
    if kind == "scalar":
        return _scalar([v for p in parts for v in p[1]], stat)
    return _pooled([a for p in parts for a in p[1]], stat)


def bootstrap(r: Resampler, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return r.of(rng.integers(0, r.n, size=(n_boot, r.n)))


@dataclass(frozen=True)
class Change:
    key: str
    a: float | None
    b: float | None
    change_pct: float | None       # 100 * (b / a - 1)
    ci_low_pct: float | None       # CI of the change, in percent
    ci_high_pct: float | None
    verdict: str                   # regression | improvement | equivalent | inconclusive | not judged | ...
    n_a: int = 0                   # units (requests or tasks) with a value, over all runs
    n_b: int = 0
    runs_a: int = 1
    runs_b: int = 1
    paired: bool = False           # stage 2 drew request ids jointly for both sides
    runs_paired: bool = False      # run i of A and run i of B are one round (same suite and repetition)
    mde_pct: float | None = None   # minimum detectable effect: exp((t_(1-a/2) + t_0.8) * SE) - 1
    cv_a_pct: float | None = None  # between-run coefficient of variation of each side
    cv_b_pct: float | None = None
    within_a_pct: float | None = None   # mean within-run relative SE of each side
    within_b_pct: float | None = None
    p_value: float | None = None   # error_rate: permutation test over the runs' rates
    note: str = ""
    se: float | None = None        # SE of the change (of log(B/A) when log_scale), runs as the unit
    df: float | None = None        # t degrees of freedom (Welch; pairs - 1; inf: within-run)
    log_scale: bool = True
    ci_level: float | None = None  # the level of the interval shown (simultaneous: 1 - 0.05 / m)
    runs_needed: int | None = None  # inconclusive: runs per side whose MDE reaches the margin
    sd_log: float | None = None    # run-to-run SD of log run values (pooled over sides; ~ CV)
    drift_allowance_pct: float = 0.0  # sets not interleaved in time: the interval must clear +/- this
    method: str = ""               # how the interval was made (welch | paired | ... | within-run bootstrap)


def min_units(key: str) -> int:
    """Units needed before a percentile's bootstrap means anything: at least two observations
    beyond it (p90: 20, p99: 200). With fewer, the p99 of a run is its maximum and resampling
    the maximum gives intervals far too narrow, so any two runs would differ "significantly"."""
    m = _STAT.match(key)
    if not m or not m["stat"].startswith("p"):
        return 2
    q_pct = int(m["stat"][1:])
    return max(2, -(-200 // (100 - q_pct))) if q_pct < 100 else 2   # ceil(2 / (1 - q)), exact


def verdict(change_pct: float, lo: float, hi: float, higher_better: bool | None,
            min_effect_pct: float = MIN_EFFECT_PCT, allowance_pct: float = 0.0) -> str:
    """regression / improvement when the interval [lo, hi] of a change (percent) excludes no
    change (or +/- allowance_pct: an unseen drift between sessions) and the point change is
    beyond the margin, by the metric's direction; equivalent when the whole interval lies inside
    +/- margin; otherwise inconclusive."""
    if higher_better is None:
        return "no direction"
    if (lo > allowance_pct or hi < -allowance_pct) and abs(change_pct) > min_effect_pct:
        return "improvement" if (change_pct > 0) == higher_better else "regression"
    if lo > -min_effect_pct and hi < min_effect_pct:
        return "equivalent"
    return "inconclusive"


def interval(key: str, samples: list[Sample], slo: dict | None = None, n_boot: int = 1000,
             seed: int = 0) -> tuple[float, float, float] | None:
    """(point, low, high) of one statistic of one run; None when it cannot be resampled."""
    r = resampler(key, samples, slo)
    if r is None:
        return None
    boot = bootstrap(r, n_boot, seed)
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.nanpercentile(boot, [100 * alpha, 100 * (1 - alpha)])
    return r.point, float(lo), float(hi)
