"""What every workload offers: validated parameters and a deterministic stream of sessions."""
from __future__ import annotations

from typing import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from bench.types import Session


class WorkloadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    scale: float = Field(default=1.0, gt=0, description="multiplies every token count")


def session_rng(seed: int, index: int) -> np.random.Generator:
    """Session i's draws depend only on (seed, i): a longer run extends, never reshuffles."""
    return np.random.default_rng([seed, index])


class Workload:
    Params = WorkloadParams
    unit = "request"  # what token inflation counts per: request, turn, query or task
    sessions_are_tasks = False  # a session is a task of several calls with its own task latency
    trace_timed = False         # sessions carry their own arrival times (load rate cannot drive them)

    def __init__(self, params: WorkloadParams, tokenizer, seed: int):
        self.params = params
        self.tokenizer = tokenizer
        self.seed = seed

    def session(self, index: int) -> Session:
        raise NotImplementedError

    def sessions(self, start: int = 0) -> Iterator[Session]:
        """Unbounded: the load decides how many to take (request count or duration)."""
        i = start
        while True:
            yield self.session(i)
            i += 1
