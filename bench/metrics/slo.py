"""Pure decisions of the capacity search about one probe (docs/capacity.md): which units meet the
SLO, whether the probe met it (batch means at fixed looks), whether it is past saturation (its
backlog: bench.metrics.saturation). Which load to probe or confirm next is
bench.metrics.search_steps.

A unit is a request, or a whole task for workloads whose sessions are tasks. For an open loop (a
probe with a schedule) a unit's latency runs from its scheduled time, so a send the client made
late counts against the SLO (no coordinated omission), and a unit due inside the probe's send
window that never completed (never sent, cut off, failed) is a miss.

A probe's verdict looks at its units twice at most (at `min_duration_s` and at its end), never
before each start: the chance of a false "met" is spent once per look (LOOK_ALPHA_SHARE). At each
look the first share of the window (the warm-up: the queue fills) is dropped and the attainment
is bounded by batch means over consecutive batches of units, which stays valid when neighbouring
latencies are correlated (a queue), and never tighter than a Wilson bound (independent units).
scripts/sim_capacity.py shows the rate of false "met" calls on a simulated queue.
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.stats import norm, rankdata, t as student_t

from bench.metrics.core import meets_slo
from bench.metrics.definitions import METRICS
from bench.metrics.sample_values import completed
from bench.metrics.saturation import NOISE_Z, Backlog, backlog, past_saturation
from bench.types import Sample

# The first share of a probe's send window (at least one median latency: the time the system
# takes to fill) is its warm-up and is not judged.
WARMUP_SHARE = 0.2
WARMUP_MAX_SHARE = 0.5
BATCHES = 6                   # consecutive batches of units for the batch-means bound
MIN_BATCHES = 3               # fewer units than this cannot be called met or missed
LOOK_ALPHA_SHARE = (0.25, 0.75)   # of the false-"met" rate, spent at the interim look and at the end
CONFIRM_SERVED_SHARE = 0.95   # a confirmation must serve at least this share of the load it was offered
DRIFT_LATENCY = 2.0           # second half's median latency over the first's: not stationary
DRIFT_ATTAINMENT = 0.1        # second half's attainment this far below the first's (beyond noise)
# Units this far within every threshold count alike for correlation: what moves the attainment is
# how units near the thresholds cluster, not a drift among ones far inside them. At 0.1 a vLLM
# server's probe at 98.8% (336 requests) weighed as 22 units and could not show 90% met, so the
# search reported 12/s where a minute at 15.6/s held 100%; at 0.5 the reported load stays within
# the false-verdict budget in every simulated queue (scripts/sim_capacity.py).
PRESSURE_FLOOR = 0.5


# ---- units ---------------------------------------------------------------------------------

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


def from_scheduled(s: Sample) -> Sample:
    """The sample as if sent when it was due: TTFT, E2E and task latency then run from the
    scheduled time (TPOT and ITL do not change). For an open loop's SLO."""
    return dataclasses.replace(s, sent_ns=min(s.scheduled_ns, s.sent_ns))


def attainment(samples: Iterable[Sample], thresholds: dict[str, float], tasks: bool) -> tuple[int, int]:
    """(units meeting every SLO, units) over the measured samples."""
    units: dict[str, list[Sample]] = {}
    for s in samples:
        if not s.warmup:
            units.setdefault(unit_key(s, tasks), []).append(s)
    return sum(unit_meets(u, thresholds) for u in units.values()), len(units)


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit as a probe's verdict sees it."""
    start_ns: int            # when it was due (open loop) or first sent (closed loop)
    end_ns: int | None       # when it left the system; None: still in flight, or never sent
    ok: bool                 # every call succeeded
    good: bool | None        # met every threshold; None: not finished yet (at an interim look)
    pressure: float          # worst value / threshold (inf: failed or not finished)
    latency_ns: int | None   # start to end, for a finished unit


