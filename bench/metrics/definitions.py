"""The metric table: every metric once, with all that its readers need to know of it.

A summary key is a metric's name, or its name and a part (`ttft_ms_p99`, `task_model_ms_mean`,
`errors_http_429`); metric_for() finds the metric behind a key. The meaning of each metric is the
contract in docs/metrics.md; the summaries (bench.metrics.core, tasks) compute them from a run's
columns, and the per-sample functions named here (bench.metrics.sample_values) give the same
values one request at a time. Which keys a table or a comparison shows, in its order:
bench.metrics.views.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable

import numpy as np

from bench.metrics import sample_values as sv
from bench.types import Sample

# scalar:   one value per completed request (its distribution over them)
# pooled:   several values per completed request, pooled over requests (gaps between tokens)
# rate:     completed units per second of the run (resampled as a ratio of sums)
# fraction: a share of units (the mean of a 0/1 indicator)
# count:    units or tokens counted
# task:     one value per completed task
# client:   the harness's own timing or load, not the server's
# run:      one value for the whole run
Kind = Literal["scalar", "pooled", "rate", "fraction", "count", "task", "client", "run"]


@dataclass(frozen=True, slots=True)
class Column:
    """How a table shows a key of the metric. `{part}` in the title is what the key adds to the
    metric's name (`p99`, `mean`, an error reason)."""
    title: str
    fmt: str


@dataclass(frozen=True, slots=True)
class Slo:
    """How a metric is held against an SLO threshold (bench.metrics.slo, core.meets_slo)."""
    request: Callable[[Sample], float] | None = None      # a completed call's value
    columns: Callable[[Any], np.ndarray] | None = None    # `request` over a run's completed requests (core._Completed)
    task: Callable[[list[Sample]], float | None] | None = None   # a task's own value (it has no per-call value)

    def unit(self, samples: list[Sample]) -> float | None:
        """A unit's value (one request, or every call of a task, all completed): the task's own,
        else its worst call."""
        return self.task(samples) if self.task is not None else max(self.request(s) for s in samples)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool | None      # None: neither is better (a count of what was offered or done)
    doc: str
    kind: Kind
    # How one sample yields it: scalar / pooled: the value(s) of a completed request; rate /
    # fraction: what a request (completed or not) adds to the numerator.
    per_sample: Callable[[Sample], Any] | None = None
    per_task: Callable[[list[Sample]], float | None] | None = None   # the same for a task's samples
    needs_slo: bool = False            # counts only units meeting every SLO threshold
    slo: Slo | None = None             # may be an SLO threshold
    headline: tuple[str, ...] = ()     # its summary keys `bench compare` judges when none are named
    column: Column | None = None       # in the run table and wherever a title is shown
    narrow: Column | None = None       # in narrow plain-text tables (bench summary); default: column

    def __post_init__(self):
        for key in self.headline:
            if key != self.name and not key.startswith(self.name + "_"):
                raise ValueError(f"{self.name}: headline key {key!r} is not one of its keys")


def _stat(label: str, unit: str) -> str:
    return f"{label} {{part}} {unit}"


