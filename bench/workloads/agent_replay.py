"""Replay of recorded agent sessions, closed loop and output-aware (issue 15).

Each recorded session is one task. Closed loop (the default): call k+1 is sent when call k's last
token arrived plus the recorded gap before it (think or tool time) x `gap_factor`, so a slower
server delays the agent's next step as it would a real agent. Sub-agents start after the call
that spawned them (plus their recorded delay) and run concurrently; a parent call recorded after
a sub-agent returned waits for that sub-agent's live end.

Prompts keep the recorded prefix structure: the recorded `hash_ids` name the prompt's blocks, and
a block id gets its tokens once per session (id spelled first, then a pool slice:
tokens.distinct_block), so the same id is the same tokens wherever it recurs and a prefix cache
sees exactly the recorded reuse. A call that continues an earlier one (its ids start with all of
that call's ids) starts with that call's actual prompt followed by the output the model really
produced (as much as the recorded length leaves room for): the live output stands where the
recorded one was, and the blocks holding it keep those tokens for later calls. Lengths are the
recorded ones x `scale`: round(n x scale) (Python's round: halves to even, at least 1 token); a
block covers positions [round(i x b), round((i+1) x b)) with b = block size x scale, so blocks
shrink to fractions of a token without moving any boundary.

`open_loop: true` replays the peers' way, for contrast: every call at its recorded time
(x `time_scale`) from the session's start, with recorded lengths and no live outputs.

Each request's meta carries `shared_tokens`: the prompt tokens it shares with what earlier calls of
the session computed (prompt, and for a continuation also that call's output but its last
token), which is what a prefix cache can hit.
"""
from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Literal
from collections.abc import Iterator

from pydantic import Field, model_validator

from bench.errors import UserError
from bench.logs import agent_sessions
from bench.logs.agent_sessions import Agent, Call
from bench.types import Request, Send, SingleRequest
from bench.workloads.base import Workload, WorkloadParams
from bench.workloads.steps import StepFailed, now_ns, wait_meta, wait_until
from bench.workloads.tokens import PromptFactory, distinct_block, hash_key
from bench.workloads.trace import resolve_path


class AgentReplayParams(WorkloadParams):
    kind: Literal["agent_replay"] = "agent_replay"
    format: Literal["auto", "sessions", "otel", "tracelab"] = "auto"
    path: str = Field(description="a file, a directory (its .json/.jsonl files, sorted) or a glob")
    start: int = Field(default=0, ge=0, description="first session (in file order)")
    count: int | None = Field(default=None, ge=1, description="at most this many sessions")
    gap_factor: float = Field(default=1.0, ge=0, description="x recorded think/tool gaps; 0: none")
    open_loop: bool = False
    time_scale: float = Field(default=1.0, ge=0, description="open loop: x recorded call times")
    context_limit_tokens: int = Field(default=131072, ge=2, description="longer prompts keep their head")

    @model_validator(mode="after")
    def _readable(self):
        if not window(self):   # a malformed file: a UserError naming the file and the call
            raise ValueError(f"no sessions from start {self.start} (count {self.count})")
        return self


def files(path: str) -> tuple[Path, ...]:
    p = resolve_path(path)
    if p.is_dir():
        found = sorted(x for x in p.iterdir() if x.is_file() and x.suffix in (".json", ".jsonl"))
    elif p.is_file():
        found = [p]
    else:
        found = sorted(Path().glob(path)) if any(c in path for c in "*?[") else []
    if not found:
        raise UserError(path, "no session files (a file, a directory of them, or a glob)")
    return tuple(found)


@functools.lru_cache(maxsize=4)
def read_sessions(fmt: str, path: str) -> tuple[Agent, ...]:
    return tuple(agent_sessions.read(list(files(path)), fmt))


def window(p: AgentReplayParams) -> tuple[Agent, ...]:
    s = read_sessions(p.format, p.path)[p.start:]
    return s[:p.count] if p.count else s


