"""Trace replay: arrivals and lengths from a production trace (Mooncake JSONL or Azure CSV).

Each row is one request due at its own timestamp (offset from the window start, times
`time_scale`). Mooncake rows carry `hash_ids`, one per `block_tokens`-token block of the prompt:
block contents are a function of the hash id alone, so two requests whose lists share their
first k ids share exactly their first k blocks of prompt tokens. `scale` shrinks every length
and the block size together, so the sharing structure survives the shrinking.

Tokens the trace does not share are never shared: each Mooncake block starts with its hash id
spelled in tokens, and each Azure row (no hash ids: nothing shared) with its row index, so two
different blocks or rows never get the same tokens (tokens.distinct_block).

Scaled lengths are `round(n x scale)` with Python's round(), which rounds halves to even
(2.5 -> 2, 3.5 -> 4), never below 1 token; the block size likewise (`block_tokens x scale`).
The rows themselves are read by bench.logs.mooncake and bench.logs.azure.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from collections.abc import Iterator

from pydantic import Field, model_validator

from bench.errors import UserError
from bench.logs import azure, mooncake
from bench.logs.trace_rows import Row
from bench.types import Request, SingleRequest
from bench.workloads.base import Workload, WorkloadParams
from bench.workloads.tokens import PromptFactory, distinct_block

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class TraceParams(WorkloadParams):
    kind: Literal["trace"] = "trace"
    format: Literal["mooncake", "azure"]
    path: str                              # relative paths: from the working directory, else the repo
    block_tokens: int = Field(default=512, ge=1, description="tokens per Mooncake hash id")
    time_scale: float = Field(default=1.0, ge=0, description="x offsets: 0.5 replays twice as fast")
    start_s: float = Field(default=0.0, ge=0, description="window start, from the trace's first row")
    duration_s: float | None = Field(default=None, gt=0, description="window length (trace time)")
    count: int | None = Field(default=None, ge=1, description="at most this many rows of the window")
    context_limit_tokens: int = Field(default=131072, ge=2, description="longer prompts keep their head")

    @model_validator(mode="after")
    def _readable(self):
        if not resolve_path(self.path).is_file():     # named as a key of the config
            raise ValueError(f"path: {self.path}: trace file not found")
        rows = read_trace(self.format, self.path)  # a bad row: a UserError naming file and line
        if not TraceWorkload.window(self, rows):
            raise ValueError(f"no trace rows in the window (start_s {self.start_s:g}, duration_s "
                             f"{self.duration_s}, count {self.count}); the trace's rows span 0 to "
                             f"{rows[-1].t_s:g} s")
        return self


def resolve_path(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


@functools.lru_cache(maxsize=8)
def read_trace(fmt: str, path: str) -> tuple[Row, ...]:
    p = resolve_path(path)
    if not p.is_file():
        raise UserError(path, "trace file not found")
    rows = tuple(mooncake.read(p) if fmt == "mooncake" else azure.read(p))
    if not rows:
        raise UserError(path, "the trace has no rows (an empty file, or a header only)")
    return rows


class TraceWorkload(Workload):
    Params = TraceParams
    unit = "request"
    trace_timed = True                     # requests are sent at the trace's own offsets

    def __init__(self, params: TraceParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)
        self.rows = self.window(read_trace(params.format, params.path))
        if not self.rows:
            raise UserError(params.path, "no trace rows in the window (start_s, duration_s, count)")
        self.block = max(1, int(round(params.block_tokens * params.scale)))

    def window(self, rows: tuple[Row, ...]) -> list[Row]:
        p = getattr(self, "params", self)   # also called on the params alone, at validate time
        end = p.start_s + p.duration_s if p.duration_s else float("inf")
        picked = [r for r in rows if p.start_s <= r.t_s < end]
        return picked[:p.count] if p.count else picked

    def prompt(self, row: Row, index: int) -> tuple[int, ...]:
        p = self.params
        n = max(1, int(round(row.input_tokens * p.scale)))
        if not row.hash_ids:
            return distinct_block(self.prompts, ("row", index), index, n)
        out: list[int] = []
        for i, h in enumerate(row.hash_ids):
            # The last block takes whatever length is left, so rounding never loses tokens.
            size = self.block if i < len(row.hash_ids) - 1 else max(self.block, n - len(out))
            out.extend(distinct_block(self.prompts, ("block", h), h, size))
        return tuple(out[:n])

    def request(self, index: int, scheduled: bool = True, rid: str | None = None) -> Request:
        p = self.params
        row = self.rows[index]
        n_out = max(1, int(round(row.output_tokens * p.scale)))
        n_out = min(n_out, p.context_limit_tokens - 1)
        prompt = self.prompt(row, index)[: p.context_limit_tokens - n_out]
        offset = (row.t_s - p.start_s) * p.time_scale if scheduled else None
        return Request(id=rid or f"r{index}", prompt_token_ids=prompt, max_output_tokens=n_out,
                       scheduled_s=offset, meta={"trace_row": index})

    def session(self, index: int) -> SingleRequest:
        return SingleRequest(self.request(index))

    def sessions(self, start: int = 0) -> Iterator[SingleRequest]:
        """The window's rows in order, then stop. A start past the end (warm-up) cycles the
        window's rows unscheduled, so warm-up never replays the trace's timing."""
        if start < len(self.rows):
            for i in range(start, len(self.rows)):
                yield self.session(i)
            return
        i = 0
        while True:
            yield SingleRequest(self.request(i % len(self.rows), scheduled=False, rid=f"w{i}"))
            i += 1
