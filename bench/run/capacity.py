"""Capacity at SLO: the search loop (`load.kind: capacity`, bench.load.capacity). Each probe is a
normal run (bench.run.run_one) of the kind the search names, built by that kind, on the engine
already started; the decisions are pure (bench.metrics.slo).

The search's own file, results/<search id>.capacity.json, written only here, is the authority on
the search: it is rewritten after every probe, so an interrupted or time-capped search leaves
every probe on disk and a file that says how it stopped. Each probe's run.json carries
`capacity_probe` (its marks, final when the run finishes) and `capacity_file`.
"""
from __future__ import annotations

import asyncio
import bisect
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import registry
from bench.config import RunSpec
from bench.metrics import slo
from bench.results.files import atomic_write_json, new_run_id
from bench.results.run import Run
from bench.run.driver import now_ns
from bench.run.engines import Engine
from bench.run.progress import Progress
from bench.run.run_one import run_one
from bench.types import Sample

# The drive of a point ends this share of the remaining time into it, so the sessions still in
# flight can drain before the hard cap (which cancels them) falls.
DRAIN_SHARE = 0.85


class Watch:
    """Wraps the runner's Progress: keeps each unit's samples and answers the driver's `stop`
    check from the units finished so far (the Wilson bound of slo.point_verdict)."""

    def __init__(self, inner: Progress, search, thresholds: dict[str, float], target: float, tasks: bool):
        self.inner, self.search, self.thresholds, self.target, self.tasks = inner, search, thresholds, target, tasks
        self.units: dict[str, list[Sample]] = {}
        self.seen = self.good = 0
        self.pressures: list[float] = []      # sorted, per finished unit
        self.reason: str | None = None

    def start(self, label: str, total: int | None) -> None:
        self.inner.start(label, total)

    def stop(self) -> None:
        self.inner.stop()

    def note(self, text: str) -> None:
        self.inner.note(text)

    def advance(self, sample: Sample) -> None:
        self.inner.advance(sample)
        if not sample.warmup:
            self.units.setdefault(slo.unit_key(sample, self.tasks), []).append(sample)

    def check(self, stats) -> str | None:
        for sid in stats.finished_ids[self.seen:]:
            unit = self.units.get(sid, [])
            self.good += slo.unit_meets(unit, self.thresholds)
            p = slo.unit_pressure(unit, self.thresholds)
            bisect.insort(self.pressures, math.inf if p is None else p)
        self.seen = len(stats.finished_ids)
        s = self.search
        self.reason = slo.point_verdict(self.good, self.seen, self.target, (now_ns() - stats.t0_ns) / 1e9,
                                        s.min_duration_s, s.min_units, s.confidence, s.rel_precision,
                                        self.pressures)
        return self.reason

    def samples(self) -> list[Sample]:
        return [x for u in self.units.values() for x in u]


def percentile_stats(samples: list[Sample], thresholds: dict[str, float], pct: float, tasks: bool
                     ) -> tuple[dict[str, float], float | None]:
    """Each threshold's statistic at the SLO percentile (`ttft_ms_p90`), and the units' SLO
    pressure at it (worst value / threshold: > 1 misses), for the saturation test."""
    units: dict[str, list[Sample]] = {}
    for s in samples:
        units.setdefault(slo.unit_key(s, tasks), []).append(s)
    vals = {k: [v for u in units.values() if (v := slo.unit_value(u, k)) is not None] for k in thresholds}
    out = {f"{k}_p{pct:g}": float(np.percentile(v, pct)) for k, v in vals.items() if v}
    pressure = [p for u in units.values() if (p := slo.unit_pressure(u, thresholds)) is not None]
    return out, (float(np.percentile(pressure, pct)) if pressure else None)


def probe_spec(spec: RunSpec, load: float, duration_s: float, first: bool) -> RunSpec:
    """The probe run at `load`: the search's kind builds its load (never a copy of the search's)."""
    probe = spec.load.probe(load, duration_s, first)
    label = ",".join(x for x in (spec.label, f"{probe.kind}={probe.offered:.4g}") if x)
    return spec.model_copy(update={"load": probe, "label": label})


class Search:
    """One capacity search's state and its file."""

    def __init__(self, spec: RunSpec, results_dir: Path, deadline: float):
        self.spec, self.s = spec, spec.load.search
        self.kind = self.s.kind
        self.tasks = registry.workload_class(spec.workload.kind).sessions_are_tasks
        self.thresholds, self.target = spec.slo.thresholds(), spec.slo.target
        self.id = new_run_id(spec.name, spec.label)
        self.path = Path(results_dir) / f"{self.id}.capacity.json"
        self.deadline = deadline              # time.monotonic() of the time cap
        self.probes: list[slo.Probe] = []
        self.rows: list[dict[str, Any]] = []
        self.stopped = "running"
        self.hardware: str | None = None      # for comparing searches across machines

    def doc(self) -> dict[str, Any]:
        good, bad = slo.bracket(self.probes)
        cap, lo, hi = slo.estimate(good, bad, self.target)
        # the units/s the system served at that load (for a load in sessions, what a forecast needs)
        at = None
        if cap is not None:
            span = (bad.load - good.load) if bad else 0.0
            t = (cap - good.load) / span if span else 0.0
            at = good.units_s + t * ((bad.units_s if bad else good.units_s) - good.units_s)
        return {"search": self.id, "name": self.spec.name, "label": self.spec.label,
                "workload": self.spec.workload.kind, "backend": self.spec.backend.name,
                "model": self.spec.model, "over": self.s.over, "unit": self.kind.unit(self.tasks),
                "slo": self.spec.slo.model_dump() | {"percentile": self.target * 100},
                "search_settings": self.s.model_dump(), "capacity": cap, "ci_low": lo, "ci_high": hi,
                "units_s_at_capacity": at, "units_s_unit": "tasks/s" if self.tasks else "requests/s",
                "bounded": "below_low" if good is None and bad else "at_high" if bad is None and good else None,
                "hardware": self.hardware, "stopped": self.stopped, "probes": self.rows}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, self.doc())


