"""Reasoning calls: a forced thinking length before the answer, and what later calls keep of it.

A thinking call's prompt ends with the think-start marker (the chat template opens the thought,
as DeepSeek-R1's does), so its output is exactly: `thinking_tokens` thought tokens, the think-end
marker, then the answer. Backends force both lengths (bench.backends: vLLM's
`thinking_token_budget`, HF's logits, the server's budget), and the driver checks them.

What a later call (the next chat turn, the next agent step) sees of earlier thoughts is the
workload's `thinking_history` policy, applied to the tokens themselves so the prompts' prefix
structure is exact:
- keep: every earlier call's `<think> thoughts </think>` stays in the context, so each prompt
  extends the previous prompt plus its whole output (the prefix cache covers all of it);
- drop: thoughts are removed, as most chat templates do: the context holds answers only, and a
  prompt shares with the previous call's prompt only what came before that call's think marker;
- last: only the most recent call's thoughts stay; older ones are removed when a new one arrives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, model_validator

from bench.errors import UserError
from bench.models.tiny import THINK_TOKENS
from bench.workloads.dists import Dist

THINK_START, THINK_END = THINK_TOKENS     # DeepSeek-R1's and Qwen3's, and the tiny model's
HistoryPolicy = Literal["keep", "drop", "last"]


class ThinkingFields(BaseModel):
    """The keys every reasoning workload adds beside its answer length (`output_tokens`)."""
    # Thought tokens per call (0 allowed: the call closes its thought at once); None = no thinking.
    thinking_tokens: Dist | None = None


class ThinkingHistoryFields(ThinkingFields):
    """Multi-call workloads also choose what later calls keep of earlier thoughts."""
    thinking_history: HistoryPolicy | None = None    # default with thinking_tokens: drop

    @model_validator(mode="after")
    def _history_needs_thinking(self):
        if self.thinking_history is not None and self.thinking_tokens is None:
            raise ValueError("thinking_history: needs thinking_tokens (a distribution of thought "
                             "lengths); without thinking there are no thoughts to keep or drop")
        return self

    @property
    def history_policy(self) -> HistoryPolicy:
        return self.thinking_history or "drop"


def draw_thinking(dist: Dist | None, rng, scale: float) -> int | None:
    """One call's thought length (>= 0), or None when the workload does not think."""
    return None if dist is None else dist.sample_int(rng, scale, low=0)


@dataclass(frozen=True, slots=True)
class ThinkMarkers:
    start: tuple[int, ...]
    end: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer) -> ThinkMarkers:
        """The model's own ids for `<think>` and `</think>`; a tokenizer without them cannot
        host a reasoning workload (its thoughts could not be told from its answer)."""
        ids = [tuple(tokenizer.encode(t, add_special_tokens=False)) for t in (THINK_START, THINK_END)]
        if any(len(i) != 1 for i in ids):
            raise UserError(str(getattr(tokenizer, "name_or_path", "model")), missing_markers())
        return cls(*ids)

    def output_tokens(self, thinking: int | None, answer: int) -> int:
        """All tokens a call generates: thoughts, the end marker, the answer."""
        return answer if thinking is None else thinking + len(self.end) + answer

    def split(self, output: tuple[int, ...], thinking: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(the thought block as a kept history holds it: start + thoughts + end, the answer)."""
        cut = thinking + len(self.end)
        return self.start + tuple(output[:cut]), tuple(output[cut:])


def missing_markers() -> str:
    return (f"workload.thinking_tokens: the model's tokenizer has no single token for {THINK_START} and "
            f"{THINK_END} (a reasoning model's has; the built-in tiny model's too)")


def markers_problem(model_path: str) -> str | None:
    """Whether a local model folder's tokenizer.json lacks the think tokens, read with `tokenizers`
    alone (no torch: `bench validate` stays fast); None when fine or when it cannot tell here."""
    from pathlib import Path

    file = Path(model_path).expanduser() / "tokenizer.json"
    if not file.is_file():
        return None
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(file))
    except Exception:
        return None        # loading it is the run's business; it says why there
    ids = [tok.encode(t, add_special_tokens=False).ids for t in (THINK_START, THINK_END)]
    return None if all(len(i) == 1 for i in ids) else missing_markers()


class ThoughtContext:
    """A growing context (a conversation, an agent's context) under a history policy."""

    def __init__(self, tokens, policy: HistoryPolicy, markers: ThinkMarkers):
        self.tokens: list[int] = list(tokens)
        self.policy, self.markers = policy, markers
        self._last: tuple[int, int] | None = None   # span of the one kept thought ("last")

    def prompt(self, thinking: int | None) -> tuple[int, ...]:
        """The next call's prompt: a thinking call's ends with the think-start marker."""
        return tuple(self.tokens) + (self.markers.start if thinking is not None else ())

    def extend(self, tokens) -> None:
        self.tokens.extend(tokens)

    def visible(self, output: tuple[int, ...], thinking: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(what later calls see of a reply's thought block under the policy, its answer)."""
        block, answer = self.markers.split(output, thinking)
        return (() if self.policy == "drop" else block), answer

    def drop_last(self) -> None:
        """'last': the previous kept thought leaves when a new one comes."""
        if self.policy == "last" and self._last is not None:
            a, b = self._last
            del self.tokens[a:b]
            self._last = None

    def mark(self, start: int, length: int) -> None:
        """Where the newest kept thought block sits in `tokens`."""
        self._last = (start, start + length) if length else None

    def add_reply(self, output: tuple[int, ...], thinking: int | None) -> None:
        """What later calls see of a reply: its answer, after its thoughts if the policy keeps them."""
        if thinking is None:
            self.tokens.extend(output)
            return
        block, answer = self.visible(output, thinking)
        self.drop_last()
        self.mark(len(self.tokens), len(block))
        self.tokens.extend(block + answer)


def reply_answer(output: tuple[int, ...], thinking: int | None, markers: ThinkMarkers | None) -> tuple[int, ...]:
    """The answer part of a reply (what a sub-agent hands back, what a summary is)."""
    return tuple(output) if thinking is None or markers is None else markers.split(output, thinking)[1]


def cached_prefix_tokens(cached: tuple[int, ...], prompt: tuple[int, ...], block: int) -> int:
    """Prompt tokens a block-granular prefix cache holding `cached` serves for `prompt`: whole
    blocks of their common prefix, and never the prompt's last token (vLLM computes it anew to
    get its logits). The prediction the keep/drop history policies are checked against."""
    n = 0
    for a, b in zip(cached, prompt):
        if a != b:
            break
        n += 1
    n = min(n, len(prompt) - 1)
    return max(0, n) // block * block
