"""Open loop: sessions arrive at `rate` per second, gamma inter-arrival times with mean 1/rate
(shape `burstiness`: 1 is Poisson, < 1 burstier), whether or not earlier ones have finished."""
from __future__ import annotations

from typing import Any, Literal
from collections.abc import Iterator

import numpy as np
from pydantic import Field, model_validator

from bench.load.base import Bounded


class Rate(Bounded):
    kind: Literal["rate"] = "rate"
    rate: float | None = Field(default=None, gt=0, description="sessions per second")
    burstiness: float = Field(default=1.0, gt=0, description="gamma shape; 1 = Poisson")
    # A cap the user asks for: sends then wait for a free slot, and the loop is no longer open.
    concurrency: int | None = Field(default=None, ge=1, description="sessions in flight at most")
    probed = True
    per_second = True

    @model_validator(mode="after")
    def _needs(self):
        if self.rate is None:
            raise ValueError("load.kind 'rate' needs load.rate (sessions per second > 0)")
        return self

    @property
    def max_in_flight(self) -> int | None:
        return self.concurrency

    @property
    def open_loop(self) -> bool:
        return self.concurrency is None

    @property
    def scheduled(self) -> bool:
        return True

    @property
    def offered(self) -> float:
        return self.rate

    @property
    def arrival_rate_s(self) -> float:
        return self.rate

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        t = 0.0
        scale = 1.0 / (self.rate * self.burstiness)
        while True:
            yield t
            t += float(rng.gamma(self.burstiness, scale))

    @classmethod
    def at(cls, value: float, duration_s: float, warmup: int, workers: int | str, search: Any) -> Rate:
        # Never capped: a probe's open loop must see the backlog a closed-loop cap would hide.
        return cls(rate=value, burstiness=search.burstiness, duration_s=duration_s, warmup=warmup, workers=workers)
