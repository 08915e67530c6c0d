"""One static batch of the hf backend: its jobs (a request and the callback into its stream),
the streamer that fans each generate step's tokens out per request, and the logits processor
that makes EOS impossible in the rows whose output length is forced."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.backends.base import Chunk
from bench.backends.think_split import ThinkSplit
from bench.types import Request

DONE = object()     # what a job's stream receives after its last chunk


@dataclass
class Job:
    request: Request
    emit: Any                                  # thread-safe callback into the request's queue
    sent: int = 0
    done: bool = False
    eos: int | None = field(default=None)
    split: ThinkSplit | None = None            # a reasoning model's stream: thought vs answer


class BatchStreamer:
    """Receives each step's new tokens for the whole batch and fans them out per request."""

    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:               # generate first puts the prompt itself
            self.prompt_seen = True
            return
        rows = value.reshape(len(self.jobs), -1).tolist()
        for job, new in zip(self.jobs, rows):
            if job.done:
                continue
            new = new[: job.request.max_output_tokens - job.sent]
            if not job.request.ignore_eos and job.eos in new:
                new = new[: new.index(job.eos) + 1]
                job.done = True
            job.sent += len(new)
            thought, answer = job.split.feed(new) if job.split else (0, None)
            job.emit(Chunk(token_ids=tuple(new), reasoning_tokens=thought, answer_tokens=answer))
            if job.sent >= job.request.max_output_tokens or job.done:
                job.done = True
                job.emit(DONE)

    def end(self) -> None:
        for job in self.jobs:
            if not job.done:
                job.done = True
                job.emit(DONE)


def eos_ids(*sources) -> tuple[int, ...]:
    """Every id that can end a sequence (tokenizer EOS, generation_config's one or list)."""
    ids = set()
    for src in sources:
        ids |= {src} if isinstance(src, int) else set(src or ())
    return tuple(sorted(ids))


def no_eos(jobs: list[Job], eos_ids: tuple[int, ...]):
    """A logits processor that makes EOS impossible in the rows whose length is forced, the
    same effect as vLLM's ignore_eos + min_tokens: the row runs to its max_output_tokens."""
    import torch
    from transformers import LogitsProcessor

    rows = [i for i, j in enumerate(jobs) if j.request.ignore_eos]

    class NoEOS(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if rows and eos_ids:
                r = torch.tensor(rows, device=scores.device)[:, None]
                scores[r, torch.tensor(eos_ids, device=scores.device)[None, :]] = float("-inf")
            return scores
    return NoEOS()


def force_thinking(jobs: list[Job], width: int, think: tuple[int, int]):
    """A logits processor that makes a thinking row's lengths exact: no think marker of the
    model's own while it thinks, `</think>` forced as new token number thinking_tokens (vLLM's
    thinking_token_budget does the same), and no marker in the answer. Every row of a static
    batch is at the same step: new tokens so far = input length - the padded prompt width."""
    from transformers import LogitsProcessor

    rows = [(i, j.request.thinking_tokens) for i, j in enumerate(jobs) if j.request.thinking_tokens is not None]
    start, end = think

    class ForceThinking(LogitsProcessor):
        def __call__(self, input_ids, scores):
            step = input_ids.shape[1] - width
            for i, budget in rows:
                if step == budget:
                    scores[i, :] = float("-inf")
                    scores[i, end] = 0.0
                else:
                    scores[i, start] = scores[i, end] = float("-inf")
            return scores
    return ForceThinking()
