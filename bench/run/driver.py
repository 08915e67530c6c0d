"""Runs sessions against a backend under a load strategy and stamps every event.

Stamps come from one monotonic nanosecond clock, taken here and never in a backend: scheduled
(when the load wanted the request sent), sent, and the arrival of every chunk and token.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from bench.backends.base import Backend
from bench.types import Request, Sample, Session

now_ns = time.monotonic_ns

# asyncio's epoll sleeps in whole milliseconds, rounded up, so a plain sleep sends up to 1 ms
# late plus the wake-up. The driver sleeps to SPIN_NS before a send is due and then yields to
# the loop (other tasks still run) until it is due. The busy-wait costs CPU, at most SPIN_NS
# per send: open-loop runs look busier in client_loop_cpu_util than their work is.
SPIN_NS = 1_500_000


async def sleep_until(due_ns: int) -> None:
    delay = due_ns - now_ns()
    if delay > SPIN_NS:
        await asyncio.sleep((delay - SPIN_NS) / 1e9)
    while now_ns() < due_ns:
        await asyncio.sleep(0)


async def measure(backend: Backend, req: Request, scheduled_ns: int, warmup: bool = False) -> Sample:
    """Send one request and stamp it. Failures become samples with `error` set, never exceptions."""
    sent = now_ns()
    token_ns: list[int] = []
    chunk_ns: list[int] = []
    ids: list[int] = []
    prompt_tokens, cached, error = len(req.prompt_token_ids), None, None
    try:
        async for chunk in backend.stream(req):
            t = now_ns()
            if chunk.count:
                chunk_ns.append(t)
                token_ns.extend([t] * chunk.count)
                ids.extend(chunk.token_ids)
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
    return Sample(request_id=req.id, task_id=req.task_id, scheduled_ns=scheduled_ns, sent_ns=sent,
                  token_ns=tuple(token_ns), chunk_ns=tuple(chunk_ns), prompt_tokens=prompt_tokens,
                  cached_prompt_tokens=cached, output_tokens=len(token_ns),
                  output_token_ids=tuple(ids), error=error, warmup=warmup,
                  meta=dict(req.meta))  # a session's notes (step, tool wait) reach samples.jsonl


@dataclass
class DriveStats:
    started_sessions: int = 0
    finished_sessions: int = 0
    t0_ns: int = 0
    end_ns: int = 0
    session_errors: list[str] = field(default_factory=list)
    aborted: str | None = None   # why the driver stopped starting sessions early (first such error)
    finished_ids: list[str] = field(default_factory=list)   # session ids, in completion order
    stopped: str | None = None   # why the caller's `stop` check ended the run early


# Errors that mean nobody is listening any more: starting more sessions would only record the
# same error again, so the driver stops starting them and the run ends `partial`.
ABORT_REASONS = ("connect_refused",)


class Driver:
    def __init__(self, backend: Backend, on_sample: Callable[[Sample], None]):
        self.backend = backend
        self.on_sample = on_sample
        self.stats = DriveStats()

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
        stats = self.stats = DriveStats(t0_ns=now_ns())
        limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        deadline = stats.t0_ns + int(duration_s * 1e9) if duration_s else None
        tasks: set[asyncio.Task] = set()

        async def one(session: Session, due_ns: int) -> None:
            try:
                await session.run(self._sender(due_ns, warmup))
            except Exception as exc:  # a broken session must not stop the others
                stats.session_errors.append(f"{session.id}: {type(exc).__name__}: {exc}")
            finally:
                stats.finished_sessions += 1
                stats.finished_ids.append(session.id)
                if limit:
                    limit.release()

        source = zip(sessions, offsets) if count is None else itertools.islice(zip(sessions, offsets), count)
        try:
            for session, offset in source:
                if stats.aborted:
                    break
                own = getattr(session, "scheduled_s", None)
                offset = own if own is not None else offset
                if offset is not None:
                    due = stats.t0_ns + int(offset * 1e9)
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
                due = stats.t0_ns + int(offset * 1e9) if offset is not None else now_ns()
                stats.started_sessions += 1
                task = asyncio.create_task(one(session, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            stats.end_ns = now_ns()
        return stats


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7])  # the load's draws never share the workload's stream