def units_of(samples: Iterable[Sample], thresholds: dict[str, float], tasks: bool, scheduled: bool,
             finished: set[str] | None = None) -> list[Unit]:
    """The measured samples as units. `scheduled`: latency from the scheduled time (open loop).
    `finished`: the unit keys whose session has ended (an interim look; None: all have)."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        if not s.warmup:
            groups.setdefault(unit_key(s, tasks), []).append(from_scheduled(s) if scheduled else s)
    out = []
    for key, ss in groups.items():
        start = min(s.sent_ns for s in ss)
        done = finished is None or key in finished
        end = max(s.end_ns for s in ss) if done else None
        ok = all(completed(s) for s in ss)
        good = unit_meets(ss, thresholds) if done else None
        p = unit_pressure(ss, thresholds) if done else None
        out.append(Unit(start, end, ok, good, math.inf if p is None else p,
                        None if end is None else end - start))
    return sorted(out, key=lambda u: u.start_ns)


def missing_units(schedule_ns: Sequence[int], units: list[Unit], end_ns: int) -> list[Unit]:
    """The units due before `end_ns` on the schedule that no sample stands for (never sent, or
    cut off before their first call returned): each a miss, still in flight."""
    seen = Counter(u.start_ns for u in units)
    out = []
    for due in schedule_ns:
        if due >= end_ns:
            break
        if seen[due] > 0:
            seen[due] -= 1
        else:
            out.append(Unit(int(due), None, False, False, math.inf, None))
    return out


def warmup_end_ns(units: list[Unit], t0_ns: int, end_ns: int) -> int:
    """Where the judged part of a send window starts: WARMUP_SHARE of it, or one median latency
    of its finished units if longer (the queue is still filling until then), at most half."""
    lat = [u.latency_ns for u in units if u.latency_ns is not None and u.ok]
    span = end_ns - t0_ns
    cut = max(WARMUP_SHARE * span, float(np.median(lat)) if lat else 0.0)
    return t0_ns + int(min(cut, WARMUP_MAX_SHARE * span))


# ---- the attainment bound ------------------------------------------------------------------

def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n (well-behaved near 0 and 1, unlike Wald)."""
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def effective_share(values: Sequence[float]) -> float:
    """n_eff / n of a series of SLO pressures in time order: 1 / (1 + 2 sum of its
    autocorrelations), summed in pairs while a pair is positive (Geyer's initial positive
    sequence), over the ranks of the pressures clipped to [PRESSURE_FLOOR, inf] (a failed unit,
    inf, is just the worst; units far within the SLO tie, so a drift among them, which cannot
    move the attainment, is no correlation). A queue's neighbouring latencies are correlated, so
    n units weigh as fewer independent ones."""
    x = np.maximum(np.asarray(values, dtype=float), PRESSURE_FLOOR)
    n = len(x)
    if n < 4:
        return 1.0
    r = rankdata(x)
    r = r - r.mean()
    var = float((r * r).sum())
    if var <= 0:
        return 1.0
    acf = np.correlate(r, r, mode="full")[n - 1:] / var      # lag 0 .. n-1
    tau = 1.0                                                # tau = 1 + 2 (rho_1 + rho_2) + ...
    lags = 0
    for k in range(2, n, 2):
        pair = float(acf[k - 1] + acf[k])
        if pair <= 0:
            break
        tau += 2 * pair
        lags = k
    # Each estimated autocorrelation is low by about tau / n (the series' own mean is subtracted,
    # and that mean carries the correlation too), so a short series of a slow queue reads as
    # nearly independent; undo it over the lags summed: tau_hat ~ tau (1 - 2 lags / n).
    shrink = 1.0 - 2.0 * lags / n
    if shrink <= 1.0 / n:
        return 1.0 / n
    return max(1.0 / n, min(1.0, shrink / tau))


