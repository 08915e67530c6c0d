"""The shared vocabulary of the harness: what a workload asks, what a driver measured."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from collections.abc import Awaitable, Callable


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    prompt_token_ids: tuple[int, ...]   # exact lengths: built with the model's tokenizer
    max_output_tokens: int
    task_id: str | None = None          # agentic steps and chat turns belong to a task
    scheduled_s: float | None = None    # offset for open-loop and trace replay
    ignore_eos: bool = True             # benchmarks force the drawn output length
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    # A reasoning call (bench.workloads.thinking): exactly this many thought tokens, the think-end
    # marker, then `answer_tokens`; all three are in max_output_tokens. None: no thinking.
    thinking_tokens: int | None = None
    answer_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """The raw truth of one request, stamped by the driver with a monotonic ns clock."""
    request_id: str
    task_id: str | None
    scheduled_ns: int                   # when the load model wanted it sent
    sent_ns: int
    token_ns: tuple[int, ...]           # one timestamp per output token (chunks expanded)
    chunk_ns: tuple[int, ...]           # one per streamed chunk
    prompt_tokens: int
    cached_prompt_tokens: int | None
    output_tokens: int
    output_token_ids: tuple[int, ...] = ()
    error: str | None = None
    warmup: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    done_ns: int | None = None          # when the driver saw the request end (success or failure)
    # Reasoning streams only (None elsewhere): thought tokens (markers excluded), answer tokens
    # (after the think-end marker), and the arrival of the first answer token.
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    first_answer_ns: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def end_ns(self) -> int:
        """A success ends at its last token; a failure when the driver saw it fail (samples
        written before done_ns existed: its last token, else its send)."""
        if self.token_ns and (self.ok or self.done_ns is None):
            return self.token_ns[-1]
        return self.done_ns if self.done_ns is not None else self.sent_ns


# A session issues its requests through this; the driver stamps and returns the Sample.
Send = Callable[[Request], Awaitable[Sample]]


class Session(Protocol):
    """One unit the load schedules: a single request, a chat conversation, an agent task."""
    id: str
    scheduled_s: float | None           # trace replay: the session's own arrival offset

    async def run(self, send: Send) -> None: ...


@dataclass(frozen=True, slots=True)
class SingleRequest:
    """The session of a request-level workload: one request, sent once."""
    request: Request

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def scheduled_s(self) -> float | None:
        return self.request.scheduled_s

    async def run(self, send: Send) -> None:
        await send(self.request)
