"""Capacity at SLO: the search loop (`load.kind: capacity`, bench.load.capacity). Each probe is a
normal run (bench.run.run_one) of the kind the search names, built by that kind, on the engine
already started; the decisions are pure (bench.metrics.slo). In order: an unloaded measurement
when an SLO threshold is relative (it fixes the absolute thresholds), the search's probes until
the bracket [last good, first bad] is found (or the time cap, less the confirmation's reserve),
then confirmation runs of `search.confirm_s` from the last good load down until one holds
(slo.confirmation_held). The probes' stop check is bench.run.capacity_watch.

The search's own file, results/<search id>.capacity.json, written only here, is the authority on
the search: it is rewritten after every probe, so an interrupted or time-capped search leaves
every probe on disk and a file that says how it stopped. Each probe's run.json carries
`capacity_probe` (its marks, final when the run finishes) and `capacity_file`.
"""
from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import registry
from bench.config import RunSpec, SLOSpec
from bench.metrics import search_steps as steps
from bench.metrics import saturation, slo
from bench.results.capacity_file import SCHEMA, search_row
from bench.results.files import atomic_write_json, new_run_id
from bench.results.run import Run
from bench.run.capacity_watch import Watch
from bench.run.driver import now_ns
from bench.run.engines import Engine
from bench.run.progress import Progress
from bench.run.run_one import run_one
from bench.types import Sample

