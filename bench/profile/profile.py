"""The token-usage profile: pure functions over a normalized list of calls.

Shape of a task (the agentic workload's, bench/workloads/agentic.py): the task's own loop (its
root agent) makes LLM calls, its steps; between step k and k+1 tools run (fan-out: how many) or
sub-agents run (agent calls whose own LLM calls are their steps). Compaction calls (label
`compaction`) are calls but not steps. From that:
- context growth of step k = prompt(k+1) - prompt(k) - output(k): what the tools (or sub-agents)
  added, for consecutive steps of one agent with no compaction between them;
- observation tokens per tool call = growth / fan-out, from steps that ran only tools; when 10 or
  more steps ran exactly one tool, only those are used (a sum of k draws is not one draw);
- tool time = each tool call's duration, with the same one-tool rule (bench's own exports give
  every tool of a parallel group the group's duration);
- the static prefix (tokens every task's first prompt shares): from the log's content where a
  reader sees it (message lists, Mooncake hash ids), else the median cached tokens of the tasks'
  first calls, else the smallest first prompt (then task statement and prefix cannot be told
  apart: an upper bound);
- repeated-prefix share = (static prefix of each agent's first call, or that call's own shared
  prefix where the reader knows it, + the resent context
  prompt(k) + output(k) of each later step) / all prompt tokens;
- inflation = total tokens per multi-call task / total tokens per single-call task, when the log
  has both (the user's own simple requests).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bench.logs.calls import Call, Log

MIN_SINGLE = 10   # steps with one tool needed before the one-tool rule applies

# name -> (unit, what one value is)
DISTRIBUTIONS = {
    "prompt_tokens": ("tokens", "per LLM call: input tokens (cached included)"),
    "cached_tokens": ("tokens", "per LLM call that reports them: cached input tokens"),
    "output_tokens": ("tokens", "per LLM call: output tokens"),
    "calls_per_task": ("calls", "per task: LLM calls (sub-agents and compactions included)"),
    "prompt_tokens_per_task": ("tokens", "per task: input tokens over its calls"),
    "output_tokens_per_task": ("tokens", "per task: output tokens over its calls"),
    "steps_per_task": ("steps", "per task: LLM calls of its own loop (no sub-agents, no compactions)"),
    "task_tokens": ("tokens", "per task: first prompt - static prefix"),
    "step_prompt_tokens": ("tokens", "per step of a task's own loop: input tokens"),
    "step_output_tokens": ("tokens", "per step (not a sub-agent's last): output tokens"),
    "new_context_tokens": ("tokens",
                           "per pair of steps of a task's own loop: prompt(k+1) - prompt(k) - output(k), signed"),
    "think_s": ("s", "per step of a task's own loop: recorded think/tool time before it (where logged)"),
    "context_growth_tokens": ("tokens", "per step: prompt(k+1) - prompt(k) - output(k)"),
    "observation_tokens": ("tokens", "per tool call: context growth / fan-out"),
    "tool_calls_per_step": ("calls", "per step but the last: tool calls (fan-out)"),
    "tool_s": ("s", "per tool call: its duration"),
    "tool_wait_s": ("s", "per step with tools: next call's start - this call's end"),
    "subagents_per_spawn": ("agents", "per spawning step: sub-agents started"),
    "subagent_steps": ("steps", "per sub-agent: its LLM calls"),
    "subagent_summary_tokens": ("tokens", "per sub-agent: its last call's output tokens"),
    "task_duration_s": ("s", "per task: first call's start to last call's end"),
    # A reasoning model's log (usage's reasoning tokens): output = thoughts + answer.
    "reasoning_tokens": ("tokens", "per LLM call that reports them: thought tokens (of its output)"),
    "step_reasoning_tokens": ("tokens", "per step (not a sub-agent's last), where the log reports thoughts"),
    "step_answer_tokens": ("tokens", "per step (not a sub-agent's last), where the log reports thoughts: "
                                     "output - thought tokens"),
}


@dataclass(frozen=True)
class Step:
    call: Call
    tools: tuple[Call, ...]
    subagents: tuple[str, ...]
    growth: int | None            # None: last step, compaction between, or a shrinking context
    wait_s: float | None          # to the next call of the agent


@dataclass
class Profile:
    tasks: int
    llm_calls: int
    tool_calls: int
    values: dict[str, np.ndarray]
    fan_out: Counter              # tool calls -> steps (non-last, no sub-agents)
    spawn_probability: float      # spawning steps / non-last root steps
    prefix_tokens: float
    prefix_source: str
    repeated_prefix_share: float
    cached_share: float | None    # cached / prompt tokens where reported
    inflation: float | None
    log: Log
    tasks_with_subagents: int = 0
    notes: list[str] = field(default_factory=list)


def _agent_steps(calls: list[Call], agent: str | None, tools: list[Call], kids: dict[str, Call],
                 compactions: list[Call]) -> list[Step]:
    own = sorted((c for c in calls if c.parent == agent), key=lambda c: c.start_s)
    steps = []
    for k, c in enumerate(own):
        nxt = own[k + 1] if k + 1 < len(own) else None
        end = nxt.start_s if nxt else float("inf")
        mine = tuple(t for t in tools if t.parent == agent and c.end_s - 1e-6 <= t.start_s < end)
        spawned = tuple(a for a, s in kids.items() if c.end_s - 1e-6 <= s.start_s < end)
        compacted = any(c.end_s - 1e-6 <= x.start_s < end and x.parent == agent for x in compactions)
        growth = None
        if nxt is not None and not compacted and nxt.prompt_tokens >= c.prompt_tokens + c.output_tokens:
            growth = nxt.prompt_tokens - c.prompt_tokens - c.output_tokens
        steps.append(Step(c, mine, spawned, growth, nxt.start_s - c.end_s if nxt else None))
    return steps


def task_agents(calls: list[Call]) -> tuple[list[Step], dict[str, list[Step]]]:
    """One task's calls -> its root agent's steps and each sub-agent's steps."""
    llm = [c for c in calls if c.kind == "llm" and c.label != "compaction"]
    compactions = [c for c in calls if c.kind == "llm" and c.label == "compaction"]
    tools = [c for c in calls if c.kind == "tool"]
    agents = {c.call_id: c for c in calls if c.kind == "agent"}
    root = None
    if not any(c.parent is None for c in llm):
        tops = sorted((a for a in agents.values() if a.parent is None), key=lambda a: a.start_s)
        root = tops[0].call_id if tops else None
    with_steps = {c.parent for c in llm}
    children: dict[str | None, dict[str, Call]] = {}
    for a in agents.values():
        if a.call_id != root and a.call_id in with_steps:
            owner = a.parent if a.parent in with_steps and a.parent != a.call_id else root
            children.setdefault(owner, {})[a.call_id] = a
    steps = {key: _agent_steps(llm, key, tools, children.get(key, {}), compactions)
             for key in with_steps}
    return steps.get(root, []), {k: v for k, v in steps.items() if k != root}