def batch_bounds(good: Sequence[bool], alpha: float, values: Sequence[float] | None = None,
                 batches: int = BATCHES) -> tuple[float, float, int]:
    """(low, high): one-sided bounds, each wrong with probability alpha, of the attainment of the
    units in `good` (in time order), and the number of batches. Batch means: the units split into
    consecutive batches, a t bound on the mean of the batches' attainments (neighbours may be
    correlated, batches far less); never tighter than the Wilson bound of all units pooled, at
    the effective number of units when `values` (each unit's SLO pressure) show correlation
    longer than a batch can hold."""
    x = np.asarray(good, dtype=float)
    n = len(x)
    if n < MIN_BATCHES:
        return 0.0, 1.0, 0
    means = np.array([b.mean() for b in np.array_split(x, min(batches, n))])
    b = len(means)
    half = float(student_t.ppf(1 - alpha, b - 1)) * float(means.std(ddof=1)) / math.sqrt(b)
    n_eff = n * (effective_share(values) if values is not None else 1.0)
    p = float(x.mean())
    w_lo, w_hi = wilson(p * n_eff, n_eff, 1 - 2 * alpha)
    m = float(means.mean())
    return max(0.0, min(m - half, w_lo)), min(1.0, max(m + half, w_hi)), b


@dataclass(frozen=True, slots=True)
class Verdict:
    """A probe's verdict at one look."""
    call: str | None       # "met", "missed", or None (not decided: at the end, the SLO is not shown met)
    why: str               # what decided it: attainment, drift, saturated, too_few
    units: int             # judged units (due in the window after its warm-up)
    good: int
    low: float             # bounds on the attainment (pending units as misses / as hits)
    high: float
    batches: int
    stationary: bool
    effective_units: float   # units x their effective share (slo.effective_share)

    @property
    def attainment(self) -> float:
        return self.good / self.units if self.units else 0.0


