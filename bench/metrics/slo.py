"""Pure decisions of the capacity search: which units meet the SLO, when a load point has been
measured enough to call (a Wilson bound on its attainment, in the spirit of MLPerf's early
stopping), and which load to probe next (raise to saturation, then bisect).

A unit is a request, or a whole task for workloads whose sessions are tasks. A point meets the
SLO when the share of its units meeting every threshold (its attainment) is >= the target
(percentile / 100): with one threshold that is "the percentile of that metric <= threshold".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable

from scipy.stats import norm   # the normal quantile of the bound's confidence

from bench.metrics.core import meets_slo
from bench.metrics.definitions import METRICS
from bench.metrics.sample_values import completed
from bench.types import Sample

# Over-saturation (as GuideLLM stops on it): load went up but throughput barely did while the
# latency at the percentile climbed; or an open loop completes far fewer units than it offers.
SATURATED_GROWTH = 0.1
SATURATED_LATENCY = 1.5
SATURATED_RATE_SHARE = 0.7
SATURATED_MIN_UNITS = 30     # fewer units make a point's throughput too noisy to call saturation on


def unit_meets(samples: list[Sample], thresholds: dict[str, float]) -> bool:
    """A unit (a request, or every call of a task) meets the SLO when each call succeeded and met
    the request thresholds, and the task met its own (task_latency_ms: first send to last token)."""
    if not samples or not all(completed(s) for s in samples):
        return False
    if not all(meets_slo(s, thresholds) for s in samples):
        return False
    return all(m.slo.task(samples) <= limit for k, limit in thresholds.items() if limit is not None
               and (m := METRICS.get(k)) is not None and m.slo is not None and m.slo.task is not None)


def unit_value(samples: list[Sample], key: str) -> float | None:
    """A unit's value of one SLO metric: its worst call for request metrics, or its task latency."""
    ok = [s for s in samples if completed(s)]
    if not ok or len(ok) < len(samples):
        return None
    return METRICS[key].slo.unit(ok)


def unit_pressure(samples: list[Sample], thresholds: dict[str, float]) -> float | None:
    """The worst value / threshold over a unit's SLO metrics (> 1: it misses); None if it failed."""
    vals = [(unit_value(samples, k), v) for k, v in thresholds.items()]
    return None if any(x is None for x, _ in vals) else max(x / v for x, v in vals)


def unit_key(sample: Sample, tasks: bool) -> str:
    return (sample.task_id or sample.request_id) if tasks else sample.request_id


def attainment(samples: Iterable[Sample], thresholds: dict[str, float], tasks: bool) -> tuple[int, int]:
    """(units meeting every SLO, units) over the measured samples."""
    units: dict[str, list[Sample]] = {}
    for s in samples:
        if not s.warmup:
            units.setdefault(unit_key(s, tasks), []).append(s)
    return sum(unit_meets(u, thresholds) for u in units.values()), len(units)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n (well-behaved near 0 and 1, unlike Wald)."""
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def quantile_ci(sorted_values: list[float], q: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """(low, estimate, high) of the q-quantile: order statistics at the binomial ranks
    n q -/+ z sqrt(n q (1 - q)) (distribution-free, as for a percentile's interval in MLPerf)."""
    n = len(sorted_values)
    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(n * q * (1 - q))
    at = lambda r: sorted_values[min(max(int(r), 0), n - 1)]   # noqa: E731
    return at(math.floor(n * q - half) - 1), at(math.ceil(n * q) - 1), at(math.ceil(n * q + half) - 1)


def point_verdict(k: int, n: int, target: float, elapsed_s: float, min_duration_s: float, min_units: int,
                  confidence: float, rel_precision: float, pressures: list[float] | None = None) -> str | None:
    """Why a load point may stop now, or None to keep measuring: 'met' / 'missed' when the Wilson
    bound of the attainment k/n lies wholly above / below the target; 'precise' when the SLO
    pressure at the percentile (sorted `pressures`, worst value / threshold per unit, inf for a
    failed unit) is known within +/- rel_precision of itself though its interval straddles 1."""
    if elapsed_s < min_duration_s or n < min_units:
        return None
    lo, hi = wilson(k, n, confidence)
    if lo >= target:
        return "met"
    if hi < target:
        return "missed"
    if pressures:
        p_lo, p, p_hi = quantile_ci(pressures, target, confidence)
        if math.isfinite(p_hi) and (p_hi - p_lo) / 2 <= rel_precision * p:
            return "precise"
    return None


@dataclass(frozen=True, slots=True)
class Probe:
    load: float
    slo_met: bool
    attainment: float
    units_s: float               # completed units (requests or tasks) per second
    pressure: float | None       # SLO pressure at the percentile (unit_pressure; saturation test)


def saturated(probes: list[Probe], cur: Probe, per_second: bool) -> bool:
    """Past saturation: more load than the nearest lower probe no longer buys throughput, only
    latency (SLO pressure at the percentile: the thresholds scale it, so it works for any SLO).
    `per_second`: the load is units per second, so served units/s can be held against it."""
    prev = max((p for p in probes if p.load < cur.load), key=lambda p: p.load, default=None)
    if per_second and cur.units_s < SATURATED_RATE_SHARE * cur.load:
        return True
    if prev is None or prev.pressure is None or cur.pressure is None:
        return False
    # throughput grew by less than a tenth of what the extra load would give if it scaled
    growth = 1 + SATURATED_GROWTH * (cur.load / prev.load - 1)
    return (cur.units_s < growth * prev.units_s
            and cur.pressure > SATURATED_LATENCY * max(prev.pressure, 1e-9))


def bracket(probes: list[Probe]) -> tuple[Probe | None, Probe | None]:
    """(last good, first bad): the highest load meeting the SLO below the lowest load missing it."""
    bad = min((p for p in probes if not p.slo_met), key=lambda p: p.load, default=None)
    goods = [p for p in probes if p.slo_met and (bad is None or p.load < bad.load)]
    return max(goods, key=lambda p: p.load, default=None), bad


def next_load(probes: list[Probe], low: float, high: float, growth: float, precision_pct: float,
              integer: bool) -> float | None:
    """The next load to probe, or None when the search is done: from `low` multiply by `growth`
    until a point misses (or `high` is met), then bisect [last good, first bad] until it is
    within precision_pct (or one apart, for whole-number loads)."""
    if not probes:
        return low
    good, bad = bracket(probes)
    if bad is None:
        top = max(p.load for p in probes)
        if top >= high:
            return None
        nxt = min(top * growth, high)
        return float(max(math.ceil(nxt), top + 1)) if integer else nxt
    if good is None:
        return None                            # even the lowest load misses
    if integer and bad.load - good.load <= 1:
        return None
    if bad.load / good.load - 1 <= precision_pct / 100:
        return None
    mid = (good.load + bad.load) / 2
    return float(round(mid)) if integer else mid


def estimate(good: Probe | None, bad: Probe | None, target: float) -> tuple[float | None, float, float | None]:
    """(capacity, ci_low, ci_high): the load where attainment crosses the target, linearly between
    the bracketing points' attainments, inside [last good, first bad]. None when no load met it."""
    if good is None:
        return None, 0.0, bad.load if bad else None
    if bad is None:
        return good.load, good.load, None       # every probe met: a lower bound
    span = good.attainment - bad.attainment
    if bad.attainment >= target:                # bad for saturation or a failed run, not attainment
        return good.load, good.load, bad.load
    t = (good.attainment - target) / span if span > 0 else 0.0
    return good.load + min(max(t, 0.0), 1.0) * (bad.load - good.load), good.load, bad.load
