"""A capacity probe's backlog (docs/capacity.md): what its send window served of what it offered,
whether it is past saturation (its in flight grew beyond Little's law, or it served too little),
and the load it really served. Pure functions over the probe's units (bench.metrics.slo.Unit);
a drain after the window is not throughput."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.metrics.slo import Unit

SERVED_SHARE = 0.95           # an open loop that serves less than this of its offer is past saturation
NOISE_Z = 2.0                 # how many standard deviations of Little's-law noise a backlog must exceed


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a probe's send window [from, to) served of what it offered (open loop: units due in
    it; closed loop: units started in it). Completions after `to` (the drain) do not count."""
    window_s: float
    offered: int               # units due (or started) in the window
    served: int                # units finished well (every call succeeded) in the window
    in_flight_start: int
    in_flight_end: int
    little: float              # rate x mean latency: the in flight a steady system holds
    in_flight_sd: float        # standard deviation of the in flight over the window
    served_share: float        # completion rate / arrival rate over the window (least squares)
    mean_in_flight: float      # time average over the window (a closed loop's sustained load)

    @property
    def achieved_units_s(self) -> float:
        return self.served / self.window_s if self.window_s > 0 else 0.0

    @property
    def noise(self) -> float:
        """The noise of the in-flight difference between the window's ends: two draws of the in
        flight, of its spread over the window, at least Poisson(little) (M/G/infinity)."""
        return NOISE_Z * math.sqrt(2) * max(self.in_flight_sd, math.sqrt(self.little + 1))


def _rate(times_s: np.ndarray, grid_s: np.ndarray) -> float:
    """Least-squares slope of the cumulative count of `times_s` over the grid (events per s)."""
    counts = np.searchsorted(np.sort(times_s), grid_s, side="right")
    return float(np.polyfit(grid_s, counts, 1)[0]) if len(grid_s) > 1 else 0.0


def backlog(units: list[Unit], from_ns: int, to_ns: int) -> Backlog:
    """The backlog of a send window, from every unit (those due before it too: they are in flight
    at its start). Still-running and never-sent units are in flight until the end."""
    span_s = max(to_ns - from_ns, 1) / 1e9
    start = np.array([u.start_ns for u in units], dtype=float)
    end = np.array([math.inf if u.end_ns is None else u.end_ns for u in units], dtype=float)
    ok = np.array([u.ok for u in units], dtype=bool)
    inside = (start >= from_ns) & (start < to_ns)
    offered = int(inside.sum())
    served_mask = ok & (end >= from_ns) & (end < to_ns)

    def flight(t: float) -> int:
        return int(((start <= t) & (end > t)).sum())
    grid = np.linspace(from_ns, to_ns, 41)
    flights = np.array([flight(t) for t in grid])
    lat = [u.latency_ns / 1e9 for u in units if u.latency_ns is not None and u.ok and from_ns <= u.start_ns < to_ns]
    little = offered / span_s * (float(np.mean(lat)) if lat else 0.0)
    grid_s = (grid - from_ns) / 1e9
    arr = _rate((start[inside] - from_ns) / 1e9, grid_s)
    done = _rate((end[served_mask] - from_ns) / 1e9, grid_s)
    share = done / arr if arr > 0 else (1.0 if offered == 0 else 0.0)
    return Backlog(span_s, offered, int(served_mask.sum()), flight(from_ns), flight(to_ns - 1), little,
                   float(flights.std()), min(share, 1.5), float(flights.mean()))


def past_saturation(b: Backlog) -> bool:
    """An open loop's probe is past saturation when, over its send window, it served less than
    SERVED_SHARE of what was offered, or its in flight grew well beyond Little's law (rate x
    latency), by more than the count noise either way."""
    deficit = b.offered - b.served
    if b.served_share < SERVED_SHARE and deficit > max((1 - SERVED_SHARE) * b.offered, b.noise):
        return True
    growth = b.in_flight_end - b.in_flight_start
    return growth > b.noise and b.in_flight_end > 2 * b.little + b.noise


def achieved_share(b: Backlog, offered_load: float, per_second: bool) -> float:
    """The load a probe really served over its offer: completions per second in the send window
    against the rate due in it (open loop), or the time-averaged in flight against C."""
    if per_second:
        return b.achieved_units_s / (b.offered / b.window_s) if b.offered else 0.0
    return b.mean_in_flight / offered_load if offered_load else 0.0
