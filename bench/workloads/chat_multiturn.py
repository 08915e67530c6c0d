"""Multi-turn chat: each turn's prompt is the whole conversation so far plus a new user message.

Closed loop: turn k+1's prompt contains the tokens the model really produced in turn k, and
turn k+1 is due when turn k's last token arrived plus the user's think time. A reasoning
conversation (`thinking_tokens`) thinks before each reply; `thinking_history` says what later
turns keep of earlier thoughts (bench.workloads.thinking).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from bench.workloads.dists import Dist
from bench.types import Request, Send
from bench.workloads.base import Workload, WorkloadParams, session_rng
from bench.workloads.steps import StepFailed, wait_meta, wait_until
from bench.workloads.thinking import (HistoryPolicy, ThinkingHistoryFields, ThinkMarkers, ThoughtContext,
                                      draw_thinking)
from bench.workloads.tokens import PromptFactory


class ChatMultiturnParams(ThinkingHistoryFields, WorkloadParams):
    kind: Literal["chat_multiturn"] = "chat_multiturn"
    turns: Dist                            # user turns per conversation
    system_tokens: int = Field(default=0, ge=0)   # shared by every conversation (prefix-cacheable)
    first_message_tokens: Dist             # the opening message (often carries pasted context)
    user_message_tokens: Dist              # each later user message
    output_tokens: Dist
    think_time_s: Dist | None = None       # between a reply's last token and the next message
    think_time_factor: float = Field(default=1.0, ge=0, description="0 turns think time off")
    context_limit_tokens: int = Field(default=131072, ge=16, description="the model's limit; not scaled")


@dataclass(frozen=True, slots=True)
class Turn:
    message: tuple[int, ...]
    max_output_tokens: int
    think_s: float                         # before this turn's message (0 for the first)
    thinking_tokens: int | None = None     # the reply's forced thought length; None: no thinking


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    system: tuple[int, ...]
    turns: tuple[Turn, ...]
    context_limit_tokens: int
    scheduled_s: float | None = None
    markers: ThinkMarkers | None = None    # a reasoning conversation's think markers
    history: HistoryPolicy = "drop"

    async def run(self, send: Send) -> None:
        if self.markers is not None:
            return await self._run_thinking(send)
        history: list[int] = list(self.system)
        prev_end = None
        for k, turn in enumerate(self.turns):
            meta, scheduled = await self._user_turn(k, turn, prev_end)
            history.extend(turn.message)
            prompt = self._fit(history, turn.max_output_tokens)
            req = Request(id=f"{self.id}-t{k}", prompt_token_ids=prompt, task_id=self.id,
                          max_output_tokens=turn.max_output_tokens, meta=meta)
            sample = await send(req, scheduled)
            if not sample.ok:
                raise StepFailed(sample)
            history.extend(sample.output_token_ids)
            prev_end = sample.end_ns

    @staticmethod
    async def _user_turn(k: int, turn, prev_end: int | None) -> tuple[dict, int | None]:
        """A turn's meta and send time: after the first, the user's think time past the last reply."""
        meta: dict = {"step": k}
        if prev_end is None:
            return meta, None
        scheduled = prev_end + int(turn.think_s * 1e9)
        meta |= wait_meta("think", prev_end, scheduled)
        await wait_until(scheduled)
        return meta, scheduled

    async def _run_thinking(self, send: Send) -> None:
        """The same loop for a reasoning model: each prompt ends with the think marker and the
        context keeps what the history policy says of each reply's thoughts."""
        ctx = ThoughtContext(self.system, self.history, self.markers)
        prev_end = None
        for k, turn in enumerate(self.turns):
            meta, scheduled = await self._user_turn(k, turn, prev_end)
            ctx.extend(turn.message)
            n_out = self.markers.output_tokens(turn.thinking_tokens, turn.max_output_tokens)
            prompt = self._fit(list(ctx.prompt(turn.thinking_tokens)), n_out)
            req = Request(id=f"{self.id}-t{k}", prompt_token_ids=prompt, task_id=self.id,
                          max_output_tokens=n_out, meta=meta, thinking_tokens=turn.thinking_tokens,
                          answer_tokens=turn.max_output_tokens if turn.thinking_tokens is not None else None)
            sample = await send(req, scheduled)
            if not sample.ok:
                raise StepFailed(sample)
            ctx.add_reply(sample.output_token_ids, turn.thinking_tokens)
            prev_end = sample.end_ns

    def _fit(self, history: list[int], max_out: int) -> tuple[int, ...]:
        """Over the limit, the oldest turns go first (the system prompt stays), as chat UIs do."""
        room = self.context_limit_tokens - max_out
        if len(history) <= room:
            return tuple(history)
        keep = max(room - len(self.system), 1)
        return tuple(self.system) + tuple(history[-keep:])


class ChatMultiturnWorkload(Workload):
    Params = ChatMultiturnParams
    unit = "turn"                          # token inflation counts per request (one turn)
    sessions_are_tasks = True

    def __init__(self, params: ChatMultiturnParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)
        self.system = self.prompts.keyed(("system",), int(round(params.system_tokens * params.scale)))
        self.markers = ThinkMarkers.of(tokenizer) if params.thinking_tokens is not None else None

    def session(self, index: int) -> Conversation:
        p = self.params
        rng = session_rng(self.seed, index)
        turns = []
        for k in range(max(1, int(round(p.turns.sample(rng))))):
            dist = p.first_message_tokens if k == 0 else p.user_message_tokens
            n_in = dist.sample_int(rng, p.scale)
            n_out = min(p.output_tokens.sample_int(rng, p.scale), p.context_limit_tokens // 2)
            think = p.think_time_s.sample(rng) * p.think_time_factor if (p.think_time_s and k) else 0.0
            thought = draw_thinking(p.thinking_tokens, rng, p.scale)
            turns.append(Turn(self.prompts.tokens(rng, n_in), n_out, max(0.0, think), thought))
        return Conversation(f"c{index}", self.system, tuple(turns), p.context_limit_tokens,
                            markers=self.markers, history=p.history_policy)
