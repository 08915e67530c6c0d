"""The narrow interface every backend implements. A backend times nothing: the driver does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

from pydantic import BaseModel, ConfigDict

from bench.types import Request


class BackendError(Exception):
    """A request failed inside the backend (engine error, HTTP error, stream cut).

    `reason` is a short code (`http_429`, `read_timeout`, `connect_refused`, `bad_sse`, ...) that
    the sample's error starts with, so errors are counted by reason; default `BackendError`.
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or "BackendError"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece of output. Token ids when the backend has them, else only a count."""
    token_ids: tuple[int, ...] = ()
    n_tokens: int | None = None                  # when ids are unknown (text-only servers)
    prompt_tokens: int | None = None             # server-reported usage, usually on the last chunk
    cached_prompt_tokens: int | None = None

    @property
    def count(self) -> int:
        return self.n_tokens if self.n_tokens is not None else len(self.token_ids)


class BackendOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backend:
    """Lifecycle: start() once, stream() many times concurrently, stop() once."""

    name = "base"
    Options: type[BackendOptions] = BackendOptions
    # True when copies of the backend in several processes can drive one target (a client of a
    # server); then `load.workers` may run it in worker processes (bench.run.workers).
    multiprocess_safe = False

    def __init__(self, model: str, options: dict[str, Any], seed: int = 0):
        self.model = model
        self.options = self.Options.model_validate(options)
        self.seed = seed

    async def start(self) -> None:
        pass

    def stream(self, request: Request) -> AsyncIterator[Chunk]:
        raise NotImplementedError

    async def stop(self) -> None:
        pass

    def stats(self) -> dict[str, float]:
        """Cumulative engine counters now; the runner stores the run's deltas."""
        return {}

    async def server_stats(self) -> dict[str, float] | None:
        """Cumulative counters a remote server exposes (Prometheus /metrics), None if it has none."""
        return None

    def info(self) -> dict[str, Any]:
        """Versions and settings for provenance."""
        return {"backend": self.name}
