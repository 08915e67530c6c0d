"""The one fake backend of the tests, for what a real model cannot be made to do on cue: answer
after a set delay, hold every request at a gate the test opens, or end a forced stream one token
short (an injected fault). Where the driver's own timing or a failure path is tested; everything
else runs a real model, engine or server."""
from __future__ import annotations

import asyncio

from bench.backends.base import Backend, Chunk


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, delay_s: float = 0.0, gated: bool = False, short_by: int = 0):
        self.delay_s, self.short_by = delay_s, short_by
        self.gate = asyncio.Event() if gated else None
        self.started: list[str] = []           # request ids, in the order they reached the backend
        self.in_flight = self.peak = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def stream(self, request):
        self.started.append(request.id)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        n = request.max_output_tokens - self.short_by
        if self.short_by:                      # one token per chunk, as a server that stops early
            for i in range(n):
                yield Chunk(token_ids=(i,))
        else:
            yield Chunk(token_ids=(1,) * n)


class Recording:
    """A real backend, keeping every request it was sent (the prompts a test checks)."""

    def __init__(self, backend):
        self.backend, self.requests = backend, {}

    def stream(self, request):
        self.requests[request.id] = request
        return self.backend.stream(request)
