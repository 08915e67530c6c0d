"""A closed-loop agentic reasoning task: a ReAct loop of dependent LLM calls over a growing context.

Context = static prefix (system prompt + tool schemas, identical across tasks) + task statement,
then per step: the model's real output, then the tools' observations. A step is sent only after
the previous step's last token arrived and its tools finished (parallel calls: the slowest one),
so step k+1 is due at (step k's last token + tool latency) and is stamped as scheduled then.
A step may instead spawn sub-agents: child loops from the static prefix that run concurrently
and whose final outputs (their summaries) join the parent's context. Near the model's limit the
context is compacted by an LLM call: prefix + task + the call's real output replace it.

The structure of a task (steps, lengths, latencies, spawns) is a plan drawn from (seed, task
index) alone; only the model's output tokens come from the run. A reasoning agent
(`thinking_tokens`) thinks before each step; `thinking_history` says what later steps keep of
earlier thoughts, a sub-agent's summary and a parent's hand-off are answers only, and the
compaction call does not think (bench.workloads.thinking).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from bench.workloads.dists import MAX_COUNT, Dist
from bench.types import Request, Send
from bench.workloads.base import STRICT, Workload, WorkloadParams, session_rng
from bench.workloads.steps import StepFailed, wait_meta, wait_until
from bench.workloads.thinking import ThinkingHistoryFields, ThinkMarkers, ThoughtContext, draw_thinking
from bench.workloads.tokens import PromptFactory


class _Strict(BaseModel):
    model_config = STRICT


class LatencyComponent(_Strict):
    weight: float = Field(gt=0)
    latency_s: Dist


class SubagentParams(_Strict):
    probability: float = Field(default=0.0, ge=0, le=1, description="per step (not the last)")
    count: Dist | None = None              # children per spawn
    steps: Dist | None = None              # steps per child
    summary_tokens: Dist | None = None     # a child's last output, returned to the parent

    @model_validator(mode="after")
    def _need(self):
        if self.probability > 0 and None in (self.count, self.steps, self.summary_tokens):
            raise ValueError("subagents with probability > 0 need count, steps and summary_tokens")
        return self


class CompactionParams(_Strict):
    at_fraction: float = Field(default=0.9, gt=0, le=1, description="of context_limit_tokens")
    instruction_tokens: int = Field(default=200, ge=0)
    summary_tokens: int = Field(default=2000, ge=1)


class StopParams(_Strict):
    mode: Literal["steps", "model"] = "steps"   # model: EOS or the marker ends the task
    max_steps: int = Field(default=100, ge=1, le=MAX_COUNT)   # the cap in model mode
    marker: str | None = None


class AgenticParams(ThinkingHistoryFields, WorkloadParams):
    kind: Literal["agentic"] = "agentic"
    prefix_tokens: int = Field(default=6000, ge=0)
    task_tokens: Dist
    steps: Dist
    output_tokens: Dist
    observation_tokens: Dist
    tool_latency: list[LatencyComponent] = Field(min_length=1)
    tool_latency_factor: float = Field(default=1.0, ge=0, description="0 turns tool time off")
    # parallel calls per step -> weight
    tool_calls_per_step: dict[Annotated[int, Field(ge=1, le=MAX_COUNT)], Annotated[float, Field(ge=0)]] = \
        Field(default_factory=lambda: {1: 1.0}, min_length=1)
    subagents: SubagentParams = Field(default_factory=SubagentParams)
    compaction: CompactionParams = Field(default_factory=CompactionParams)
    context_limit_tokens: int = Field(default=131072, ge=16, description="the model's limit; not scaled")
    stop: StopParams = Field(default_factory=StopParams)

    def scaled(self, n: int) -> int:
        return int(round(n * self.scale))

    @model_validator(mode="after")
    def _fits(self):
        if any(k < 1 or w < 0 for k, w in self.tool_calls_per_step.items()) or \
                sum(self.tool_calls_per_step.values()) <= 0:
            raise ValueError("tool_calls_per_step: counts >= 1 with non-negative weights")
        c = self.compaction
        need = self.scaled(self.prefix_tokens) + 2 * (self.scaled(c.summary_tokens) + self.scaled(c.instruction_tokens))
        if need > int(self.context_limit_tokens * c.at_fraction):
            raise ValueError(f"prefix + compaction take {need} tokens: more than "
                             f"context_limit_tokens x compaction.at_fraction (lower scale or raise the limit)")
        return self


@dataclass(frozen=True, slots=True)
class ToolCall:
    latency_s: float
    observation_tokens: int


@dataclass(frozen=True, slots=True)
class StepPlan:
    max_output_tokens: int
    tools: tuple[ToolCall, ...] = ()
    subagents: tuple[AgentPlan, ...] = ()
    thinking_tokens: int | None = None     # thoughts before this step's answer; None: no thinking


@dataclass(frozen=True, slots=True)
class AgentPlan:
    path: str                              # "a3" for task 3, "a3.s2.c1" for a child of its step 2
    task: tuple[int, ...]                  # the task statement's tokens
    steps: tuple[StepPlan, ...]


class AgenticWorkload(Workload):
    Params = AgenticParams
    unit = "task"
    sessions_are_tasks = True

    def __init__(self, params: AgenticParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)
        p = params
        self.prefix = self.prompts.keyed(("agent-prefix",), p.scaled(p.prefix_tokens))
        self.instruction = self.prompts.keyed(("compact",), p.scaled(p.compaction.instruction_tokens))
        self.summary_tokens = max(1, p.scaled(p.compaction.summary_tokens))
        self.threshold = min(int(p.context_limit_tokens * p.compaction.at_fraction),
                             p.context_limit_tokens - len(self.instruction) - self.summary_tokens)
        self.eos_id = getattr(tokenizer, "eos_token_id", None)
        self.markers = ThinkMarkers.of(tokenizer) if p.thinking_tokens is not None else None
        marker = p.stop.marker
        self.marker = tuple(tokenizer.encode(marker, add_special_tokens=False)) if marker else ()
        counts = sorted(p.tool_calls_per_step)
        weights = np.asarray([p.tool_calls_per_step[k] for k in counts], dtype=float)
        self.call_counts, self.call_p = counts, weights / weights.sum()
        lw = np.asarray([c.weight for c in p.tool_latency], dtype=float)
        self.latency_p = lw / lw.sum()

    def plan(self, index: int) -> AgentPlan:
        p = self.params
        rng = session_rng(self.seed, index)
        n = p.stop.max_steps if p.stop.mode == "model" else int(round(p.steps.sample(rng)))
        return self._plan(rng, f"a{index}", max(1, n), child=False)

    def _plan(self, rng: np.random.Generator, path: str, n_steps: int, child: bool) -> AgentPlan:
        p = self.params
        task = self.prompts.tokens(rng, p.task_tokens.sample_int(rng, p.scale))
        steps = []
        for k in range(n_steps):
            last = k == n_steps - 1
            out_dist = p.subagents.summary_tokens if (child and last) else p.output_tokens
            max_out = out_dist.sample_int(rng, p.scale)
            think = draw_thinking(p.thinking_tokens, rng, p.scale)   # no draw without thinking
            if last:
                steps.append(StepPlan(max_out, thinking_tokens=think))
            elif not child and p.subagents.probability and rng.random() < p.subagents.probability:
                kids = tuple(self._plan(np.random.default_rng(int(rng.integers(2**62))), f"{path}.s{k}.c{j}",
                                        max(1, int(round(p.subagents.steps.sample(rng)))), child=True)
                             for j in range(max(1, int(round(p.subagents.count.sample(rng))))))
                steps.append(StepPlan(max_out, subagents=kids, thinking_tokens=think))
            else:
                n_calls = int(rng.choice(self.call_counts, p=self.call_p))
                steps.append(StepPlan(max_out, tools=tuple(self._tool(rng) for _ in range(n_calls)),
                                      thinking_tokens=think))
        return AgentPlan(path, task, tuple(steps))

    def _tool(self, rng: np.random.Generator) -> ToolCall:
        p = self.params
        comp = p.tool_latency[int(rng.choice(len(p.tool_latency), p=self.latency_p))]
        latency = max(0.0, comp.latency_s.sample(rng)) * p.tool_latency_factor
        return ToolCall(latency, p.observation_tokens.sample_int(rng, p.scale))

    def observation(self, path: str, step: int, call: int, n: int) -> tuple[int, ...]:
        return self.prompts.keyed(("obs", path, step, call), n)

    def session(self, index: int) -> AgentTask:
        return AgentTask(f"a{index}", self, self.plan(index))


def stopped(output: tuple[int, ...], eos_id: int | None, marker: tuple[int, ...]) -> bool:
    """Model-decides mode: the task ends when a step's output holds EOS or the stop marker."""
    if eos_id is not None and eos_id in output:
        return True
    m = len(marker)
    return m > 0 and any(output[i:i + m] == marker for i in range(len(output) - m + 1))