class ProbeMarks:
    """One probe's marks: `capacity_probe` at the start ("running"), then its verdict when the
    run finishes (or why it was cut off), handed to the run's writer; the search's row too."""

    def __init__(self, search: Search, load: float, watch: Watch):
        self.search, self.load, self.watch = search, load, watch

    def at_start(self) -> dict[str, Any]:
        st = self.search
        return {"capacity_probe": {"search": st.id, "load": self.load, "over": st.s.over, "slo_met": None,
                                   "attainment": None, "stop": "running"},
                "capacity_file": st.path.name}

    def at_finish(self, meta: dict[str, Any], status: str, summary: dict[str, float]) -> dict[str, Any]:
        from bench.results.store import hardware

        st = self.search
        st.hardware = st.hardware or hardware(meta.get("env") or {})
        task = asyncio.current_task()
        if task is not None and task.cancelling():   # the time cap or Ctrl-C is cutting this probe off
            why = "time_cap" if time.monotonic() >= st.deadline else "interrupted"
            mark = self.at_start()["capacity_probe"] | {"stop": why, "slo_met": None}
            st.rows.append({"run_id": meta["run_id"], **mark, "status": "partial"})
            return {"capacity_probe": mark, "capacity_file": st.path.name}
        return {"capacity_probe": self._judge(meta["run_id"], status, summary), "capacity_file": st.path.name}

    def _judge(self, run_id: str, status: str, summary: dict[str, float]) -> dict[str, Any]:
        st, load, stop = self.search, self.load, self.watch.reason or "max_duration"
        ss = self.watch.samples()
        k, n = slo.attainment(ss, st.thresholds, st.tasks)
        share = k / n if n else 0.0
        lo, hi = slo.wilson(k, n, st.s.confidence)
        units_s = summary.get("tasks_s" if st.tasks else "request_s", 0.0)
        pct_stats, pressure = percentile_stats(ss, st.thresholds, st.target * 100, st.tasks)
        probe = slo.Probe(load, bool(n) and (stop == "met" or (stop != "missed" and share >= st.target)),
                          share, units_s, pressure)
        # saturation is looked for while raising the load; once a point missed, the SLO decides
        raising = all(p.slo_met for p in st.probes)
        sat = raising and n >= slo.SATURATED_MIN_UNITS and slo.saturated(st.probes, probe, st.kind.per_second)
        if sat or status == "failed":
            probe = slo.Probe(load, False, share, units_s, pressure)
        st.probes.append(probe)
        mark = {"search": st.id, "load": load, "over": st.s.over, "slo_met": probe.slo_met,
                "attainment": share, "attainment_ci": [lo, hi], "units": n, "stop": stop, "saturated": sat}
        st.rows.append({"run_id": run_id, **mark, "status": status, "units_s": units_s,
                        "output_tok_s": summary.get("output_tok_s", 0.0),
                        "total_tok_s": summary.get("total_tok_s", 0.0), **pct_stats})
        return mark


async def search(spec: RunSpec, engine: Engine, results_dir: Path, progress: Progress, suite: str = "") -> list[Run]:
    """Probe loads (slo.next_load) until the search converges or its time cap; each probe is a
    normal run. Returns the probes' runs."""
    s = spec.load.search
    st = Search(spec, results_dir, time.monotonic() + s.time_cap_s)
    runs: list[Run] = []
    st.save()
    try:
        while (load := slo.next_load(st.probes, s.low, s.high, s.growth, s.precision_pct,
                                     not st.kind.per_second)) is not None:
            remaining = st.deadline - time.monotonic()
            if remaining < s.min_duration_s:      # a point could not reach its minimum: stop here
                st.stopped = "time_cap"
                break
            duration = min(s.max_duration_s, max(s.min_duration_s, DRAIN_SHARE * remaining))
            watch = Watch(progress, s, st.thresholds, st.target, st.tasks)
            try:
                run = await asyncio.wait_for(run_one(probe_spec(spec, load, duration, not st.probes), engine,
                                                     results_dir, watch, suite, watch.check,
                                                     ProbeMarks(st, load, watch)), remaining)
            except TimeoutError:          # the hard cap: the probe was cut off, marked
                st.stopped = "time_cap"
                break
            runs.append(run)
            st.save()
        else:
            st.stopped = "converged"
    except BaseException:                         # Ctrl-C, SIGTERM, a crash: keep what was probed
        st.stopped = "interrupted"
        raise
    finally:
        st.save()
    return runs
