"""What multi-step sessions (chat turns, agent steps) share: waiting for a due time and saying so.

A wait (a user's think time, a tool call) is recorded on the request that follows it, in
`Request.meta` (the driver copies it into the sample), so task metrics can split a task's time
into model, tool and client time from samples.jsonl alone.
"""
from __future__ import annotations

import asyncio
import time

from bench.types import Sample

now_ns = time.monotonic_ns


async def wait_until(due_ns: int) -> None:
    """Sleep until `due_ns` on the driver's clock; late wake-ups show up as send lag."""
    delay = (due_ns - now_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


def wait_meta(kind: str, start_ns: int, end_ns: int) -> dict:
    """The modelled wait before a request: [start, end) on the driver's clock."""
    return {"wait_kind": kind, "wait_start_ns": int(start_ns), "wait_end_ns": int(end_ns)}


class StepFailed(RuntimeError):
    """A step failed, so a closed loop cannot go on (its next prompt needs this step's output)."""

    def __init__(self, sample: Sample):
        super().__init__(f"request {sample.request_id} failed: {sample.error}")
