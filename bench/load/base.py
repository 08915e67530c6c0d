"""What every load kind answers: how many sessions may be in flight, when each starts, whether
sends wait for completions, and the load it offers. The driver, the worker pool, the runner and
the capacity search ask these; none of them tests a kind's name."""
from __future__ import annotations

from typing import Any, ClassVar, Literal
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

# As every config section: unknown keys refused; strict, so a mapping, a list or a quoted number
# is never coerced into a number; inf and nan are no loads.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RayPlacement(BaseModel):
    """Where `executor: ray` puts its load actors: one placement-group bundle per actor."""
    model_config = STRICT
    cpus: float = Field(default=1.0, gt=0, description="CPUs each load actor reserves")
    # Custom resources each actor needs, e.g. {client: 1} for nodes started with that label.
    resources: dict[str, float] = Field(default_factory=dict)
    # Ray's placement-group strategies: SPREAD puts actors on different nodes where it can.
    strategy: Literal["SPREAD", "STRICT_SPREAD", "PACK", "STRICT_PACK"] = "SPREAD"


class LoadKind(BaseModel):
    """The keys every kind has. A kind narrows `kind` to Literal["<its registry name>"]."""
    model_config = STRICT
    kind: str
    warmup: int = Field(default=0, ge=0, description="sessions run and discarded before measuring")
    # Client processes (bench.run.workers): an integer >= 1 or "auto" (from cores and load).
    workers: int | Literal["auto"] = 1
    # Where the workers run: `local` processes on this host, or `ray` actors across a Ray
    # cluster's nodes (bench.run.ray_pool; needs the `ray` extra). With ray, "auto" is one per node.
    executor: Literal["local", "ray"] = "local"
    ray: RayPlacement = Field(default_factory=RayPlacement)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """`executor` and `ray` only where they are not the defaults: run.json's config, and the
        series key made from it (bench.results.store.keys), stay as they were before the keys
        existed, so a trend over earlier runs goes on."""
        out = handler(self)
        if isinstance(out, dict):
            if self.executor == "local":
                out.pop("executor", None)
            if self.ray == RayPlacement():
                out.pop("ray", None)
        return out

    # A capacity search: its runs are probes of another kind, never this one driven directly.
    searches: ClassVar[bool] = False
    # May be probed by a search (`load.search.over: <kind>`): the class has `at`.
    probed: ClassVar[bool] = False
    # Its load is sessions per second (else sessions in flight, a whole number).
    per_second: ClassVar[bool] = False

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v):
        if v != "auto" and (type(v) is not int or v < 1):
            raise ValueError("load.workers must be an integer >= 1 or \"auto\"")
        return v

    # ---- what the driver asks ------------------------------------------------------------
    @property
    def max_in_flight(self) -> int | None:
        """Sessions in flight at most; None: no limit."""
        return None

    @property
    def open_loop(self) -> bool:
        """Sends never wait for completions (a late server then shows as a growing backlog)."""
        return False

    @property
    def scheduled(self) -> bool:
        """Sessions have planned send times, so send lag and TTFT from `scheduled` mean something."""
        return False

    @property
    def offered(self) -> float | None:
        """The load point: sessions per second or sessions in flight (see `per_second`)."""
        return None

    @property
    def arrival_rate_s(self) -> float | None:
        """Sessions started per second, where the kind sets it (how many workers it needs)."""
        return None

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        """Each session's send offset from the start, in order; None: when a slot frees."""
        raise NotImplementedError

    # ---- what results record -------------------------------------------------------------
    @classmethod
    def unit(cls, tasks: bool = False) -> str:
        if cls.per_second:
            return "tasks/s" if tasks else "requests/s"
        return "concurrent sessions"

    def point(self) -> dict[str, Any]:
        """The load point run.json records when the run starts."""
        return {"kind": self.kind, "value": self.offered, "per_second": self.per_second,
                "open_loop": self.open_loop, "max_in_flight": self.max_in_flight}

    def describe(self) -> str:
        """`rate 4 x48`: the kind, its load and how long it runs (what makes runs comparable)."""
        return f"{self.kind} {self.offered} x{getattr(self, 'requests', None) or getattr(self, 'duration_s', None)}"

    # ---- a search's probe ----------------------------------------------------------------
    @classmethod
    def at(cls, value: float, duration_s: float, warmup: int, workers: int | str, search: Any) -> LoadKind:
        """This kind at one load, for `duration_s`: a capacity search's probe. `search` is the
        search's own load section (bench.load.capacity.Capacity), for settings a probe shares."""
        raise NotImplementedError(f"load kind {cls.__name__} cannot be probed by a search")


class Bounded(LoadKind):
    """A kind that runs until a number of sessions or a duration (or both)."""
    requests: int | None = Field(default=None, ge=1, description="sessions to run")
    duration_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _stops(self):
        if self.requests is None and self.duration_s is None:
            raise ValueError("load needs 'requests' or 'duration_s' (or both) to know when to stop")
        return self