# The drive of a point ends this share of the remaining time into it, so the sessions still in
# flight can drain before the hard cap (which cancels them) falls.
DRAIN_SHARE = 0.85
# The probes leave time for this many confirmations: one at the last good load, and one step
# down should it fail (each confirmation leaves the next one its time, when there is room).
CONFIRMATIONS_KEPT = 2
# A probe with fewer units than a verdict needs at max_duration_s runs on, up to this many times
# it, until it has them (a low load in a short probe could not show the SLO met).
EXTEND = 4.0
UNITS_MARGIN = 1.25     # effective units wanted over the fewest a verdict needs (a miss or two)
def percentile_stats(units: list[slo.Unit], samples: list[Sample], thresholds: dict[str, float], pct: float,
                     tasks: bool, scheduled: bool) -> tuple[dict[str, float], float | None]:
    """Each threshold's per-unit value (worst call, or task latency; from the due time for an
    open loop) at the SLO percentile, named `slo_<key>_p<pct>_per_unit` (not the summary's
    `<key>_p<pct>`: a different quantity), and the units' SLO pressure at it."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(slo.unit_key(s, tasks), []).append(slo.from_scheduled(s) if scheduled else s)
    vals = {k: [v for u in groups.values() if (v := slo.unit_value(u, k)) is not None] for k in thresholds}
    out = {f"slo_{k}_p{pct:g}_per_unit": float(np.percentile(v, pct)) for k, v in vals.items() if v}
    pressure = [u.pressure for u in units]
    if not pressure:
        return out, None
    # A unit that failed or did not finish has pressure inf; numpy interpolates between two of
    # them as inf - inf = nan (with a RuntimeWarning). Between two infs the percentile is inf.
    with np.errstate(invalid="ignore"):
        at = float(np.percentile(pressure, pct))
    return out, (math.inf if math.isnan(at) else at)


def probe_spec(spec: RunSpec, load: float, duration_s: float, first: bool) -> RunSpec:
    """The probe run at `load`: the search's kind builds its load (never a copy of the search's)."""
    probe = spec.load.probe(load, duration_s, first)
    label = ",".join(x for x in (spec.label, f"{probe.kind}={probe.offered:.4g}") if x)
    return spec.model_copy(update={"load": probe, "label": label})


def unloaded_spec(spec: RunSpec, sessions: int) -> RunSpec:
    """The unloaded measurement: `sessions` of the workload one at a time, warmed up first; its
    SLO keeps only the absolute thresholds."""
    load = spec.load.unloaded(sessions)
    label = ",".join(x for x in (spec.label, "unloaded") if x)
    return spec.model_copy(update={"load": load, "label": label, "slo": spec.slo.absolute_only()})


class Search:
    """One capacity search's state and its file."""

    def __init__(self, spec: RunSpec, results_dir: Path, deadline: float):
        self.spec, self.s = spec, spec.load.search
        self.kind = self.s.kind
        self.integer = not self.kind.per_second
        self.tasks = registry.workload_class(spec.workload.kind).sessions_are_tasks
        self.slo: SLOSpec = spec.slo                # absolute once the unloaded run fixed it
        self.relative: dict[str, Any] | None = None   # the relative thresholds and what fixed them
        self.target = spec.slo.target
        self.alpha = 1 - self.s.confidence
        self.id = new_run_id(spec.name, spec.label)
        self.path = Path(results_dir) / f"{self.id}.capacity.json"
        self.deadline = deadline              # time.monotonic() of the time cap
        self.probes: list[steps.Probe] = []     # the search's probes (confirmations apart)
        self.rows: list[dict[str, Any]] = []
        self.confirmed: dict[str, Any] | None = None
        self.tried: list[tuple[float, bool]] = []
        # loads whose probe had too few units to show anything -> the attainment it saw
        self.inconclusive: dict[float, float] = {}
        self.stopped = "running"
        self.overhead_s = 0.0                 # a run's time beyond its send window (drain, set-up, files)
        self.hardware: str | None = None      # for comparing searches across machines

    @property
    def thresholds(self) -> dict[str, float]:
        return self.slo.thresholds()

    def reserve_s(self) -> float:
        """The time one confirmation needs: its send window and the most any run so far took
        beyond its own (drain, set-up, files), at least the drain share."""
        return max(self.s.confirm_s / DRAIN_SHARE, self.s.confirm_s + self.overhead_s)

    def confirm_budget_s(self, remaining_s: float) -> float:
        """A confirmation's share of the time left: all of it, less one more confirmation's
        reserve when that leaves this one its own (so a failed one can still step down)."""
        rest = remaining_s - self.reserve_s()
        return rest if rest >= self.reserve_s() else remaining_s

    def doc(self) -> dict[str, Any]:
        good, bad = steps.bracket(self.probes)
        side = steps.missing_side(self.probes, self.integer)
        why = None
        if side in ("high", "low", "both"):
            why = {"time_cap": "the time cap", "interrupted": "an interruption",
                   "too_few_units": "a probe there holds too few units to show the SLO"}.get(self.stopped, self.stopped)
        c = self.confirmed or {}
        upper = search_row(self.rows, bad.load) if bad else None
        return {"schema": SCHEMA, "search": self.id, "name": self.spec.name, "label": self.spec.label,
                "workload": self.spec.workload.kind, "backend": self.spec.backend.name,
                "model": self.spec.model, "over": self.s.over, "unit": self.kind.unit(self.tasks),
                "slo": self.slo.thresholds() | {"percentile": self.target * 100},
                "slo_relative": self.relative,
                "search_settings": self.s.model_dump(),
                "capacity": c.get("load"), "confirmed": self.confirmed is not None,
                "achieved_units_s": c.get("achieved_units_s"),
                # served / due in the confirmation's window: a Poisson schedule's realised rate
                # differs from the nominal one, so this share is what says the load was served
                "achieved_share": c.get("achieved_share"),
                "units_s_at_capacity": c.get("units_s"),
                "units_s_unit": "tasks/s" if self.tasks else "requests/s",
                "confirmations": [{"load": x, "held": ok} for x, ok in self.tried],
                "bracket_low": good.load if good else None, "bracket_high": bad.load if bad else None,
                # the upper side shown to miss, or only not shown to meet (unsure)
                "bracket_high_missed": bad.shown if bad else None,
                "bracket_missing": side, "bracket_missing_why": why,
                # where the client fell behind its schedule at the upper side, a miss there may be
                # partly the client's (a client sharing the server's CPUs, or one too slow)
                "bracket_high_client_warnings": list((upper or {}).get("client_warnings") or []),
                "run_overhead_s": self.overhead_s, "hardware": self.hardware, "stopped": self.stopped,
                "probes": self.rows}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, self.doc())