@dataclass(frozen=True, slots=True)
class AgentTask:
    id: str
    workload: AgenticWorkload
    plan: AgentPlan
    scheduled_s: float | None = None

    async def run(self, send: Send) -> None:
        w = self.workload
        await self._loop(send, self.plan, w.prefix + self.plan.task)

    async def _loop(self, send: Send, plan: AgentPlan, base: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """Run one agent's steps; return its last output (a child's summary) and last token time."""
        w = self.workload
        model_mode = w.params.stop.mode == "model"
        ctx, due, wait = list(base), None, {}
        tc = ThoughtContext(base, w.params.history_policy, w.markers) if w.markers else None
        for k, step in enumerate(plan.steps):
            think = step.thinking_tokens if tc else None
            room = w.params.context_limit_tokens - len(ctx) - (think + 2 if think is not None else 0)
            max_out = max(1, min(step.max_output_tokens, room))
            meta = {"agent": plan.path, "step": k, "tool_calls": len(step.tools),
                    "subagents": len(step.subagents), **wait}
            if tc is None:
                sent = Request(id=f"{plan.path}.s{k}", prompt_token_ids=tuple(ctx), max_output_tokens=max_out,
                               task_id=self.id, ignore_eos=not model_mode, meta=meta)
            else:
                sent = Request(id=f"{plan.path}.s{k}", prompt_token_ids=tc.prompt(think),
                               max_output_tokens=w.markers.output_tokens(think, max_out), task_id=self.id,
                               ignore_eos=not model_mode, meta=meta, thinking_tokens=think,
                               answer_tokens=max_out if not model_mode else None)
            sample = await send(sent, due)
            if not sample.ok:
                raise StepFailed(sample)
            out = sample.output_token_ids
            block: tuple[int, ...] = ()
            if tc is not None:      # later steps see the answer, after its thoughts if the policy keeps them
                block, out = tc.visible(out, think)
            if k == len(plan.steps) - 1 or (model_mode and stopped(out, w.eos_id, w.marker)):
                return out, sample.end_ns
            new = list(block + out)
            if tc is not None:
                tc.drop_last()
                ctx = tc.tokens
            if step.subagents:
                done = await asyncio.gather(*(self._loop(send, c, w.prefix + out + c.task)
                                              for c in step.subagents))
                for summary, _ in done:
                    new.extend(summary)
                due, wait = max(end for _, end in done), {}
            else:
                due = sample.end_ns + int(max(t.latency_s for t in step.tools) * 1e9)
                wait = wait_meta("tool", sample.end_ns, due)
                await wait_until(due)
                for j, t in enumerate(step.tools):
                    new.extend(w.observation(plan.path, k, j, t.observation_tokens))
            ctx, due, wait, at = await self._append(send, ctx, base, new, plan.path, k, due, wait)
            if tc is not None:
                tc.tokens = ctx
                tc.mark(at, min(len(block), len(ctx) - at))
        raise AssertionError("unreachable: the last step returns")

    async def _append(self, send: Send, ctx: list[int], base: tuple[int, ...], new: list[int],
                      path: str, k: int, due: int | None, wait: dict):
        """Append a step's output and observations, compacting first when they would not fit; also
        say where they start in the new context."""
        w = self.workload
        if len(ctx) + len(new) <= w.threshold:
            return ctx + new, due, wait, len(ctx)
        req = Request(id=f"{path}.s{k}.compact", prompt_token_ids=tuple(ctx) + w.instruction,
                      max_output_tokens=w.summary_tokens, task_id=self.id,
                      meta={"agent": path, "step": k, "kind": "compaction", **wait})
        sample = await send(req, due)
        if not sample.ok:
            raise StepFailed(sample)
        ctx = list(base) + list(sample.output_token_ids)
        room = max(0, w.threshold - len(ctx))
        return ctx + new[:room], None, {}, len(ctx)  # the step's output first; long tool output is cut at its end
