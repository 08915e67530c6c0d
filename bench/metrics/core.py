"""Pure functions: samples -> per-request values -> a flat summary. Definitions in README.md.

Every metric name carries its unit; METRICS says whether higher is better, so comparisons
can give direction-aware verdicts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from bench.types import Sample

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, slots=True)
class Metric:
    unit: str
    higher_is_better: bool
    doc: str


METRICS: dict[str, Metric] = {
    "ttft_ms": Metric("ms", False, "first output token arrival - sent"),
    "ttft_from_scheduled_ms": Metric("ms", False, "first output token arrival - scheduled (client queueing counts)"),
    "e2e_ms": Metric("ms", False, "last output token arrival - sent"),
    "tpot_ms": Metric("ms", False, "(e2e - ttft) / (output_tokens - 1), requests with >= 2 tokens"),
    "itl_ms": Metric("ms", False, "gaps between consecutive output tokens (k tokens in one chunk: k-1 zero gaps)"),
    "chunk_gap_ms": Metric("ms", False, "gaps between consecutive streamed chunks"),
    "send_lag_ms": Metric("ms", False, "sent - scheduled: how late the client sent"),
    "request_s": Metric("1/s", True, "completed requests / duration"),
    "output_tok_s": Metric("tok/s", True, "output tokens of completed requests / duration"),
    "total_tok_s": Metric("tok/s", True, "(prompt + output) tokens of completed requests / duration"),
    "goodput_request_s": Metric("1/s", True, "completed requests meeting every SLO / duration"),
    "slo_attainment": Metric("fraction", True, "share of requests meeting every SLO"),
    "error_rate": Metric("fraction", False, "failed requests / all requests"),
    "errors": Metric("requests", False, "failed requests; errors_<reason>: those failed for <reason>"),
    "loop_lag_ms": Metric("ms", False, "oversleep of the client's 10 ms event-loop tick"),
    "client_loop_cpu_util": Metric("fraction", False, "event-loop thread CPU time / wall time (1 = a core)"),
    "client_cpu_util": Metric("fraction", False, "harness process CPU time / wall time (in-process models included)"),
    "duration_s": Metric("s", False, "first send to last completion"),
    "peak_rss_mb": Metric("MiB", False, "peak resident memory of the harness process tree"),
    "peak_gpu_alloc_mb": Metric("MiB", False, "torch.cuda peak allocated memory"),
    # Task metrics (bench/task_metrics.py): a task is every sample sharing a task_id.
    "task_latency_ms": Metric("ms", False, "a task's last token - its first send"),
    "task_model_ms": Metric("ms", False, "time with at least one of the task's LLM calls in flight"),
    "task_tool_ms": Metric("ms", False, "time in tool calls / think time with no LLM call in flight"),
    "task_client_ms": Metric("ms", False, "task latency - model - tool time: the client's own delay"),
    "calls_per_task": Metric("calls", False, "LLM calls per task (steps, sub-agent steps, compactions)"),
    "prompt_tokens_per_task": Metric("tok", False, "prompt tokens summed over a task's calls"),
    "cached_prompt_tokens_per_task": Metric("tok", True, "prompt tokens served from a prefix cache"),
    "output_tokens_per_task": Metric("tok", False, "output tokens summed over a task's calls"),
    "tasks_s": Metric("1/s", True, "completed tasks / duration"),
    "goodput_task_s": Metric("1/s", True, "completed tasks within slo.task_latency_ms / duration"),
    "task_slo_attainment": Metric("fraction", True, "share of tasks completed within slo.task_latency_ms"),
    "task_error_rate": Metric("fraction", False, "tasks with a failed call / all tasks"),
}


def metric_for(key: str) -> Metric | None:
    """The definition behind a summary key such as `ttft_ms_p99` (longest matching prefix)."""
    best = None
    for name in METRICS:
        if (key == name or key.startswith(name + "_")) and (best is None or len(name) > len(best)):
            best = name
    return METRICS.get(best) if best else None


def ttft_ms(s: Sample) -> float:
    return (s.token_ns[0] - s.sent_ns) / 1e6


def ttft_from_scheduled_ms(s: Sample) -> float:
    return (s.token_ns[0] - s.scheduled_ns) / 1e6


def e2e_ms(s: Sample) -> float:
    return (s.token_ns[-1] - s.sent_ns) / 1e6


def tpot_ms(s: Sample) -> float | None:
    if s.output_tokens < 2:
        return None
    return (e2e_ms(s) - ttft_ms(s)) / (s.output_tokens - 1)


def itl_ms(s: Sample) -> list[float]:
    """Token-accurate: a chunk of k tokens gives one real gap and k-1 gaps of zero."""
    return (np.diff(np.asarray(s.token_ns, dtype=np.int64)) / 1e6).tolist()


def chunk_gap_ms(s: Sample) -> list[float]:
    return (np.diff(np.asarray(s.chunk_ns, dtype=np.int64)) / 1e6).tolist()


def send_lag_ms(s: Sample) -> float:
    return (s.sent_ns - s.scheduled_ns) / 1e6


def distribution(prefix: str, values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p95/p99/mean/std and n for one metric; n=0 gives only the count."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    out = {f"{prefix}_n": float(len(v))}
    if len(v):
        for p, q in zip(PERCENTILES, np.percentile(v, PERCENTILES)):
            out[f"{prefix}_p{p}"] = float(q)
        out[f"{prefix}_mean"] = float(v.mean())
        out[f"{prefix}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def meets_slo(s: Sample, slo: dict[str, float | None]) -> bool:
    if not s.ok:
        return False
    checks = {"ttft_ms": lambda: ttft_ms(s), "e2e_ms": lambda: e2e_ms(s),
              "tpot_ms": lambda: tpot_ms(s) or 0.0,
              "itl_ms": lambda: max(itl_ms(s), default=0.0)}
    return all(checks[k]() <= limit for k, limit in slo.items() if limit is not None and k in checks)


def duration_s(samples: list[Sample]) -> float:
    """First send to last completion over the measured samples."""
    if not samples:
        return 0.0
    return (max(s.end_ns for s in samples) - min(s.sent_ns for s in samples)) / 1e9


def summarize(samples: Iterable[Sample], slo: dict[str, float | None] | None = None) -> dict[str, float]:
    """The run's flat summary from its raw samples (warm-up samples excluded)."""
    measured = [s for s in samples if not s.warmup]
    ok = [s for s in measured if s.ok and s.token_ns]
    dur = duration_s(measured)
    out: dict[str, float] = {
        "requests": float(len(measured)),
        "completed": float(len(ok)),
        "errors": float(len(measured) - len(ok)),
        "error_rate": (len(measured) - len(ok)) / len(measured) if measured else 0.0,
        "duration_s": dur,
        "prompt_tokens_total": float(sum(s.prompt_tokens for s in ok)),
        "output_tokens_total": float(sum(s.output_tokens for s in ok)),
    }
    out |= distribution("ttft_ms", map(ttft_ms, ok))
    out |= distribution("ttft_from_scheduled_ms", map(ttft_from_scheduled_ms, ok))
    out |= distribution("tpot_ms", map(tpot_ms, ok))
    out |= distribution("itl_ms", (g for s in ok for g in itl_ms(s)))
    out |= distribution("chunk_gap_ms", (g for s in ok for g in chunk_gap_ms(s)))
    out |= distribution("e2e_ms", map(e2e_ms, ok))
    out |= distribution("send_lag_ms", map(send_lag_ms, measured))
    out |= {f"errors_{reason}": float(n) for reason, n in error_reasons(measured).items()}
    if dur > 0:
        out["request_s"] = len(ok) / dur
        out["output_tok_s"] = out["output_tokens_total"] / dur
        out["total_tok_s"] = (out["prompt_tokens_total"] + out["output_tokens_total"]) / dur
    if slo and any(v is not None for v in slo.values()):
        good = sum(meets_slo(s, slo) for s in ok)
        out["slo_attainment"] = good / len(measured) if measured else 0.0
        if dur > 0:
            out["goodput_request_s"] = good / dur
    return out


def error_reasons(samples: Iterable[Sample]) -> dict[str, int]:
    """Failed requests counted by reason: what their error says before the first colon (a
    backend's reason code such as `http_429`, else the exception type), as an identifier."""
    counts: dict[str, int] = {}
    for s in samples:
        if s.error and not s.warmup:
            key = re.sub(r"\W+", "_", s.error.split(":")[0]).strip("_") or "unknown"
            counts[key] = counts.get(key, 0) + 1
    return counts