def _arr(x) -> np.ndarray:
    return np.asarray(list(x), dtype=float)


def _one_tool_rule(steps: list[Step]) -> list[Step]:
    tool_steps = [s for s in steps if s.tools and not s.subagents]
    single = [s for s in tool_steps if len(s.tools) == 1]
    return single if len(single) >= MIN_SINGLE else tool_steps


def _prefix(by_task: dict[str, list[Call]], multi_call: bool) -> tuple[float, str]:
    firsts = [min((c for c in cs if c.kind == "llm"), key=lambda c: c.start_s) for cs in by_task.values()]
    given = [c.prefix_tokens for c in firsts if c.prefix_tokens is not None]
    if given:
        return float(np.median(given)), "the log's content (shared leading messages or hash-id blocks)"
    cached = [c.cached_tokens for c in sorted(firsts, key=lambda c: c.start_s)[1:] if c.cached_tokens]
    if cached:
        return float(np.median(cached)), "median cached tokens of the tasks' first calls"
    if multi_call and len(firsts) > 1:
        return float(min(c.prompt_tokens for c in firsts)), \
            "the smallest first prompt (no content or cache counts: an upper bound)"
    return 0.0, "none found"


def build(log: Log) -> Profile:
    by_task: dict[str, list[Call]] = {}
    for c in log.calls:
        by_task.setdefault(c.task_id, []).append(c)
    by_task = {t: cs for t, cs in by_task.items() if any(c.kind == "llm" for c in cs)}
    llm = [c for c in log.calls if c.kind == "llm" and c.task_id in by_task]
    shapes = {t: task_agents(cs) for t, cs in by_task.items()}
    roots = [s for r, _ in shapes.values() for s in r]
    kids = [steps for _, ch in shapes.values() for steps in ch.values() if steps]
    all_steps = roots + [s for k in kids for s in k]
    calls_per_task = [sum(c.kind == "llm" for c in cs) for cs in by_task.values()]
    prefix, source = _prefix(by_task, np.mean(calls_per_task) > 1)
    v: dict[str, np.ndarray] = {
        "prompt_tokens": _arr(c.prompt_tokens for c in llm),
        "cached_tokens": _arr(c.cached_tokens for c in llm if c.cached_tokens is not None),
        "output_tokens": _arr(c.output_tokens for c in llm),
        "calls_per_task": _arr(calls_per_task),
        "prompt_tokens_per_task": _arr(sum(c.prompt_tokens for c in cs if c.kind == "llm") for cs in by_task.values()),
        "output_tokens_per_task": _arr(sum(c.output_tokens for c in cs if c.kind == "llm") for cs in by_task.values()),
        "steps_per_task": _arr(len(r) for r, _ in shapes.values() if r),
        "task_tokens": _arr(max(1.0, r[0].call.prompt_tokens - prefix) for r, _ in shapes.values() if r),
        "step_prompt_tokens": _arr(s.call.prompt_tokens for s in roots),
        "new_context_tokens": _arr(b.call.prompt_tokens - a.call.prompt_tokens - a.call.output_tokens
                                   for r, _ in shapes.values() for a, b in zip(r, r[1:])),
        "think_s": _arr(s.call.think_s for s in roots if s.call.think_s is not None),
        "step_output_tokens": _arr([s.call.output_tokens for s in roots] +
                                   [s.call.output_tokens for k in kids for s in k[:-1]]),
        "context_growth_tokens": _arr(s.growth for s in all_steps if s.growth is not None),
        "observation_tokens": _arr(s.growth / len(s.tools) for s in _one_tool_rule(all_steps) if s.growth is not None),
        "tool_calls_per_step": _arr(len(s.tools) for r, _ in shapes.values() for s in r[:-1] if not s.subagents),
        "tool_s": _arr(t.duration_s for s in _one_tool_rule(all_steps) for t in s.tools),
        "tool_wait_s": _arr(s.wait_s for s in all_steps if s.tools and s.wait_s is not None),
        "subagents_per_spawn": _arr(len(s.subagents) for s in roots if s.subagents),
        "subagent_steps": _arr(len(k) for k in kids),
        "subagent_summary_tokens": _arr(k[-1].call.output_tokens for k in kids),
        "task_duration_s": _arr(max(c.end_s for c in cs) - min(c.start_s for c in cs) for cs in by_task.values()),
        "reasoning_tokens": _arr(c.reasoning_tokens for c in llm if c.reasoning_tokens is not None),
    }
    steps = [s.call for s in roots] + [s.call for k in kids for s in k[:-1]]
    thinking = [c for c in steps if c.reasoning_tokens is not None]
    v["step_reasoning_tokens"] = _arr(c.reasoning_tokens for c in thinking)
    v["step_answer_tokens"] = _arr(max(0, c.output_tokens - c.reasoning_tokens) for c in thinking)
    non_last = [s for r, _ in shapes.values() for s in r[:-1]]
    fan = Counter(len(s.tools) for s in non_last if not s.subagents)
    total_prompt = float(v["prompt_tokens"].sum())
    return Profile(
        tasks=len(by_task), llm_calls=len(llm), tool_calls=sum(c.kind == "tool" for c in log.calls),
        values=v, fan_out=fan,
        spawn_probability=sum(bool(s.subagents) for s in non_last) / len(non_last) if non_last else 0.0,
        prefix_tokens=prefix, prefix_source=source,
        repeated_prefix_share=_repeated(shapes, prefix) / total_prompt if total_prompt else 0.0,
        cached_share=_cached_share(llm), inflation=_inflation(by_task), log=log,
        tasks_with_subagents=sum(1 for _, ch in shapes.values() if any(ch.values())),
        notes=_notes(all_steps))


