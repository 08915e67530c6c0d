"""Load strategies: each answers "when does the next session start, and how many may run at once"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from bench.config import LoadSpec


@dataclass(frozen=True, slots=True)
class Offline:
    """Everything at once: every session is scheduled at t=0 (bounded by `concurrency` if set)."""
    max_in_flight: int | None = None

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        while True:
            yield 0.0


@dataclass(frozen=True, slots=True)
class Concurrency:
    """Closed loop: C sessions in flight; the next starts when one ends (no schedule)."""
    max_in_flight: int

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        while True:
            yield None


@dataclass(frozen=True, slots=True)
class Rate:
    """Open loop: gamma inter-arrival times with mean 1/rate; shape 1 is Poisson, <1 is burstier."""
    rate: float
    burstiness: float = 1.0
    max_in_flight: int | None = None

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        t = 0.0
        scale = 1.0 / (self.rate * self.burstiness)
        while True:
            yield t
            t += float(rng.gamma(self.burstiness, scale))


def strategy(spec: LoadSpec):
    if spec.kind == "offline":
        return Offline(spec.concurrency)
    if spec.kind == "concurrency":
        return Concurrency(spec.concurrency)
    return Rate(spec.rate, spec.burstiness, spec.concurrency)
