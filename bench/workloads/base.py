"""What every workload offers: validated parameters and a deterministic stream of sessions."""
from __future__ import annotations

from typing import Any
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.types import Session
from bench.workloads.dists import MAX_COUNT, MAX_TOKENS, _Dist

# Every settings model of a workload: unknown keys refused; strict, so a mapping, a list or a
# quoted number is never coerced into a number or a name; inf and nan are no lengths.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class WorkloadParams(BaseModel):
    model_config = STRICT
    # Each workload narrows this to Literal["<its registry name>"]: the tag config.py's union of
    # all workloads' Params is told apart by.
    kind: str
    scale: float = Field(default=1.0, gt=0, description="multiplies every token count")

    @model_validator(mode="after")
    def _bounded(self):
        """Names carry units, so limits follow names, in nested settings too: a `*_tokens` length
        (an integer, or a distribution's bound, times scale) stays within MAX_TOKENS; any other
        distribution but a `*_s` time is a count (turns, steps) and stays within MAX_COUNT."""
        grow = max(1.0, self.scale)
        for path, value in _leaves(self):
            name = path.rsplit(".", 1)[-1]
            if name.endswith("_tokens") and isinstance(value, (int, _Dist)):
                top = value.bound() if isinstance(value, _Dist) else value
                if top * grow > MAX_TOKENS:
                    raise ValueError(f"{path}: {top * grow:.3g} tokens (x scale {self.scale:g}); "
                                     f"at most {MAX_TOKENS} allowed")
            elif isinstance(value, _Dist) and not name.endswith("_s") and value.bound() > MAX_COUNT:
                raise ValueError(f"{path}: a count of {value.bound():.3g}; at most {MAX_COUNT} allowed")
        return self

    def check_seeded(self, seed: int) -> None:
        """Checks that need the run's seed (a drawn corpus); raise ValueError naming the key.
        Called at load, so a run never fails on them halfway through a matrix."""


def _leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every field, descending into nested settings and their lists."""
    for name in type(model).model_fields:
        value, path = getattr(model, name), f"{prefix}{name}"
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            at = path if i is None else f"{path}.{i}"
            if isinstance(item, BaseModel) and not isinstance(item, _Dist):
                yield from _leaves(item, at + ".")
            else:
                yield at, item


def session_rng(seed: int, index: int) -> np.random.Generator:
    """Session i's draws depend only on (seed, i): a longer run extends, never reshuffles."""
    return np.random.default_rng([seed, index])


class Workload:
    Params = WorkloadParams
    unit = "request"  # what token inflation counts per: request, turn, query or task
    # Sessions carry their own send times (a replayed trace): the run is open-loop and TTFT
    # from `scheduled` is meaningful whatever the load kind.
    trace_timed = False
    sessions_are_tasks = False  # a session is a task of several calls with its own task latency

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