def _repeated(shapes, prefix: float) -> float:
    total = 0.0
    for root, kids in shapes.values():
        for steps in [root, *kids.values()]:
            for k, s in enumerate(steps):
                if k == 0:   # a reader that saw this call's own shared prefix (Mooncake) says so
                    own = s.call.prefix_tokens
                    total += min(prefix if own is None else own, s.call.prompt_tokens)
                elif s.call.resent_tokens is not None:   # the log's hash ids say what was resent
                    total += min(s.call.resent_tokens, s.call.prompt_tokens)
                elif steps[k - 1].growth is not None:
                    prev = steps[k - 1].call
                    total += min(prev.prompt_tokens + prev.output_tokens, s.call.prompt_tokens)
                else:
                    total += min(prefix, s.call.prompt_tokens)   # after a compaction: the prefix stays
    return total


def _cached_share(llm: list[Call]) -> float | None:
    rep = [c for c in llm if c.cached_tokens is not None]
    total = sum(c.prompt_tokens for c in rep)
    return sum(c.cached_tokens for c in rep) / total if rep and total else None


def _inflation(by_task: dict[str, list[Call]]) -> float | None:
    single, multi = [], []
    for cs in by_task.values():
        llm = [c for c in cs if c.kind == "llm"]
        (single if len(llm) == 1 else multi).append(sum(c.prompt_tokens + c.output_tokens for c in llm))
    return float(np.mean(multi) / np.mean(single)) if single and multi and np.mean(single) else None