def stationary(units: list[Unit]) -> bool:
    """False when the second half of the judged units (in time) is much worse than the first:
    its attainment lower beyond noise (at the effective number of units), or its median latency
    DRIFT_LATENCY times the first's while it misses the SLO's pressure (median pressure > 1)."""
    if len(units) < 2 * MIN_BATCHES:
        return True
    h1, h2 = units[:len(units) // 2], units[len(units) // 2:]
    a1, a2 = (np.mean([bool(u.good) for u in h]) for h in (h1, h2))
    p = (a1 * len(h1) + a2 * len(h2)) / len(units)
    # within each half: a shift between the halves would itself read as a long correlation
    eff = min(effective_share([u.pressure for u in h]) for h in (h1, h2))
    noise = NOISE_Z * math.sqrt(max(p * (1 - p), 0.0) * (1 / len(h1) + 1 / len(h2)) / eff)
    if a2 < a1 - max(DRIFT_ATTAINMENT, noise):
        return False
    l1, l2 = ([u.latency_ns for u in h if u.latency_ns is not None] for h in (h1, h2))
    if l1 and l2 and len(l2) >= len(h2) // 2 and np.median([u.pressure for u in h2]) > 1:
        return float(np.median(l2)) <= DRIFT_LATENCY * float(np.median(l1))
    return True


def look_alpha(alpha: float, final: bool) -> float:
    """The false-"met" rate one look may spend (the two looks' shares add up to alpha)."""
    return alpha * LOOK_ALPHA_SHARE[1 if final else 0]


def judge(units: list[Unit], from_ns: int, to_ns: int, target: float, alpha: float, final: bool,
          met_allowed: bool = True) -> Verdict:
    """The verdict on the units due in [from_ns, to_ns) (in time order). At an interim look a
    unit not finished yet counts as a miss for "met" and as a hit for "missed", so neither call
    leans on the units still out; at the end (`final`) it is a miss. Met: the lower bound is at
    the target; missed: the upper bound is below it, or the second half drifted away."""
    judged = [u for u in units if from_ns <= u.start_ns < to_ns]
    a = look_alpha(alpha, final)
    pessimistic = [bool(u.good) for u in judged]
    optimistic = [u.good is not False for u in judged]
    values = [u.pressure for u in judged]
    low, _, b = batch_bounds(pessimistic, a, values)
    _, high, _ = batch_bounds(optimistic, a, values)
    steady = stationary(judged)
    args = (len(judged), sum(pessimistic), low, high, b, steady, len(judged) * effective_share(values))
    if b == 0:
        return Verdict(None, "too_few", *args)
    if high < target:
        return Verdict("missed", "attainment", *args)
    if not steady and (final or all(u.good is not None for u in judged)):
        return Verdict("missed", "drift", *args)
    if met_allowed and low >= target and steady:
        return Verdict("met", "attainment", *args)
    return Verdict(None, "attainment", *args)


def units_needed(target: float, alpha: float) -> int:
    """The fewest units that can show the target met at the end, every one of them good
    (Wilson's lower bound of n / n at the final look's share of alpha reaches the target)."""
    z = float(norm.ppf(1 - look_alpha(alpha, True)))
    return max(MIN_BATCHES, math.ceil(z * z * target / (1 - target)))


# ---- a probe's two looks ---------------------------------------------------------------------

def interim_call(units: list[Unit], t0_ns: int, now_ns: int, target: float, alpha: float, open_loop: bool,
                 met_allowed: bool = True) -> str | None:
    """The look at `min_duration_s` into a probe (units: so far, unfinished ones with good=None):
    'met', 'missed', 'saturated' (an open loop's backlog) or None to run to the end. Judged: the
    units due after the warm-up and at least a 90th-percentile latency before now (most are
    back; those still out count against either call)."""
    lat = [u.latency_ns for u in units if u.latency_ns is not None]
    cut = now_ns - int(np.percentile(lat, 90)) if lat else t0_ns
    start = warmup_end_ns(units, t0_ns, now_ns)
    if open_loop and past_saturation(backlog(units, start, now_ns)):
        return "saturated"
    return judge(units, start, cut, target, alpha, final=False, met_allowed=met_allowed).call


def final_verdict(units: list[Unit], t0_ns: int, end_ns: int, target: float, alpha: float
                  ) -> tuple[Verdict, Backlog]:
    """The look at a probe's end (units: all, every one finished or a miss), over its send
    window [t0, end) less the warm-up: the verdict, and the window's backlog."""
    start = warmup_end_ns(units, t0_ns, end_ns)
    return judge(units, start, end_ns, target, alpha, final=True), backlog(units, start, end_ns)


def probe_met(interim: str | None, final: Verdict, saturated_: bool) -> bool:
    """A probe met the SLO: called met at its interim look, or at its end with no interim call,
    and not past saturation."""
    if saturated_ or interim in ("missed", "saturated"):
        return False
    return interim == "met" or final.call == "met"


def probe_missed(interim: str | None, final: Verdict, saturated_: bool) -> bool:
    """A probe was shown to miss the SLO: called missed (at its interim look or its end), or past
    saturation. A probe neither met nor missed was `unsure`: not shown met, not shown missed."""
    return saturated_ or interim in ("missed", "saturated") or final.call == "missed"


def confirmation_held(final: Verdict, saturated_: bool, achieved: float, target: float) -> bool:
    """A confirmation run held its load: over its stated length it met the SLO (its measured
    attainment at the target, not shown missed, stationary, at least MIN_BATCHES of units),
    served at least CONFIRM_SERVED_SHARE of its offer, and was not past saturation.

    Why a measured attainment and not a lower bound at the target: the search's probe there was
    already shown to meet the SLO with the search's confidence (probe_met); the confirmation is
    the second, independent look a user would take, a steady run of a stated length that does
    what the SLO says. Asking it for a second bound as well made a load whose true attainment sits
    a little above the target fail most confirmations on a CPU whose stalls correlate hundreds of
    requests (16 effective units in 486), while the pair of looks is wrong as rarely as the
    probe alone allows (scripts/sim_capacity.py prints both)."""
    return (not saturated_ and final.batches > 0 and final.call != "missed" and final.stationary
            and final.attainment >= target and achieved >= CONFIRM_SERVED_SHARE)
