"""The capacity search's steps, from its probes' outcomes (each probe judged by
bench.metrics.slo): a closed loop past saturation, the bracket [last good, first bad], the next
load to probe, where an inconclusive load sends the search, which side of the bracket is
missing, and the next load to confirm. Pure functions over `Probe`s."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Closed loops (no schedule): load went up but throughput barely did while the latency at the
# percentile climbed (as GuideLLM stops on it).
SATURATED_GROWTH = 0.1
SATURATED_LATENCY = 1.5
SATURATED_MIN_UNITS = 30     # fewer units make a point's throughput too noisy to call saturation on


@dataclass(frozen=True, slots=True)
class Probe:
    load: float
    slo_met: bool
    attainment: float
    units_s: float               # completed units (requests or tasks) per second
    pressure: float | None       # SLO pressure at the percentile (unit_pressure; saturation test)
    # False for a probe not met but not shown missed either (unsure: too few effective units, or
    # an interval around the target): not a capacity, so it can be the bracket's upper side,
    # said as "not shown met"
    shown: bool = True


def saturated(probes: list[Probe], cur: Probe) -> bool:
    """A closed loop past saturation: more load than the nearest lower probe no longer buys
    throughput, only latency (SLO pressure at the percentile: the thresholds scale it)."""
    prev = max((p for p in probes if p.load < cur.load), key=lambda p: p.load, default=None)
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
    """The next load to probe, or None when the bracket is found: from `low` multiply by `growth`
    up to `high` until a point misses, then bisect [last good, first bad] until it is within
    precision_pct (or one apart, for whole-number loads). A range that holds no crossing is
    left: while every probe meets, above `high` by `growth`; while none does, below the lowest
    by `growth` (whole-number loads stop at 1). The caller's time cap ends either."""
    if not probes:
        return low
    good, bad = bracket(probes)
    if bad is None:
        top = max(p.load for p in probes)
        nxt = min(top * growth, high) if top < high else top * growth
        return float(max(math.ceil(nxt), top + 1)) if integer else nxt
    if good is None:
        nxt = bad.load / growth
        if integer:
            return None if bad.load <= 1 else float(min(math.floor(nxt), bad.load - 1)) or 1.0
        return nxt
    if integer and bad.load - good.load <= 1:
        return None
    if bad.load / good.load - 1 <= precision_pct / 100:
        return None
    mid = (good.load + bad.load) / 2
    return float(round(mid)) if integer else mid


def past_inconclusive(load: float, inconclusive: dict[float, float], probes: list[Probe], target: float,
                      growth: float, integer: bool) -> float | None:
    """Where to go when the search comes back to a load whose probe held too few units to call
    (`inconclusive`: load -> the attainment it saw): a probe at a higher load sends more units
    in the same time, so one that looked good moves the search up (by `growth`, below any load
    that missed), or, with no room above, halfway down to the last good load (or, with none, one
    `growth` step down), or, with neither untried, halfway up to the load that missed; None when
    it looked bad, or no untried load is left (the search stops)."""
    if inconclusive[load] < target:
        return None
    _, bad = bracket(probes)
    up = float(max(math.ceil(load * growth), load + 1)) if integer else load * growth
    while up in inconclusive:
        up = float(max(math.ceil(up * growth), up + 1)) if integer else up * growth
    tried = {p.load for p in probes}
    if (bad is None or up < bad.load) and up not in tried:
        return up
    # no room above: halfway down to the last good load, a point that can still tighten the bracket;
    # with none below, one `growth` step down (less queueing: its units are less correlated, so
    # fewer of them can show the SLO met; whole-number loads stop at 1)
    good, _ = bracket(probes)
    if good is None:
        down = float(max(math.floor(load / growth), 1)) if integer else load / growth
        if down < load and down not in tried and down not in inconclusive:
            return down
        return _below_the_miss(load, bad, tried, inconclusive, integer)
    down = float(round((good.load + load) / 2)) if integer else (good.load + load) / 2
    if good.load < down < load and down not in tried and down not in inconclusive:
        return down
    return _below_the_miss(load, bad, tried, inconclusive, integer)


def _below_the_miss(load: float, bad: Probe | None, tried: set[float], inconclusive: dict[float, float],
                    integer: bool) -> float | None:
    """Nothing left below: halfway up to the load that missed. It sends more units than `load`
    and has not missed, so it can still show a side (make bench's agent search, 8 and 16 sessions
    too few units, 32 missed, stopped with no lower side where 24 was untried)."""
    if bad is None:
        return None
    mid = float(round((load + bad.load) / 2)) if integer else (load + bad.load) / 2
    return mid if load < mid < bad.load and mid not in tried and mid not in inconclusive else None


def missing_side(probes: list[Probe], integer: bool) -> str | None:
    """Which side of the bracket the probes lack: 'high' (every probe met), 'low' (none did;
    None for whole-number loads once 1 missed: no lower load exists), or None."""
    good, bad = bracket(probes)
    if not probes:
        return "both"
    if bad is None:
        return "high"
    if good is None and not (integer and bad.load <= 1):
        return "low"
    return None


def confirm_next(tried: list[tuple[float, bool]], last_good: float, precision_pct: float,
                 integer: bool) -> float | None:
    """The next load to confirm: the last good load first; after it failed, half a precision step
    below it (a probe there was shown to meet the SLO, so the edge is likely just below: a whole
    step would report a load that 1.3x of still holds), then whole precision steps (whole-number
    loads: at least one less each time); None once one held or no lower load is left."""
    if not tried:
        return last_good
    load, ok = tried[-1]
    if ok:
        return None
    step = precision_pct / 2 if len(tried) == 1 else precision_pct
    nxt = load / (1 + step / 100)
    if integer:
        nxt = float(min(math.floor(nxt), load - 1))
        return nxt if nxt >= 1 else None
    return nxt