def _notes(steps: list[Step]) -> list[str]:
    shrank = sum(1 for s in steps if s.wait_s is not None and s.growth is None)
    return [f"{shrank} step(s) without a context growth value (a compaction between, or the next "
            "prompt was shorter than this prompt + output)"] if shrank else []


def quantiles(x: np.ndarray) -> dict[str, float]:
    if not len(x):
        return {}
    p = np.percentile(x, [10, 50, 90, 99])
    return {"n": float(len(x)), "mean": float(x.mean()), "min": float(x.min()), "p10": float(p[0]),
            "p50": float(p[1]), "p90": float(p[2]), "p99": float(p[3]), "max": float(x.max())}


def table(p: Profile) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per distribution present in the log."""
    head = ["quantity", "unit", "n", "mean", "p10", "p50", "p90", "p99", "max", "what one value is"]
    rows = []
    for name, (unit, what) in DISTRIBUTIONS.items():
        q = quantiles(p.values[name])
        if q:
            stats = (f"{q[k]:.4g}" for k in ("mean", "p10", "p50", "p90", "p99", "max"))
            rows.append([name, unit, f"{q['n']:.0f}", *stats, what])
    return head, rows


def scalars(p: Profile) -> list[tuple[str, str]]:
    fan = ", ".join(f"{k}: {n}" for k, n in sorted(p.fan_out.items())) or "-"
    out = [("tasks", str(p.tasks)), ("LLM calls", str(p.llm_calls)), ("tool calls", str(p.tool_calls)),
           ("static prefix tokens", f"{p.prefix_tokens:.0f} (from {p.prefix_source})"),
           ("repeated-prefix share of prompt tokens", f"{p.repeated_prefix_share:.1%}"),
           ("cached share of prompt tokens", "-" if p.cached_share is None else f"{p.cached_share:.1%}"),
           ("fan-out (tool calls per step: steps)", fan),
           ("sub-agent spawn probability per step", f"{p.spawn_probability:.3g}"),
           ("tasks with sub-agents (sub-agents in all)",
            f"{p.tasks_with_subagents} ({len(p.values['subagent_steps'])})"),
           ("inflation (tokens per multi-call task / per single-call task)",
            "-" if p.inflation is None else f"{p.inflation:.3g}x")]
    return out + [("note", n) for n in p.notes] + [("skipped", s) for s in p.log.skipped_lines()]


def render(p: Profile) -> str:
    head, rows = table(p)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = ["  ".join(h.rjust(w) if i > 1 else h.ljust(w) for i, (h, w) in enumerate(zip(r, widths)))
             for r in [head, *rows]]
    lines += [f"{k}: {v}" for k, v in scalars(p)]
    return "\n".join(lines)
