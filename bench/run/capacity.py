"""Capacity at SLO: the search loop (load.kind: capacity). Each probed load is a normal run
through the runner, on the backend already started; the decisions are pure (bench.metrics.slo).

Every probe's run.json carries `capacity_probe` and `capacity_file`; the search's own file,
results/<search id>.capacity.json, is rewritten after every probe, so an interrupted or
time-capped search leaves every probe on disk and a file that says how it stopped.
"""
from __future__ import annotations

import asyncio
import bisect
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import registry
from bench.config import LoadSpec, RunSpec
from bench.metrics import slo
from bench.results import store
from bench.results.files import atomic_write_json, new_run_id, read_run, update_run
from bench.run.driver import now_ns
from bench.types import Sample

# The drive of a point ends this share of the remaining time into it, so the sessions still in
# flight can drain before the hard cap (which cancels them) falls.
DRAIN_SHARE = 0.85


def unit_name(over: str, tasks: bool) -> str:
    if over == "concurrency":
        return "concurrent sessions"
    return "tasks/s" if tasks else "requests/s"


def describe(d: dict[str, Any]) -> str:
    """A search file's answer in one line (bench run and bench summary print it)."""
    thresholds = ", ".join(f"{k} <= {v:g}" for k, v in d["slo"].items() if v is not None and k != "percentile")
    head = (f"{d['label'] or d['name']} ({d['workload']} on {d['backend']}; {thresholds} for "
            f"{d['slo']['percentile']:g}% of {'tasks' if d['units_s_unit'] == 'tasks/s' else 'requests'}): ")
    if d["capacity"] is None and d["ci_high"] is None:
        return head + f"no probe finished; stopped: {d['stopped']}"
    if d["capacity"] is None:
        return head + f"below {d['ci_high']:g} {d['unit']} (even the lowest load probed missed)"
    hi = "-" if d["ci_high"] is None else f"{d['ci_high']:.3g}"
    rate = d["units_s_at_capacity"] if d["over"] == "concurrency" else d["capacity"]
    at = f", serving {rate:.3g} {d['units_s_unit']}" if d["over"] == "concurrency" else ""
    if rate and d["units_s_unit"] == "tasks/s":
        at += f" = {rate * 3600:,.0f} tasks/hour"
    note = " (every probe met: a lower bound)" if d["ci_high"] is None else ""
    return (head + f"{d['capacity']:.3g} {d['unit']} in [{d['ci_low']:.3g}, {hi}]{at}{note}; "
                   f"{len(d['probes'])} probes, stopped: {d['stopped']}")


class Watch:
    """Wraps the runner's Progress: keeps each unit's samples and answers the driver's `stop`
    check from the units finished so far (the Wilson bound of slo.point_verdict)."""

    def __init__(self, inner, search, thresholds: dict[str, float], target: float, tasks: bool):
        self.inner, self.search, self.thresholds, self.target, self.tasks = inner, search, thresholds, target, tasks
        self.units: dict[str, list[Sample]] = {}
        self.seen = self.good = 0
        self.pressures: list[float] = []      # sorted, per finished unit
        self.reason: str | None = None

    def start(self, label: str, total: int | None) -> None:
        self.inner.start(label, total)

    def stop(self) -> None:
        self.inner.stop()

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
    s = spec.load.search
    value = int(load) if s.over == "concurrency" else load
    new = LoadSpec(kind=s.over, rate=value if s.over == "rate" else None,
                   concurrency=value if s.over == "concurrency" else spec.load.concurrency,
                   burstiness=spec.load.burstiness, duration_s=duration_s, workers=spec.load.workers,
                   warmup=spec.load.warmup if first else 0)   # the engine stays warm between probes
    label = ",".join(x for x in (spec.label, f"{s.over}={value:.4g}") if x)
    return spec.model_copy(update={"load": new, "label": label})