class ProbeMarks:
    """One probe's marks: `capacity_probe` at the start ("running"), then its verdict when the
    run finishes (or why it was cut off), handed to the run's writer; the search's row too.
    `role`: search (a probe of the search), confirm (a confirmation run)."""

    def __init__(self, search: Search, load: float, watch: Watch, duration_s: float, role: str = "search"):
        self.search, self.load, self.watch, self.duration_s, self.role = search, load, watch, duration_s, role
        self.verdict: dict[str, Any] | None = None
        self.cap_at = math.inf                 # time.monotonic() of this run's own hard cap

    def _head(self) -> dict[str, Any]:
        st = self.search
        head = {"search": st.id, "role": self.role, "load": self.load, "over": st.s.over}
        return head | ({"slo_relative": st.relative} if st.relative else {})

    def at_start(self) -> dict[str, Any]:
        st = self.search
        mark = self._head() | {"slo_met": None, "attainment": None, "stop": "running"}
        return {"capacity_probe": mark, "capacity_file": st.path.name}

    def at_finish(self, meta: dict[str, Any], status: str, summary: dict[str, float],
                  warnings: list[str]) -> dict[str, Any]:
        from bench.results.store import hardware

        st = self.search
        st.hardware = st.hardware or hardware(meta.get("env") or {})
        task = asyncio.current_task()
        if task is not None and task.cancelling():   # the time cap or Ctrl-C is cutting this probe off
            why = "time_cap" if time.monotonic() >= min(st.deadline, self.cap_at) - 0.05 else "interrupted"
            mark = self.at_start()["capacity_probe"] | {"stop": why, "slo_met": None}
            st.rows.append({"run_id": meta["run_id"], **mark, "status": "partial"})
            return {"capacity_probe": mark, "capacity_file": st.path.name}
        return {"capacity_probe": self._judge(meta["run_id"], status, summary, warnings),
                "capacity_file": st.path.name}

    def _judge(self, run_id: str, status: str, summary: dict[str, float], warnings: list[str]) -> dict[str, Any]:
        st, w, load = self.search, self.watch, self.load
        t0 = w.t0_ns if w.t0_ns is not None else now_ns()
        end = w.window_end(self.duration_s)
        units = w.units_at(end, None)
        v, bl = slo.final_verdict(units, t0, end, st.target, st.alpha)
        achieved = saturation.achieved_share(bl, load, st.kind.per_second)
        units_s = summary.get("tasks_s" if st.tasks else "request_s", 0.0)
        pct_stats, pressure = percentile_stats(units, w.samples(), st.thresholds, st.target * 100, st.tasks,
                                               w.scheduled)
        share = v.attainment
        if w.scheduled:
            sat = w.reason == "saturated" or saturation.past_saturation(bl)
        else:   # a closed loop's backlog cannot grow: flat throughput at rising latency, while raising
            raising = self.role == "search" and all(p.slo_met for p in st.probes)
            sat = raising and v.units >= steps.SATURATED_MIN_UNITS and steps.saturated(
                st.probes, steps.Probe(load, True, share, bl.achieved_units_s, pressure))
        met = slo.probe_met(w.reason, v, sat) and status != "failed"
        # too few units to show anything (a probe the time cap squeezed): neither side of the bracket
        inconclusive = v.call is None and not sat and v.effective_units < slo.units_needed(st.target, st.alpha)
        if self.role == "confirm":
            met = slo.confirmation_held(v, sat, achieved, st.target) and status != "failed"
        elif inconclusive and share >= st.target:    # looked good: a higher load sends more units
            st.inconclusive[load] = share
        else:   # an unsure one (too few units, or an interval around the target) is "not shown met"
            shown = met or status == "failed" or slo.probe_missed(w.reason, v, sat)
            st.probes.append(steps.Probe(load, met, share, bl.achieved_units_s, pressure, shown))
        stop = w.reason or ("end" if w.stop_ns else "duration")
        verdict = (w.reason if w.reason in ("met", "missed") else v.call) or "unsure"
        mark = self._head() | {
            "slo_met": met, "verdict": verdict, "why": "saturated" if sat else v.why,
            "attainment": share, "attainment_bounds": [v.low, v.high], "units": v.units, "batches": v.batches,
            "effective_units": v.effective_units, "stationary": v.stationary, "stop": stop, "saturated": sat,
            "inconclusive": inconclusive}
        self.verdict = mark | {"achieved_units_s": bl.achieved_units_s, "achieved_share": achieved}
        st.rows.append({"run_id": run_id, **mark, "status": status, "window_s": bl.window_s,
                        "offered_units": bl.offered, "served_units": bl.served,
                        "achieved_units_s": bl.achieved_units_s, "achieved_share": achieved,
                        "in_flight_start": bl.in_flight_start, "in_flight_end": bl.in_flight_end,
                        "little_in_flight": bl.little, "units_s": units_s,
                        "output_tok_s": summary.get("output_tok_s", 0.0),
                        "total_tok_s": summary.get("total_tok_s", 0.0), **pct_stats,
                        # the run's own warnings that the client fell behind (send or loop lag)
                        "client_warnings": list(warnings)})
        return mark