def continued(calls: list[Call], k: int) -> int | None:
    """The earlier call that call k continues (resends all its blocks, then its output), if any:
    of the last few, the one sharing the most blocks (a side call with a shorter prompt may come
    between). A recorded next prompt may hold less than the whole output (thinking is dropped):
    the live output then fills what room there is."""
    c = calls[k]
    fits = [j for j in range(k - 1, max(-1, k - 9), -1)
            if c.hash_ids[:len(calls[j].hash_ids)] == calls[j].hash_ids
            and c.in_tokens >= calls[j].in_tokens]
    return max(fits, key=lambda j: (len(calls[j].hash_ids), j)) if fits else None


class AgentReplayWorkload(Workload):
    Params = AgentReplayParams
    unit = "task"
    sessions_are_tasks = True   # a recorded session is one task of many calls

    def __init__(self, params: AgentReplayParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        # Open-loop replay is trace-timed (calls at recorded times); the closed loop is not.
        self.trace_timed = params.open_loop
        self.prompts = PromptFactory(tokenizer, seed)
        self.agents = window(params)

    def n(self, tokens: int) -> int:
        return max(1, int(round(tokens * self.params.scale)))

    def session(self, index: int) -> ReplayTask:
        return ReplayTask(f"s{self.params.start + index}", self, self.agents[index])

    def sessions(self, start: int = 0) -> Iterator:
        """The window's sessions, then stop. Past the end (warm-up): first calls with tokens of
        their own, so warm-up never fills the prefix cache with a measured session's blocks."""
        if start < len(self.agents):
            for i in range(start, len(self.agents)):
                yield self.session(i)
            return
        i = 0
        while True:
            a = self.agents[i % len(self.agents)]
            c = a.calls[0]
            n_out = min(self.n(c.out_tokens), self.params.context_limit_tokens - 1)
            n_in = min(self.n(c.in_tokens), self.params.context_limit_tokens - n_out)
            prompt = self.prompts.keyed(("warmup", i), n_in)
            yield SingleRequest(Request(id=f"w{i}", prompt_token_ids=prompt, max_output_tokens=n_out))
            i += 1


class Prompts:
    """One session's prompts: block id -> tokens (set once), and what earlier calls computed."""

    def __init__(self, w: AgentReplayWorkload, session: str):
        self.w, self.session = w, session
        self.blocks: dict[tuple[str, int], tuple[int, ...]] = {}

    def pos(self, agent: Agent, i: int) -> int:
        return int(round(i * agent.block_tokens * self.w.params.scale))

    def build(self, agent: Agent, k: int, carried: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """Call k's prompt (carried: an earlier prompt + live output it starts with) and the
        leading tokens shared with earlier calls' blocks or with `carried`."""
        c = agent.calls[k]
        n = self.w.n(c.in_tokens)
        out: list[int] = []
        shared, sharing = 0, True
        for i, h in enumerate(c.hash_ids):
            lo, hi = self.pos(agent, i), min(self.pos(agent, i + 1), n)
            if lo >= n:
                break
            key = (self.session, h)   # ids are local to a session (hash_id_scope: local)
            if key not in self.blocks:
                sharing = False
                self.blocks[key] = self._fresh(("b", *key), hash_key(f"{self.session}/{h}"), lo, hi, carried)
            out.extend(self.blocks[key][:hi - lo])
            shared = hi if sharing else shared
        lo = len(out)
        out.extend(self._fresh(("tail", agent.path, k), hash_key(f"{agent.path}/{k}"), lo, n, carried))
        if carried and out[:len(carried)] == list(carried[:n]):
            shared = max(shared, min(n, len(carried) - 1))   # the last output token was never computed
        return tuple(out), shared

    def _fresh(self, key: tuple, ident: int, lo: int, hi: int, carried: tuple[int, ...]) -> tuple[int, ...]:
        own = distinct_block(self.w.prompts, key, ident, hi - lo)
        live = carried[lo:hi]
        return tuple(live) + own[len(live):]


class ReplayTask:
    def __init__(self, task_id: str, workload: AgentReplayWorkload, agent: Agent):
        self.id, self.w, self.agent = task_id, workload, agent
        self.scheduled_s = None     # the load starts sessions; calls are timed within

    async def run(self, send: Send) -> None:
        prompts = Prompts(self.w, self.id)
        if self.w.params.open_loop:
            await self._open(send, prompts, self.agent, now_ns(), 0.0)
        else:
            await self._closed(send, prompts, self.agent, now_ns())

    def _request(self, agent: Agent, k: int, prompt: tuple[int, ...], shared: int, meta: dict) -> Request:
        p, c = self.w.params, agent.calls[k]
        n_out = min(self.w.n(c.out_tokens), p.context_limit_tokens - 1)
        prompt = prompt[:p.context_limit_tokens - n_out]
        return Request(id=f"{agent.path}.c{k}", prompt_token_ids=prompt, max_output_tokens=n_out, task_id=self.id,
                       meta={"agent": agent.path, "step": k, "shared_tokens": min(shared, len(prompt)),
                             "recorded_in": c.in_tokens, "recorded_out": c.out_tokens, **meta})

    async def _closed(self, send: Send, prompts: Prompts, agent: Agent, start_ns: int) -> int:
        """Run one agent's calls in order; return its last token's time."""
        f = self.w.params.gap_factor
        calls, k = agent.calls, 0
        ready_ns, rec_ready = start_ns, 0.0
        live: dict[int, tuple[int, ...]] = {}      # call -> its prompt + live output
        subs: list[tuple[asyncio.Task, float]] = []
        for item in agent.items:
            if isinstance(item, Agent):
                due = ready_ns + int(max(0.0, item.start_s - rec_ready) * f * 1e9)
                subs.append((asyncio.create_task(self._child(send, prompts, item, due)), item.end_s))
                continue
            waited = [(t, end) for t, end in subs if end <= item.t_s]
            gap = item.think_s
            if waited:
                ends = await asyncio.gather(*(t for t, _ in waited))
                subs = [s for s in subs if s not in waited]
                ready_ns = max([ready_ns, *ends])
                gap = max(0.0, item.t_s - max(rec_ready, *(e for _, e in waited)))
            due = ready_ns + int(gap * f * 1e9)
            j = continued(calls, k)
            prompt, shared = prompts.build(agent, k, live[j] if j is not None else ())
            wait = wait_meta("tool", ready_ns, due) if due > ready_ns else {}
            await wait_until(due)
            sample = await send(self._request(agent, k, prompt, shared, wait), due)
            if not sample.ok:
                raise StepFailed(sample)
            live[k] = prompt + tuple(sample.output_token_ids)
            live.pop(k - 9, None)
            ready_ns, rec_ready, k = sample.end_ns, item.end_s, k + 1
        ends = await asyncio.gather(*(t for t, _ in subs))
        return max([ready_ns, *ends])

    async def _child(self, send: Send, prompts: Prompts, agent: Agent, due_ns: int) -> int:
        await wait_until(due_ns)
        return await self._closed(send, prompts, agent, due_ns)

    async def _open(self, send: Send, prompts: Prompts, agent: Agent, t0_ns: int, offset_s: float) -> None:
        """Every call at its recorded time (x time_scale) from the session's start; no live outputs."""
        ts = self.w.params.time_scale
        jobs = []
        k = 0
        for item in agent.items:
            if isinstance(item, Agent):
                jobs.append(self._open(send, prompts, item, t0_ns, offset_s + item.start_s))
                continue
            prompt, shared = prompts.build(agent, k, ())
            due = t0_ns + int((offset_s + item.t_s) * ts * 1e9)
            jobs.append(self._at(send, self._request(agent, k, prompt, shared, {}), due))
            k += 1
        await asyncio.gather(*jobs)

    @staticmethod
    async def _at(send: Send, req: Request, due_ns: int) -> None:
        await wait_until(due_ns)
        await send(req, due_ns)
