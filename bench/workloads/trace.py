"""Trace replay: arrivals and lengths from a production trace (Mooncake JSONL or Azure CSV).

Each row is one request due at its own timestamp (offset from the window start, times
`time_scale`). Mooncake rows carry `hash_ids`, one per `block_tokens`-token block of the prompt:
block contents are a function of the hash id alone, so two requests whose lists share their
first k ids share exactly their first k blocks of prompt tokens. `scale` shrinks every length
and the block size together, so the sharing structure survives the shrinking.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, model_validator

from bench.errors import UserError
from bench.types import Request, SingleRequest
from bench.workloads.base import Workload, WorkloadParams
from bench.workloads.tokens import PromptFactory

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class TraceParams(WorkloadParams):
    kind: str = "trace"
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
        rows = read_trace(self.format, self.path)  # a bad row: a UserError naming file and line
        if not TraceWorkload.window(self, rows):
            raise ValueError(f"no trace rows in the window (start_s {self.start_s:g}, duration_s "
                             f"{self.duration_s}, count {self.count}); the trace's rows span 0 to "
                             f"{rows[-1].t_s:g} s")
        return self


@dataclass(frozen=True, slots=True)
class Row:
    t_s: float                             # from the trace's first row
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()


def resolve_path(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


def _int(value, where: str, key: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < low:
        raise UserError(where, f"{key}: expected an integer >= {low}, got {value!r}")
    return int(value)


def mooncake_row(line: str, where: str) -> Row:
    """One Mooncake JSONL line -> a Row (timestamp still absolute); a bad line is a UserError."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(where, f"invalid JSON ({exc.msg})") from None
    if not isinstance(d, dict):
        raise UserError(where, "expected a JSON object")
    for key in ("timestamp", "input_length", "output_length"):
        if key not in d:
            raise UserError(where, f"missing key {key!r} (needs timestamp, input_length, output_length, hash_ids)")
    ts = d["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts < 0:
        raise UserError(where, f"timestamp: expected milliseconds >= 0, got {ts!r}")
    hashes = d.get("hash_ids", [])
    if not isinstance(hashes, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hashes):
        raise UserError(where, "hash_ids: expected a list of integers")
    return Row(ts / 1000, _int(d["input_length"], where, "input_length", 1),
               _int(d["output_length"], where, "output_length", 1), tuple(hashes))


def read_mooncake(path: Path) -> list[Row]:
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                rows.append(mooncake_row(line, f"{path}:{n}"))
    return _relative(rows)


def _azure_time(text: str, where: str) -> float:
    head, _, frac = text.strip().partition(".")
    try:
        t = dt.datetime.fromisoformat(head)
        return t.timestamp() + (float(f"0.{frac}") if frac else 0.0)
    except ValueError:
        raise UserError(where, f"TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS.fffffff', got {text!r}") from None


AZURE_COLUMNS = ("ContextTokens", "GeneratedTokens", "TIMESTAMP")


def azure_records(f, path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(file:line, row) for each CSV row, after checking the header has Azure's columns."""
    reader = csv.DictReader(f)
    if not set(AZURE_COLUMNS) <= set(reader.fieldnames or ()):
        raise UserError(f"{path}:1", f"header needs columns {', '.join(AZURE_COLUMNS)}")
    for d in reader:
        yield f"{path}:{reader.line_num}", d


def read_azure(path: Path) -> list[Row]:
    with open(path, newline="") as f:
        return _relative([azure_row(d, where) for where, d in azure_records(f, path)])


def azure_row(d: dict, where: str) -> Row:
    """One Azure CSV row (a csv.DictReader dict) -> a Row; a bad row is a UserError."""
    try:
        n_in, n_out = int(d["ContextTokens"]), int(d["GeneratedTokens"])
    except (TypeError, ValueError):
        raise UserError(where, "ContextTokens, GeneratedTokens: expected integers") from None
    return Row(_azure_time(d["TIMESTAMP"] or "", where), _int(n_in, where, "ContextTokens", 1),
               _int(n_out, where, "GeneratedTokens", 1))


def _relative(rows: list[Row]) -> list[Row]:
    if not rows:
        return rows
    t0 = min(r.t_s for r in rows)
    return sorted((Row(r.t_s - t0, r.input_tokens, r.output_tokens, r.hash_ids) for r in rows),
                  key=lambda r: r.t_s)


@functools.lru_cache(maxsize=8)
def read_trace(fmt: str, path: str) -> tuple[Row, ...]:
    p = resolve_path(path)
    if not p.is_file():
        raise UserError(path, "trace file not found")
    rows = tuple(read_mooncake(p) if fmt == "mooncake" else read_azure(p))
    if not rows:
        raise UserError(path, "the trace has no rows (an empty file, or a header only)")
    return rows


class TraceWorkload(Workload):
    Params = TraceParams
    unit = "request"
    trace_timed = True

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
            return self.prompts.keyed(("row", index), n)
        out: list[int] = []
        for i, h in enumerate(row.hash_ids):
            # The last block takes whatever length is left, so rounding never loses tokens.
            size = self.block if i < len(row.hash_ids) - 1 else max(self.block, n - len(out))
            out.extend(self.prompts.keyed(("block", h), size))
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
