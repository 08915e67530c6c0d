"""The narrow interface every backend implements. A backend times nothing: the driver does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict

from bench.types import Request

if TYPE_CHECKING:
    from bench.backends.machine import Machine, Problem, Replacement


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
    # A reasoning stream says which of the chunk's tokens are thought and which answer (the
    # think markers are neither); answer_tokens None: the backend does not split (no reasoning).
    reasoning_tokens: int = 0
    answer_tokens: int | None = None

    @property
    def count(self) -> int:
        return self.n_tokens if self.n_tokens is not None else len(self.token_ids)


class BackendOptions(BaseModel):
    # strict: a mapping, a list or a quoted number is refused where a name or a number belongs,
    # at load, never coerced; inf and nan are refused wherever a number is.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Backend:
    """Lifecycle: start() once, stream() many times concurrently, stop() once.

    What a backend can report, declared here so that metrics and experiments never test a
    backend's name (a new backend is its file plus one registry line, measured in an A/B
    experiment too): the KV-cache element size its options give, whether its options make it
    speculative and the acceptance metrics it can give then, teacher-forced fidelity (live through
    `prompt_logprobs` on the started backend, or offline from the class after the runs), engine
    counters (`stats`) and server counters (`server_stats`). Option-only answers are classmethods
    over the options as a dict: experiments ask them from stored run settings.
    """

    name = "base"
    Options: type[BackendOptions] = BackendOptions
    # Installed distributions whose version is "the backend's version" when info() has none.
    version_dists: tuple[str, ...] = ()
    # Talks to a server, so a run may start one for it (the config's `server` block).
    uses_server = False
    # Teacher-forced fidelity: "live" = prompt_logprobs() on the started backend, computed by the
    # run stage while an experiment's arms are up; "offline" = teacher_forced_offline() after the
    # runs; None = not measured.
    teacher_forced: str | None = None
    # True when copies of the backend in several processes can drive one target (a client of a
    # server); then `load.workers` may run it in worker processes (bench.run.workers).
    multiprocess_safe = False
    # Forces a request's thinking length (Request.thinking_tokens) and splits its stream into
    # thought and answer tokens (Chunk.reasoning_tokens / answer_tokens).
    reasoning = False

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

    async def prompt_logprobs(self, token_ids: list[int], k: int) -> list[dict[int, float]]:
        """Log-probabilities of the next token after each prefix of `token_ids` (entry j: given
        token_ids[:j+1]; len(token_ids) - 1 entries), each the top `k` ids plus the actual next
        token. Only where teacher_forced == "live"."""
        raise NotImplementedError

    @classmethod
    def preflight(cls, options: dict[str, Any], machine: Machine,
                  model_cfg: dict[str, Any]) -> Problem | Replacement | None:
        """Whether this machine can run these options, asked before anything runs (bench.backends.
        preflight): None = it can; a Problem = it cannot (the run is skipped, with the reason); a
        Replacement = equivalent options that it can run. Facts only (`machine`, the model's
        config.json or {}): never import the backend's library here."""
        return None

    @classmethod
    def teacher_forced_offline(cls, model_path: str, base_options: dict[str, Any],
                               treat_options: dict[str, Any], base_samples: list,
                               prompts: dict[str, tuple[int, ...]]) -> dict[str, float]:
        """tf_* metrics (bench.metrics.fidelity) of the treatment's options on the baseline's
        output tokens, computed after the runs. Only where teacher_forced == "offline"."""
        return {}

    @classmethod
    def reasoning_problem(cls, options: dict[str, Any]) -> str | None:
        """Why these options cannot run a reasoning workload (asked at load); None: they can."""
        return None if cls.reasoning else f"workload.thinking_tokens: backend {cls.name} cannot force thinking lengths"

    @classmethod
    def weight_dtype(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> str | None:
        """The dtype the weights load in with these options ('auto': the checkpoint's)."""
        dtype = options.get("dtype")
        return model_cfg.get("torch_dtype") or model_cfg.get("dtype") if dtype in (None, "auto") else str(dtype)

    @classmethod
    def kv_element_bytes(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> float | None:
        """Bytes per KV-cache element with these options (nominal: no scales, no padding);
        default: the weights' dtype; None when unknown."""
        from bench.metrics.roofline import dtype_bytes

        return float(dtype_bytes(cls.weight_dtype(model_cfg, options), 2))

    @classmethod
    def is_speculative(cls, options: dict[str, Any]) -> bool:
        """Whether these options make the backend decode speculatively."""
        return False

    @classmethod
    def spec_metrics(cls, options: dict[str, Any], engine: dict[str, float], samples: list) -> dict[str, float]:
        """Acceptance metrics (bench.metrics.speculative) of a speculative run from its engine counter
        deltas or its samples; {} when the backend cannot tell."""
        return {}