class Search:
    """One capacity search's state and its file."""

    def __init__(self, spec: RunSpec, results_dir: Path):
        self.spec, self.s = spec, spec.load.search
        self.tasks = registry.workload_class(spec.workload.kind).sessions_are_tasks
        self.thresholds, self.target = spec.slo.thresholds(), spec.slo.target
        self.id = new_run_id(spec.name, spec.label)
        self.path = Path(results_dir) / f"{self.id}.capacity.json"
        self.probes: list[slo.Probe] = []
        self.rows: list[dict[str, Any]] = []
        self.stopped = "running"
        self.hardware: str | None = None      # for comparing searches across machines

    def doc(self) -> dict[str, Any]:
        good, bad = slo.bracket(self.probes)
        cap, lo, hi = slo.estimate(good, bad, self.target)
        # the units/s the system served at that load (for over: concurrency, what a forecast needs)
        at = None
        if cap is not None:
            span = (bad.load - good.load) if bad else 0.0
            t = (cap - good.load) / span if span else 0.0
            at = good.units_s + t * ((bad.units_s if bad else good.units_s) - good.units_s)
        return {"search": self.id, "name": self.spec.name, "label": self.spec.label,
                "workload": self.spec.workload.kind, "backend": self.spec.backend.name,
                "model": self.spec.model, "over": self.s.over, "unit": unit_name(self.s.over, self.tasks),
                "slo": self.spec.slo.model_dump() | {"percentile": self.target * 100},
                "search_settings": self.s.model_dump(), "capacity": cap, "ci_low": lo, "ci_high": hi,
                "units_s_at_capacity": at, "units_s_unit": "tasks/s" if self.tasks else "requests/s",
                "bounded": "below_low" if good is None and bad else "at_high" if bad is None and good else None,
                "hardware": self.hardware, "stopped": self.stopped, "probes": self.rows}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, self.doc())

    def record(self, result, watch: Watch, load: float, stop: str) -> None:
        ss = watch.samples()
        self.hardware = self.hardware or store.hardware(result.meta.get("env") or {})
        k, n = slo.attainment(ss, self.thresholds, self.tasks)
        share = k / n if n else 0.0
        lo, hi = slo.wilson(k, n, self.s.confidence)
        units_s = result.summary.get("tasks_s" if self.tasks else "request_s", 0.0)
        pct_stats, pressure = percentile_stats(ss, self.thresholds, self.target * 100, self.tasks)
        probe = slo.Probe(load, bool(n) and (stop == "met" or (stop != "missed" and share >= self.target)),
                          share, units_s, pressure)
        # saturation is looked for while raising the load; once a point missed, the SLO decides
        raising = all(p.slo_met for p in self.probes)
        sat = raising and n >= slo.SATURATED_MIN_UNITS and slo.saturated(self.probes, probe, self.s.over)
        if sat or result.status == "failed":
            probe = slo.Probe(load, False, share, units_s, pressure)
        self.probes.append(probe)
        mark = {"search": self.id, "load": load, "over": self.s.over, "slo_met": probe.slo_met,
                "attainment": share, "attainment_ci": [lo, hi], "units": n, "stop": stop, "saturated": sat}
        self.rows.append({"run_id": result.run_id, **mark, "status": result.status, "units_s": units_s,
                          "output_tok_s": result.summary.get("output_tok_s", 0.0),
                          "total_tok_s": result.summary.get("total_tok_s", 0.0), **pct_stats})
        fields = {"capacity_probe": mark, "capacity_file": self.path.name}
        update_run(result.dir, fields)
        result.meta.update(fields)
        self.save()

    def mark_unfinished(self, results_dir: Path, why: str) -> None:
        """The probe cut off mid-run (its run.json says partial): mark it with why."""
        for run_json in Path(results_dir).glob("*/run.json"):
            meta = read_run(run_json.parent)
            probe = meta.get("capacity_probe") or {}
            if probe.get("search") == self.id and probe.get("stop") == "running":
                probe.update(stop=why, slo_met=None)
                update_run(run_json.parent, {"capacity_probe": probe, "capacity_file": self.path.name})
                self.rows.append({"run_id": meta["run_id"], **probe, "status": "partial"})


async def search(spec: RunSpec, run_one: Callable, results_dir: Path, progress,
                 on_result: Callable = lambda r: None) -> list:
    """Probe loads (slo.next_load) until the search converges or its time cap; each probe is
    `run_one(probe_spec, progress, stop, meta)`, a normal run. Returns the probes' RunResults."""
    st = Search(spec, results_dir)
    s, results = st.s, []
    deadline = time.monotonic() + s.time_cap_s
    st.save()
    try:
        while (load := slo.next_load(st.probes, s.low, s.high, s.growth, s.precision_pct,
                                     s.over == "concurrency")) is not None:
            remaining = deadline - time.monotonic()
            if remaining < s.min_duration_s:      # a point could not reach its minimum: stop here
                st.stopped = "time_cap"
                break
            duration = min(s.max_duration_s, max(s.min_duration_s, DRAIN_SHARE * remaining))
            watch = Watch(progress, s, st.thresholds, st.target, st.tasks)
            meta = {"capacity_probe": {"search": st.id, "load": load, "over": s.over, "slo_met": None,
                                       "attainment": None, "stop": "running"},
                    "capacity_file": st.path.name}
            try:
                result = await asyncio.wait_for(
                    run_one(probe_spec(spec, load, duration, not st.probes), watch, watch.check, meta), remaining)
            except asyncio.TimeoutError:          # the hard cap: the probe was cut off, marked
                st.stopped = "time_cap"
                st.mark_unfinished(results_dir, "time_cap")
                break
            results.append(result)
            st.record(result, watch, load, watch.reason or "max_duration")
            on_result(result)
        else:
            st.stopped = "converged"
    except BaseException:                         # Ctrl-C, SIGTERM, a crash: keep what was probed
        st.stopped = "interrupted"
        st.mark_unfinished(results_dir, "interrupted")
        raise
    finally:
        st.save()
    return results
