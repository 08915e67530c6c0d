"""Offline: every session is due at once (t=0), bounded by `concurrency` if set."""
from __future__ import annotations

from typing import Literal
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from bench.load.base import Bounded


class Offline(Bounded):
    kind: Literal["offline"] = "offline"
    concurrency: int | None = Field(default=None, ge=1, description="sessions in flight at most")

    @property
    def max_in_flight(self) -> int | None:
        return self.concurrency

    @property
    def scheduled(self) -> bool:
        return True

    @property
    def offered(self) -> float | None:
        return self.concurrency

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        while True:
            yield 0.0