_METRICS = (
    # Per request. Order: the headline keys (compare's default) and the samples frame read it.
    Metric("ttft_ms", "ms", False, "first output token arrival - sent", "scalar", per_sample=sv.ttft_ms,
           slo=Slo(sv.ttft_ms, lambda c: c.ttft_ms),
           headline=("ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99"), column=Column(_stat("TTFT", "ms"), "{:.1f}")),
    Metric("ttft_from_scheduled_ms", "ms", False, "first output token arrival - scheduled (client queueing counts)",
           "scalar", per_sample=sv.ttft_from_scheduled_ms,
           headline=("ttft_from_scheduled_ms_p50", "ttft_from_scheduled_ms_p99"),
           column=Column(_stat("TTFT(sched)", "ms"), "{:.1f}")),
    Metric("tpot_ms", "ms", False, "(e2e - ttft) / (output_tokens - 1), requests with >= 2 tokens", "scalar",
           per_sample=sv.tpot_ms, slo=Slo(sv.tpot_slo_ms, lambda c: np.where(c.output >= 2, c.tpot_ms, 0.0)),
           headline=("tpot_ms_p50", "tpot_ms_p99"), column=Column(_stat("TPOT", "ms"), "{:.2f}")),
    Metric("itl_ms", "ms", False, "gaps between consecutive output tokens (k tokens in one chunk: k-1 zero gaps)",
           "pooled", per_sample=sv.itl_ms,
           # x / 1e6 keeps order: the max of the gaps in ms is the max in ns / 1e6
           slo=Slo(sv.max_itl_ms, lambda c: c.max_gap_ns / 1e6),
           headline=("itl_ms_p50", "itl_ms_p99"), column=Column(_stat("ITL", "ms"), "{:.2f}")),
    Metric("e2e_ms", "ms", False, "last output token arrival - sent", "scalar", per_sample=sv.e2e_ms,
           slo=Slo(sv.e2e_ms, lambda c: c.e2e_ms),
           headline=("e2e_ms_p50", "e2e_ms_p99"), column=Column(_stat("E2E", "ms"), "{:.1f}")),
    Metric("chunk_gap_ms", "ms", False, "gaps between consecutive streamed chunks", "pooled",
           per_sample=sv.chunk_gap_ms),
    Metric("send_lag_ms", "ms", False, "sent - scheduled: how late the client sent", "client",
           per_sample=sv.send_lag_ms, column=Column(_stat("send lag", "ms"), "{:.3f}")),
    # The run's requests
    Metric("request_s", "1/s", True, "completed requests / duration", "rate", per_sample=sv.completed_count,
           headline=("request_s",), column=Column("requests/s", "{:.2f}"), narrow=Column("req/s", "{:.2f}")),
    Metric("output_tok_s", "tok/s", True, "output tokens of completed requests / duration", "rate",
           per_sample=sv.completed_output_tokens, headline=("output_tok_s",),
           column=Column("output tok/s", "{:.1f}"), narrow=Column("out tok/s", "{:.0f}")),
    Metric("total_tok_s", "tok/s", True, "(prompt + output) tokens of completed requests / duration", "rate",
           per_sample=sv.completed_total_tokens, headline=("total_tok_s",), column=Column("total tok/s", "{:.1f}")),
    Metric("goodput_request_s", "1/s", True, "completed requests meeting every SLO / duration", "rate",
           per_sample=sv.completed_count, needs_slo=True, headline=("goodput_request_s",),
           column=Column("goodput req/s", "{:.2f}")),
    Metric("slo_attainment", "fraction", True, "share of requests meeting every SLO", "fraction",
           per_sample=sv.completed_count, needs_slo=True, headline=("slo_attainment",),
           column=Column("SLO met", "{:.0%}")),
    Metric("error_rate", "fraction", False, "failed requests / all requests", "fraction",
           per_sample=sv.failed_count, headline=("error_rate",), column=Column("error rate", "{:.1%}")),
    Metric("errors", "requests", False, "failed requests; errors_<reason>: those failed for <reason>", "count",
           column=Column("errors: {part}", "{:.0f}")),
    Metric("requests", "requests", None, "measured requests sent", "count"),
    Metric("completed", "requests", None, "requests that succeeded with at least one token", "count",
           column=Column("requests ok", "{:.0f}")),
    Metric("prompt_tokens_total", "tok", None, "prompt tokens of completed requests", "count"),
    Metric("output_tokens_total", "tok", None, "output tokens of completed requests", "count"),
    # The client and the run
    Metric("loop_lag_ms", "ms", False, "oversleep of the client's 10 ms event-loop tick", "client",
           column=Column(_stat("loop lag", "ms"), "{:.2f}")),
    Metric("client_loop_cpu_util", "fraction", False, "event-loop thread CPU time / wall time (1 = a core)", "client",
           column=Column("client loop CPU", "{:.0%}")),
    Metric("client_cpu_util", "fraction", False, "harness process CPU time / wall time (in-process models included)",
           "client"),
    Metric("duration_s", "s", False, "first send to last completion", "run", column=Column("duration s", "{:.2f}")),
    Metric("peak_rss_mb", "MiB", False, "peak resident memory of the harness process tree", "run",
           column=Column("peak RSS MiB", "{:.0f}")),
    Metric("peak_gpu_alloc_mb", "MiB", False, "torch.cuda peak allocated memory", "run",
           column=Column("peak GPU MiB", "{:.0f}")),
    # Tasks (bench/metrics/tasks.py): a task is every sample sharing a task_id.
    Metric("task_latency_ms", "ms", False, "a task's last token - its first send", "task",
           per_task=sv.task_latency_ms, slo=Slo(task=sv.task_latency_ms),
           headline=("task_latency_ms_p50", "task_latency_ms_p90", "task_latency_ms_p99"),
           column=Column(_stat("task latency", "ms"), "{:.0f}"), narrow=Column("task {part} ms", "{:.0f}")),
    Metric("task_model_ms", "ms", False, "time with at least one of the task's LLM calls in flight", "task",
           column=Column("task model ms ({part})", "{:.0f}")),
    Metric("task_tool_ms", "ms", False, "time in tool calls / think time with no LLM call in flight", "task",
           column=Column("task tools ms ({part})", "{:.0f}")),
    Metric("task_client_ms", "ms", False, "task latency - model - tool time: the client's own delay", "task",
           column=Column("task client ms ({part})", "{:.0f}")),
    Metric("calls_per_task", "calls", False, "LLM calls per task (steps, sub-agent steps, compactions)", "task",
           column=Column("calls/task", "{:.1f}")),
    Metric("prompt_tokens_per_task", "tok", False, "prompt tokens summed over a task's calls", "task"),
    Metric("cached_prompt_tokens_per_task", "tok", True, "prompt tokens served from a prefix cache", "task"),
    Metric("output_tokens_per_task", "tok", False, "output tokens summed over a task's calls", "task"),
    Metric("tasks", "tasks", None, "tasks started", "count"),
    Metric("tasks_completed", "tasks", None, "tasks without a failed call", "count",
           column=Column("tasks ok", "{:.0f}")),
    Metric("tasks_s", "1/s", True, "completed tasks / duration", "rate", per_task=sv.task_completed_count,
           headline=("tasks_s",), column=Column("tasks/s", "{:.3f}")),
    Metric("goodput_task_s", "1/s", True, "completed tasks within slo.task_latency_ms / duration", "rate",
           needs_slo=True, column=Column("goodput tasks/s", "{:.3f}")),
    Metric("task_slo_attainment", "fraction", True, "share of tasks completed within slo.task_latency_ms",
           "fraction", needs_slo=True),
    Metric("task_error_rate", "fraction", False, "tasks with a failed call / all tasks", "fraction"),
    # Reasoning streams (docs/reasoning.md): output = thought + think markers + answer. Absent
    # from a run whose backend did not split its streams.
    Metric("reasoning_tokens", "tok", None, "thought tokens of a request (think markers excluded)", "scalar",
           per_sample=sv.reasoning_tokens),
    Metric("answer_tokens", "tok", None, "answer tokens of a request (after the think-end marker)", "scalar",
           per_sample=sv.answer_tokens),
    # As an SLO: a stream not split in thought and answer answers from its first token (TTFA =
    # TTFT), and a call that thought and gave no answer token answered when it ended.
    Metric("ttfa_ms", "ms", False, "first answer token arrival - sent (TTFT counts a thought token too)", "scalar",
           per_sample=sv.ttfa_ms, slo=Slo(sv.ttfa_slo_ms, lambda c: c.ttfa_ms),
           column=Column(_stat("TTFA", "ms"), "{:.1f}")),
    Metric("thinking_ms", "ms", False, "first answer token arrival - first token arrival: time spent thinking",
           "scalar", per_sample=sv.thinking_ms, column=Column(_stat("thinking", "ms"), "{:.1f}")),
    Metric("reasoning_tokens_total", "tok", None, "thought tokens of completed requests", "count"),
    Metric("answer_tokens_total", "tok", None, "answer tokens of completed requests", "count"),
    # Per task, tokens are what the task costs (fewer is better), as output_tokens_per_task.
    Metric("reasoning_tokens_per_task", "tok", False, "thought tokens summed over a task's calls", "task",
           per_task=sv.task_reasoning_tokens),
    Metric("answer_tokens_per_task", "tok", False, "answer tokens summed over a task's calls", "task",
           per_task=sv.task_answer_tokens),
)

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}
# Every headline key, in table order: what `bench compare` judges when no keys are named.
HEADLINE_KEYS: tuple[str, ...] = tuple(k for m in _METRICS for k in m.headline)
# The metrics a single request is checked by against an SLO; the others are checked per task.
REQUEST_SLO: dict[str, Callable[[Sample], float]] = {m.name: m.slo.request for m in _METRICS
                                                     if m.slo is not None and m.slo.request is not None}