def _unloaded_values(samples: list[Sample], keys: list[str], tasks: bool) -> dict[str, float]:
    """Each relative key's median per-unit value with nothing else in flight."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        if not s.warmup:
            groups.setdefault(slo.unit_key(s, tasks), []).append(s)
    out = {}
    for k in keys:
        vals = [v for u in groups.values() if (v := slo.unit_value(u, k)) is not None]
        if vals:
            out[k] = float(np.median(vals))
    return out


async def _run_point(st: Search, engine: Engine, results_dir: Path, progress: Progress, suite: str,
                     load: float, duration_s: float, first: bool, role: str,
                     remaining_s: float) -> tuple[Run, ProbeMarks]:
    s = st.s
    confirm = role == "confirm"
    end_s = None
    base_s = s.confirm_s if confirm else s.max_duration_s
    if duration_s > base_s:   # room to run on, up to EXTEND x, until a verdict has its units
        end_s = base_s
        duration_s = min(duration_s, EXTEND * base_s)
    spec = probe_spec(st.spec.model_copy(update={"slo": st.slo}), load, duration_s, first)
    look = s.min_duration_s if s.min_duration_s < (end_s or duration_s) else None
    wanted = max(s.min_units, int(UNITS_MARGIN * slo.units_needed(st.target, st.alpha)) + 1)
    watch = Watch(progress, spec, st.thresholds, st.target, st.tasks, st.alpha, look, met_stops=not confirm,
                  end_s=end_s, units_wanted=wanted)
    marks = ProbeMarks(st, load, watch, duration_s, role)
    began = time.monotonic()
    marks.cap_at = began + remaining_s
    run = await asyncio.wait_for(run_one(spec, engine, results_dir, watch, suite, watch.check, marks), remaining_s)
    if watch.t0_ns is not None:
        window_s = (watch.window_end(duration_s) - watch.t0_ns) / 1e9
        st.overhead_s = max(st.overhead_s, time.monotonic() - began - window_s)
    return run, marks


async def _unloaded(st: Search, engine: Engine, results_dir: Path, progress: Progress, suite: str) -> Run:
    """Fixes the relative thresholds from a short run with nothing else in flight."""
    rel = st.spec.slo.relative()
    spec = unloaded_spec(st.spec, st.s.unloaded_sessions)
    mark = {"capacity_probe": {"search": st.id, "role": "unloaded", "load": 1, "over": "concurrency",
                               "slo_met": None, "stop": "running"}, "capacity_file": st.path.name}

    class Marks:
        def at_start(self):
            return mark

        def at_finish(self, meta, status, summary, warnings):
            return mark | {"capacity_probe": mark["capacity_probe"] | {"stop": status}}

    watch = Watch(progress, spec, {}, st.target, st.tasks, st.alpha, None)
    run = await run_one(spec, engine, results_dir, watch, suite, None, Marks())
    values = _unloaded_values(watch.samples(), list(rel), st.tasks)
    lacking = sorted(set(rel) - set(values))
    if lacking:
        raise RuntimeError(f"the unloaded run {run.run_id} gave no value of {', '.join(lacking)}")
    st.slo = st.spec.slo.resolved(values)
    st.relative = {k: {"unloaded_x": x, "unloaded_ms": values[k], "threshold_ms": values[k] * x,
                       "run_id": run.run_id} for k, x in rel.items()}
    return run


async def search(spec: RunSpec, engine: Engine, results_dir: Path, progress: Progress, suite: str = "") -> list[Run]:
    """Probe loads (steps.next_load) until the bracket is found or the time cap (less the
    confirmation's reserve), then confirm (steps.confirm_next). Returns the runs."""
    s = spec.load.search
    st = Search(spec, results_dir, time.monotonic() + s.time_cap_s)
    runs: list[Run] = []
    st.save()
    first = True
    try:
        if spec.slo.relative():
            runs.append(await _unloaded(st, engine, results_dir, progress, suite))
            first = False
            st.save()
        while (load := steps.next_load(st.probes, s.low, s.high, s.growth, s.precision_pct, st.integer)) is not None:
            if load in st.inconclusive:      # its longest probe held too few units
                load = steps.past_inconclusive(load, st.inconclusive, st.probes, st.target, s.growth, st.integer)
                if load is None:
                    st.stopped = "too_few_units"
                    break
            remaining = st.deadline - time.monotonic() - CONFIRMATIONS_KEPT * st.reserve_s()
            if remaining < s.min_duration_s:      # a point could not reach its minimum: stop here
                st.stopped = "time_cap"
                break
            # _run_point ends it sooner; the time a run takes beyond its window is kept for it
            duration = max(s.min_duration_s, DRAIN_SHARE * (remaining - st.overhead_s))
            try:
                run, _ = await _run_point(st, engine, results_dir, progress, suite, load, duration, first,
                                          "search", remaining)
            except TimeoutError:          # the hard cap: the probe was cut off, marked
                st.stopped = "time_cap"
                break
            first = False
            runs.append(run)
            st.save()
        else:
            st.stopped = "converged"
        good, _ = steps.bracket(st.probes)
        while good is not None and (load := steps.confirm_next(st.tried, good.load, s.precision_pct,
                                                             st.integer)) is not None:
            remaining = st.deadline - time.monotonic()
            if remaining < s.confirm_s / DRAIN_SHARE:   # (a probe cut at its cap ate into the reserve)
                break
            budget = st.confirm_budget_s(remaining)
            try:   # confirm_s at least; on while it has fewer units than a verdict needs
                run, marks = await _run_point(st, engine, results_dir, progress, suite, load,
                                              max(s.confirm_s, DRAIN_SHARE * (budget - st.overhead_s)), first,
                                              "confirm", budget)
            except TimeoutError:      # cut at its share of the time: not held; a step down may fit
                st.tried.append((load, False))
                st.save()
                continue
            first = False
            runs.append(run)
            v = marks.verdict or {}
            st.tried.append((load, bool(v.get("slo_met"))))
            if v.get("slo_met"):
                st.confirmed = {"load": load, "run_id": run.run_id, "achieved_units_s": v["achieved_units_s"],
                                "achieved_share": v.get("achieved_share"), "units_s": v["achieved_units_s"]}
            st.save()
    except BaseException:                         # Ctrl-C, SIGTERM, a crash: keep what was probed
        st.stopped = "interrupted"
        raise
    finally:
        st.save()
    return runs
