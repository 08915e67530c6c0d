"""Closed loop: C sessions in flight; the next starts when one ends (no schedule)."""
from __future__ import annotations

from typing import Any, Literal
from collections.abc import Iterator

import numpy as np
from pydantic import Field, model_validator

from bench.load.base import Bounded


class Concurrency(Bounded):
    kind: Literal["concurrency"] = "concurrency"
    concurrency: int | None = Field(default=None, ge=1, description="sessions in flight")
    probed = True

    @model_validator(mode="after")
    def _needs(self):
        if self.concurrency is None:
            raise ValueError("load.kind 'concurrency' needs load.concurrency (an integer >= 1)")
        return self

    @property
    def max_in_flight(self) -> int:
        return self.concurrency

    @property
    def offered(self) -> float:
        return self.concurrency

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        while True:
            yield None

    @classmethod
    def at(cls, value: float, duration_s: float, warmup: int, workers: int | str, search: Any) -> Concurrency:
        return cls(concurrency=int(value), duration_s=duration_s, warmup=warmup, workers=workers)
