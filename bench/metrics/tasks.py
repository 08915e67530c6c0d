"""Pure functions: samples grouped by task -> per-task values -> task summary keys.

A task is every sample sharing a `task_id` (a conversation, an agent task with its sub-agents).
Its wall time splits three ways, so they add up to its latency:
- model: some LLM call of the task is in flight (union of [sent, last token] intervals);
- tools: a modelled wait (tool call, user think time) runs and no LLM call is in flight;
- client: neither (the harness's own delay: send lag, scheduling).
Waits come from the `wait_kind`, `wait_start_ns`, `wait_end_ns` a session puts in request meta.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Iterable

import numpy as np

from bench.metrics.columns import NO_CACHED, OK, SampleColumns, view
from bench.metrics.core import distribution
from bench.types import Sample


@dataclass(frozen=True, slots=True)
class TaskValues:
    task_id: str
    ok: bool                               # every call of the task succeeded
    calls: int
    first_sent_ns: int
    end_ns: int
    prompt_tokens: int
    cached_prompt_tokens: int | None       # None when the backend does not report it
    output_tokens: int
    model_ms: float
    tool_ms: float
    reasoning_tokens: int | None = None    # summed over the calls whose stream was split; None: none was
    answer_tokens: int | None = None

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.first_sent_ns) / 1e6

    @property
    def client_ms(self) -> float:
        return max(0.0, self.latency_ms - self.model_ms - self.tool_ms)


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """Total length covered by a set of [start, end) intervals."""
    total, cur_start, cur_end = 0, None, None
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    return total + (cur_end - cur_start if cur_end is not None else 0)


def task_values(task_id: str, samples: list[Sample]) -> TaskValues:
    model = [(s.sent_ns, s.end_ns) for s in samples]
    waits = [(int(s.meta["wait_start_ns"]), int(s.meta["wait_end_ns"]))
             for s in samples if "wait_start_ns" in s.meta]
    model_ns = union_ns(model)
    tool_ns = union_ns(model + waits) - model_ns
    cached = [s.cached_prompt_tokens for s in samples if s.cached_prompt_tokens is not None]
    split = [s for s in samples if s.answer_tokens is not None]
    return TaskValues(
        task_id=task_id, ok=all(s.ok for s in samples), calls=len(samples),
        first_sent_ns=min(s.sent_ns for s in samples), end_ns=max(s.end_ns for s in samples),
        prompt_tokens=sum(s.prompt_tokens for s in samples),
        cached_prompt_tokens=sum(cached) if cached else None,
        output_tokens=sum(s.output_tokens for s in samples), model_ms=model_ns / 1e6, tool_ms=tool_ns / 1e6,
        reasoning_tokens=sum(s.reasoning_tokens or 0 for s in split) if split else None,
        answer_tokens=sum(s.answer_tokens for s in split) if split else None)


def per_task(samples: Iterable[Sample]) -> list[TaskValues]:
    """One TaskValues per task_id among the measured (non-warm-up) samples, in first-send order."""
    return per_task_columns(SampleColumns.from_samples(samples))


def per_task_columns(cols: SampleColumns) -> list[TaskValues]:
    """per_task() from a run's columns: task_values() of each task's rows, in first-send order
    (ties: first-seen order, as the tasks' interned indices are)."""
    task = view(cols.task)
    rows = np.flatnonzero(task >= 0)
    order = rows[np.argsort(task[rows], kind="stable")]       # by task, each task's rows in order
    starts = np.flatnonzero(np.diff(task[order], prepend=-2)).tolist() + [len(order)]
    waits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row, start, end in zip(cols.wait_row, cols.wait_start_ns, cols.wait_end_ns):
        waits[int(task[row])].append((start, end))
    think = {int(r): (int(t), int(a)) for r, t, a in zip(cols.think_row, view(cols.reasoning_tokens),
                                                         view(cols.answer_tokens))}
    # Python lists once, sliced per task: a million rows in many small tasks stays fast.
    sent, end, prompt, output, cached, flags = (view(c)[order].tolist() for c in (
        cols.sent_ns, cols.end_ns, cols.prompt_tokens, cols.output_tokens, cols.cached_prompt_tokens, cols.flags))
    out = []
    for a, b in zip(starts, starts[1:]):
        index = int(task[order[a]])
        model = list(zip(sent[a:b], end[a:b]))
        model_ns = union_ns(model)
        tool_ns = union_ns(model + waits[index]) - model_ns
        known = [c for c in cached[a:b] if c != NO_CACHED]
        split = [think[r] for r in order[a:b].tolist() if r in think] if think else []
        out.append(TaskValues(
            task_id=cols.task_ids[index], ok=all(f & OK for f in flags[a:b]), calls=b - a,
            first_sent_ns=min(sent[a:b]), end_ns=max(end[a:b]), prompt_tokens=sum(prompt[a:b]),
            cached_prompt_tokens=sum(known) if known else None, output_tokens=sum(output[a:b]),
            model_ms=model_ns / 1e6, tool_ms=tool_ns / 1e6,
            reasoning_tokens=sum(t for t, _ in split) if split else None,
            answer_tokens=sum(a for _, a in split) if split else None))
    return sorted(out, key=lambda v: v.first_sent_ns)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize_tasks(samples: Iterable[Sample], duration_s: float,
                    slo: dict[str, float | None] | None = None) -> dict[str, float]:
    """Task summary keys; empty when no sample belongs to a task (request-level workloads)."""
    return summarize_tasks_columns(SampleColumns.from_samples(samples), duration_s, slo)


def summarize_tasks_columns(cols: SampleColumns, duration_s: float,
                            slo: dict[str, float | None] | None = None) -> dict[str, float]:
    """summarize_tasks() from a run's columns."""
    tasks = per_task_columns(cols)
    if not tasks:
        return {}
    ok = [t for t in tasks if t.ok]
    out: dict[str, float] = {"tasks": float(len(tasks)), "tasks_completed": float(len(ok)),
                             "task_error_rate": (len(tasks) - len(ok)) / len(tasks)}
    out |= distribution("task_latency_ms", [t.latency_ms for t in ok])
    for name, get in (("task_model_ms", lambda t: t.model_ms), ("task_tool_ms", lambda t: t.tool_ms),
                      ("task_client_ms", lambda t: t.client_ms)):
        vals = [get(t) for t in ok]
        out[f"{name}_mean"] = _mean(vals)
        out[f"{name}_p50"] = distribution(name, vals).get(f"{name}_p50", 0.0)
    out["calls_per_task_mean"] = _mean([t.calls for t in ok])
    out["prompt_tokens_per_task_mean"] = _mean([t.prompt_tokens for t in ok])
    out["output_tokens_per_task_mean"] = _mean([t.output_tokens for t in ok])
    cached = [t.cached_prompt_tokens for t in ok if t.cached_prompt_tokens is not None]
    if cached:
        out["cached_prompt_tokens_per_task_mean"] = _mean(cached)
    split = [t for t in ok if t.answer_tokens is not None]
    if split:        # reasoning: the output per task split into thought and answer
        out["reasoning_tokens_per_task_mean"] = _mean([t.reasoning_tokens for t in split])
        out["answer_tokens_per_task_mean"] = _mean([t.answer_tokens for t in split])
    if duration_s > 0:
        out["tasks_s"] = len(ok) / duration_s
    limit = (slo or {}).get("task_latency_ms")
    if limit is not None:
        good = sum(t.latency_ms <= limit for t in ok)
        out["task_slo_attainment"] = good / len(tasks)
        if duration_s > 0:
            out["goodput_task_s"] = good / duration_s
    return out
