"""Runs sessions against a backend under a load strategy and stamps every event.

Stamps come from one monotonic nanosecond clock, taken here and never in a backend: scheduled
(when the load wanted the request sent), sent, and the arrival of every chunk and token.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np

from bench.backends.base import Backend
from bench.run.timer import sleep_until
from bench.types import Request, Sample, Session

now_ns = time.monotonic_ns


async def measure(backend: Backend, req: Request, scheduled_ns: int, warmup: bool = False) -> Sample:
    """Send one request and stamp it. Failures become samples with `error` set, never exceptions."""
    sent = now_ns()
    token_ns: list[int] = []
    chunk_ns: list[int] = []
    ids: list[int] = []
    prompt_tokens, cached, error = len(req.prompt_token_ids), None, None
    thought, answer, first_answer = 0, None, None
    try:
        async for chunk in backend.stream(req):
            t = now_ns()
            n = chunk.count   # the hot path: once per streamed chunk, so nothing done twice
            if n:
                chunk_ns.append(t)
                if n == 1:
                    token_ns.append(t)
                else:
                    token_ns.extend([t] * n)
                ids += chunk.token_ids
            if chunk.answer_tokens is not None:    # a reasoning stream
                thought += chunk.reasoning_tokens
                answer = (answer or 0) + chunk.answer_tokens
                if first_answer is None and chunk.answer_tokens:
                    first_answer = t
            if chunk.prompt_tokens is not None:
                prompt_tokens = chunk.prompt_tokens
            if chunk.cached_prompt_tokens is not None:
                cached = chunk.cached_prompt_tokens
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        error = f"{reason}: {exc}" if str(exc) else reason
    if error is None and not token_ns and req.max_output_tokens > 0:
        error = "empty_response: no output tokens"
    done = now_ns()
    error = error or length_error(req, len(token_ns)) or thinking_error(req, thought, answer)
    tokens = tuple(token_ns)
    # One token per chunk (the common case): one tuple serves both, a third of a sample's memory
    # on long runs, where every sample stays in memory until the summary.
    chunks = tokens if len(chunk_ns) == len(token_ns) else tuple(chunk_ns)
    return Sample(request_id=req.id, task_id=req.task_id, scheduled_ns=scheduled_ns, sent_ns=sent,
                  token_ns=tokens, chunk_ns=chunks, prompt_tokens=prompt_tokens,
                  cached_prompt_tokens=cached, output_tokens=len(token_ns),
                  output_token_ids=tuple(ids), error=error, warmup=warmup, done_ns=done,
                  meta=dict(req.meta),  # a session's notes (step, tool wait) reach samples.jsonl
                  reasoning_tokens=thought if answer is not None else None, answer_tokens=answer,
                  first_answer_ns=first_answer)


def length_error(req: Request, streamed: int) -> str | None:
    """A forced-length request (ignore_eos) that streamed another number of tokens than it
    asked for did other work than the config says: an error sample, never a silent success.
    Checked here, once for every backend, on what really arrived."""
    if req.ignore_eos and streamed != req.max_output_tokens:
        return f"length_mismatch: streamed {streamed} of {req.max_output_tokens} forced output tokens"
    return None


def thinking_error(req: Request, thought: int, answer: int | None) -> str | None:
    """A reasoning request whose stream did not think and answer exactly as forced (or that the
    backend did not split into thought and answer) is an error sample, like a length mismatch."""
    if req.thinking_tokens is None:
        return None
    if answer is None:
        return "no_reasoning: the backend did not split the stream into thought and answer tokens"
    if thought != req.thinking_tokens or (req.answer_tokens is not None and answer != req.answer_tokens):
        return (f"thinking_mismatch: {thought} thought tokens of {req.thinking_tokens} forced, "
                f"{answer} answer tokens of {req.answer_tokens}")
    return None


@dataclass
class DriveStats:
    started_sessions: int = 0
    finished_sessions: int = 0
    t0_ns: int = 0
    end_ns: int = 0
    session_errors: list[str] = field(default_factory=list)
    aborted: str | None = None   # why the driver stopped starting sessions early (first such error)
    dead_workers: list[str] = field(default_factory=list)   # load worker processes that died (pool)
    finished_ids: list[str] = field(default_factory=list)   # session ids, in completion order (with a stop check only)
    stopped: str | None = None   # why the caller's `stop` check ended the run early


# Errors that mean nobody is listening any more: starting more sessions would only record the
# same error again, so the driver stops starting them and the run ends `partial`.
ABORT_REASONS = ("connect_refused",)


class Driver:
    def __init__(self, backend: Backend, on_sample: Callable[[Sample], None]):
        self.backend = backend
        self.on_sample = on_sample
        self.stats = DriveStats()

    async def close(self) -> None:
        """Nothing to release here; the worker pool, which has the same interface, has processes."""

    def _sender(self, first_scheduled_ns: int, warmup: bool):
        first = [True]

        async def send(req: Request, scheduled_ns: int | None = None) -> Sample:
            # A session's first request was due at its arrival time; later ones (the next
            # turn or agent step) are due when the session asks, unless it says otherwise.
            if scheduled_ns is None:
                scheduled_ns = first_scheduled_ns if first[0] else now_ns()
            first[0] = False
            sample = await measure(self.backend, req, scheduled_ns, warmup)
            self.on_sample(sample)
            if sample.error and sample.error.startswith(ABORT_REASONS) and self.stats.aborted is None:
                self.stats.aborted = sample.error
            return sample
        return send

    async def run(self, sessions: Iterator[Session], offsets: Iterator[float | None],
                  max_in_flight: int | None, count: int | None, duration_s: float | None,
                  warmup: bool = False, stop: Callable[[DriveStats], str | None] | None = None) -> DriveStats:
        """Start sessions at their offsets (or as slots free up) until count or duration is reached,
        or `stop` (asked before each start) gives a reason; sessions in flight then finish."""
        t0 = now_ns()
        deadline = t0 + int(duration_s * 1e9) if duration_s else None
        return await self.drive(_aiter(schedule(sessions, offsets, count, t0)), t0, max_in_flight,
                                deadline, warmup, stop)

    async def drive(self, items: AsyncIterator[tuple[Session, int | None]], t0_ns: int,
                    max_in_flight: int | None, deadline_ns: int | None, warmup: bool = False,
                    stop: Callable[[DriveStats], str | None] | None = None) -> DriveStats:
        """Start each (session, due ns or None: when a slot frees) in turn; a worker process
        drives the share the pool hands it through this same loop."""
        stats = self.stats = DriveStats(t0_ns=t0_ns)
        limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        track = stop is not None   # finished ids only for a stop check: a long run keeps none
        deadline = deadline_ns
        tasks: set[asyncio.Task] = set()

        async def one(session: Session, due_ns: int) -> None:
            try:
                await session.run(self._sender(due_ns, warmup))
            except Exception as exc:  # a broken session must not stop the others
                stats.session_errors.append(f"{session.id}: {type(exc).__name__}: {exc}")
            finally:
                stats.finished_sessions += 1
                if track:
                    stats.finished_ids.append(session.id)
                if limit:
                    limit.release()

        try:
            async for session, due in items:
                if stats.aborted:
                    break
                if due is not None:
                    if deadline and due >= deadline:
                        break
                    await sleep_until(due)
                if limit:
                    await limit.acquire()
                if stop and stats.stopped is None:
                    stats.stopped = stop(stats)
                if (deadline and now_ns() >= deadline) or stats.aborted or stats.stopped:
                    if limit:
                        limit.release()
                    break
                stats.started_sessions += 1
                task = asyncio.create_task(one(session, due if due is not None else now_ns()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            stats.end_ns = now_ns()
        return stats


def schedule(sessions: Iterator[Session], offsets: Iterator[float | None], count: int | None,
             t0_ns: int) -> Iterator[tuple[Session, int | None]]:
    """(session, due ns) pairs: a trace session's own arrival offset wins over the load's."""
    source = zip(sessions, offsets) if count is None else itertools.islice(zip(sessions, offsets), count)
    for session, offset in source:
        own = getattr(session, "scheduled_s", None)
        offset = own if own is not None else offset
        yield session, (t0_ns + int(offset * 1e9) if offset is not None else None)


async def _aiter(items: Iterator) -> AsyncIterator:
    for item in items:
        yield item


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7])  # the load's draws never share the workload's stream
