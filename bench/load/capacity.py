"""A capacity search (`load.kind: capacity`): the highest load meeting the SLOs, found by raising
load geometrically from `search.low` to saturation, then bisecting, then confirmed by a run of
`search.confirm_s` (docs/capacity.md). Its
probes are runs of the kind named by `search.over`, built by that kind (`LoadKind.at`); the loop
that runs them is bench.run.capacity, its decisions bench.metrics.slo."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from bench.load.base import STRICT, LoadKind


class SearchSpec(BaseModel):
    model_config = STRICT
    over: str = Field(default="rate", description="the load kind probed: rate or concurrency")
    low: float = Field(gt=0, description="first load probed (sessions/s or sessions in flight)")
    high: float = Field(gt=0, description="the search never probes above this")
    growth: float = Field(default=2.0, gt=1, description="load multiplier while looking for saturation")
    precision_pct: float = Field(default=10.0, gt=0, description="bisect until first bad / last good - 1 <= this")
    time_cap_s: float = Field(default=180.0, gt=0, description="the whole search, warm-up included")
    min_duration_s: float = Field(default=5.0, gt=0, description="each probe's interim look, this far in")
    max_duration_s: float = Field(default=30.0, gt=0, description=(
        "each probe's end (on, up to 4x, while it has fewer units than a verdict needs)"))
    min_units: int = Field(default=10, ge=1, description=(
        "a probe runs on past max_duration_s until it has at least this many units (and as many as a verdict needs)"))
    confidence: float = Field(default=0.9, gt=0.5, lt=1, description=(
        "1 - the chance a probe is called met though its attainment is below the target"))
    confirm_s: float = Field(default=10.0, gt=0, description=(
        "each confirmation run at the found capacity runs this long (its time is kept back from the cap)"))
    unloaded_sessions: int = Field(default=5, ge=1, description=(
        "sessions run one at a time to fix relative SLO thresholds (slo: {ttft_ms: 3x})"))

    @property
    def kind(self) -> type[LoadKind]:
        """The load kind each probe is."""
        from bench import registry
        return registry.load_class(self.over)

    @field_validator("over")
    @classmethod
    def _probed(cls, over: str) -> str:
        from bench import registry

        probed = sorted(k for k in registry.LOADS if registry.load_class(k).probed)
        if over not in probed:
            raise ValueError(f"{over!r} is not a load kind a search can probe; allowed: {', '.join(probed)}")
        return over

    @model_validator(mode="after")
    def _check(self) -> SearchSpec:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.min_duration_s > self.max_duration_s:
            raise ValueError("min_duration_s must be <= max_duration_s")
        if self.confirm_s + self.min_duration_s > self.time_cap_s:
            raise ValueError(f"time_cap_s ({self.time_cap_s:g}) leaves no probe after confirm_s ({self.confirm_s:g})")
        if not self.kind.per_second and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"over {self.over!r} needs whole numbers for low and high")
        return self


class Capacity(LoadKind):
    kind: Literal["capacity"] = "capacity"
    search: SearchSpec | None = None
    # Shared by the probes of an arrival-rate kind: the gamma shape of their inter-arrival times.
    burstiness: float = Field(default=1.0, gt=0, description="gamma shape of rate probes; 1 = Poisson")
    searches = True

    @model_validator(mode="after")
    def _needs(self):
        if self.search is None:
            raise ValueError("load.kind 'capacity' needs load.search: {over: rate|concurrency, low, high}")
        return self

    def probe(self, value: float, duration_s: float, first: bool) -> LoadKind:
        """The probe at `value`; only the first warms up (the engine stays warm between probes)."""
        load = int(value) if not self.search.kind.per_second else value
        probe = self.search.kind.at(load, duration_s, self.warmup if first else 0, self.workers, self)
        return probe.model_copy(update={"executor": self.executor, "ray": self.ray})   # where its workers run

    def unloaded(self, sessions: int) -> LoadKind:
        """The unloaded measurement before a search with relative thresholds: `sessions` of the
        workload one at a time (nothing else in flight), warmed up first."""
        from bench import registry
        return registry.load_class("concurrency")(concurrency=1, requests=sessions, warmup=self.warmup, workers=1)

    def problem(self, thresholds: dict[str, float], tasks: bool, trace_timed: bool, workload: str) -> str | None:
        """What this search cannot do with that SLO and workload (traits, never workload names)."""
        if not thresholds:
            return ("slo: a capacity search (load.kind: capacity) needs at least one threshold; "
                    "allowed: e2e_ms, itl_ms, task_latency_ms, tpot_ms, ttfa_ms, ttft_ms")
        if "task_latency_ms" in thresholds and not tasks:
            return (f"slo.task_latency_ms: workload {workload!r} has no tasks (one request per session); "
                    "use ttft_ms, ttfa_ms, tpot_ms, itl_ms or e2e_ms")
        if trace_timed:
            return (f"load.search.over: {self.search.over!r} cannot drive workload {workload!r} (its arrival "
                    "times come from the trace; scale them with time_scale instead)")
        return None
