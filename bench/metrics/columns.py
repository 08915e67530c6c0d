"""A run's measured samples kept as compact columns: what the end-of-run summaries need, no more.

Keeping every Sample (tuples of Python ints, a meta dict, strings) until the summary costs about
800 bytes per request, 0.8 GB over a million-request replay. The samples are on disk already
(samples.jsonl); this keeps one row per measured request in `array.array`
columns (cheap appends, read zero-copy with `np.frombuffer` at summary time):

  per request  sent, scheduled, first token and end stamps (ns, int64); prompt, output and cached
               prompt tokens, the largest inter-token gap (int32, widened to int64 the first time
               a value does not fit); flags (ok, has tokens, >= 2 token stamps); task index
  per gap      inter-token gaps of completed requests (ns, int32 widening); streamed-chunk gaps
               only once some request's chunks differ from its tokens (until then they are the
               same numbers, so one column serves both)
  sparse       tool/think waits of task requests (row, start, end); error counts by reason and
               the first error's text; the task ids, interned; reasoning streams' thought and
               answer tokens and first answer token (row, ...): nothing for other runs

Measured (tracemalloc over 200,000 synthetic 2-token requests, array over-allocation included;
tests/unit/test_columns.py bounds it): 60 bytes per request, 71 when every 10 requests share a task
id (the interned id). A Sample list held 436 bytes for the same bare requests, ~800 for real
ones. Each further output token adds 4 bytes (its gap), 8 when chunks and tokens differ.
Warm-up samples are left out, as the summaries always left them out.
"""
from __future__ import annotations

import re
from array import array
from operator import sub
from collections.abc import Iterable

import numpy as np

from bench.types import Sample

OK, HAS_TOKENS, TWO_STAMPS = 1, 2, 4     # bits of the flags column
NO_CACHED = -1                           # cached_prompt_tokens unknown (None)
NO_TASK = -1


class Ints:
    """An int32 column that widens itself to int64 the first time a value does not fit, so a
    stall of more than 2.1 s (in ns) costs memory only in the runs that have one."""
    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = array("i")

    def append(self, value: int) -> None:
        try:
            self.data.append(value)
        except OverflowError:
            self.data = array("q", self.data)
            self.data.append(value)

    def extend(self, values: list[int]) -> None:
        n = len(self.data)
        try:
            self.data.extend(values)
        except OverflowError:             # extend stops part-way: drop what it added, widen, redo
            del self.data[n:]
            self.data = array("q", self.data)
            self.data.extend(values)

    def __len__(self) -> int:
        return len(self.data)

    def copy(self) -> Ints:
        out = Ints()
        out.data = array(self.data.typecode, self.data)
        return out


def view(col: array | Ints) -> np.ndarray:
    """The column as a read-only numpy array over its own memory (no copy)."""
    data = col.data if isinstance(col, Ints) else col
    return np.frombuffer(data, dtype=data.typecode) if len(data) else np.zeros(0, dtype=data.typecode)


def error_reason(error: str) -> str:
    """What an error says before its first colon (a backend's reason code such as `http_429`,
    else the exception type), as an identifier."""
    return re.sub(r"\W+", "_", error.split(":")[0]).strip("_") or "unknown"


class SampleColumns:
    """Measured samples, one row each, in the order they were appended."""

    def __init__(self) -> None:
        self.sent_ns, self.scheduled_ns = array("q"), array("q")
        self.first_token_ns, self.end_ns = array("q"), array("q")   # first: 0 without tokens
        self.prompt_tokens, self.output_tokens, self.cached_prompt_tokens = Ints(), Ints(), Ints()
        self.max_gap_ns = Ints()                 # largest inter-token gap; 0 under 2 tokens
        self.flags = array("B")
        self.task = array("i")                   # index into task_ids, NO_TASK for none
        self.task_ids: list[str] = []
        self._task_index: dict[str, int] = {}
        self.gap_ns = Ints()                     # inter-token gaps of completed requests, in order
        self._chunk_gap_ns: Ints | None = None   # None: equal to gap_ns so far
        self.wait_row, self.wait_start_ns, self.wait_end_ns = array("q"), array("q"), array("q")
        self.think_row, self.first_answer_ns = array("q"), array("q")   # first answer: 0 without one
        self.reasoning_tokens, self.answer_tokens = Ints(), Ints()
        self.error_counts: dict[str, int] = {}
        self.first_error: str | None = None      # the first failed request's error text
        self.any_ok = False

    @classmethod
    def from_samples(cls, samples: Iterable[Sample]) -> SampleColumns:
        cols = cls()
        for s in samples:
            cols.append(s)
        return cols

    def __len__(self) -> int:
        return len(self.sent_ns)

    @property
    def chunk_gap_ns(self) -> Ints:
        return self.gap_ns if self._chunk_gap_ns is None else self._chunk_gap_ns

    def append(self, s: Sample) -> None:
        if s.warmup:
            return
        tokens = s.token_ns
        ok = s.error is None
        self.sent_ns.append(s.sent_ns)
        self.scheduled_ns.append(s.scheduled_ns)
        self.first_token_ns.append(tokens[0] if tokens else 0)
        self.end_ns.append(s.end_ns)
        self.prompt_tokens.append(s.prompt_tokens)
        self.output_tokens.append(s.output_tokens)
        self.cached_prompt_tokens.append(NO_CACHED if s.cached_prompt_tokens is None else s.cached_prompt_tokens)
        self.flags.append(ok * OK | bool(tokens) * HAS_TOKENS | (len(tokens) >= 2) * TWO_STAMPS)
        self._task(s)
        if s.answer_tokens is not None:          # a reasoning stream
            self.think_row.append(len(self.sent_ns) - 1)
            self.reasoning_tokens.append(s.reasoning_tokens or 0)
            self.answer_tokens.append(s.answer_tokens)
            self.first_answer_ns.append(s.first_answer_ns or 0)
        if ok:
            self.any_ok = True
        else:
            self._error(s.error)
        if ok and tokens:
            self._gaps(tokens, s.chunk_ns)
        else:
            self.max_gap_ns.append(0)

    def _task(self, s: Sample) -> None:
        if s.task_id is None:
            self.task.append(NO_TASK)
            return
        index = self._task_index.get(s.task_id)
        if index is None:
            index = self._task_index[s.task_id] = len(self.task_ids)
            self.task_ids.append(s.task_id)
        self.task.append(index)
        meta = s.meta
        if "wait_start_ns" in meta and "wait_end_ns" in meta:   # a session sets both or neither
            self.wait_row.append(len(self.sent_ns) - 1)
            self.wait_start_ns.append(int(meta["wait_start_ns"]))
            self.wait_end_ns.append(int(meta["wait_end_ns"]))

    def _error(self, error: str) -> None:
        if self.first_error is None:
            self.first_error = error
        if error:                        # an empty error text fails the request but has no reason
            key = error_reason(error)
            self.error_counts[key] = self.error_counts.get(key, 0) + 1

    def _gaps(self, tokens: tuple[int, ...], chunks: tuple[int, ...]) -> None:
        gaps = list(map(sub, tokens[1:], tokens))
        self.max_gap_ns.append(max(gaps, default=0))
        if self._chunk_gap_ns is None and chunks != tokens:   # the earlier requests' chunk gaps
            self._chunk_gap_ns = self.gap_ns.copy()           # were their token gaps
        self.gap_ns.extend(gaps)
        if self._chunk_gap_ns is not None:
            self._chunk_gap_ns.extend(list(map(sub, chunks[1:], chunks)))