# Every key an SLO may hold a threshold for (bench.config's SLOSpec has a field for each).
SLO_KEYS: tuple[str, ...] = tuple(m.name for m in _METRICS if m.slo is not None)
# A summary key that is a statistic of a metric's per-unit values: `ttft_ms_p99`, `task_latency_ms_mean`.
STAT_KEY = re.compile(r"^(?P<base>.+)_(?P<stat>p\d+|mean)$")


def metric_for(key: str) -> Metric | None:
    """The definition behind a summary key such as `ttft_ms_p99` (longest matching prefix)."""
    best = None
    for name in METRICS:
        if (key == name or key.startswith(name + "_")) and (best is None or len(name) > len(best)):
            best = name
    return METRICS.get(best) if best else None


def resampled(key: str) -> tuple[Metric, str | None] | None:
    """The metric behind a key a run's samples can be resampled for, and the key's statistic
    (None for a rate or a fraction, whose key is the metric's name); None for any other key:
    the keys a comparison can give an interval (and a verdict) for."""
    m = METRICS.get(key)
    if m is not None and m.kind in ("rate", "fraction"):
        return (m, None) if m.per_sample is not None or m.per_task is not None else None
    st = STAT_KEY.match(key)
    m = METRICS.get(st["base"]) if st else None
    if m is not None and (m.kind in ("scalar", "pooled") and m.per_sample is not None
                          or m.kind == "task" and m.per_task is not None):
        return m, st["stat"]
    return None


def column_for(key: str, narrow: bool = False) -> Column:
    """The title (its `{part}` filled in) and number format a table shows summary key `key` with."""
    m = metric_for(key)
    col = m and ((m.narrow or m.column) if narrow else m.column)
    if col is None:
        raise KeyError(f"{key}: no metric with a column for it")
    return Column(col.title.format(part=key[len(m.name) + 1:]), col.fmt)
