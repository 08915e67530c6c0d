"""Pure functions: samples -> per-request values -> a flat summary. Definitions in README.md.

Every metric name carries its unit; METRICS says whether higher is better, so comparisons
can give direction-aware verdicts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from bench.metrics.columns import HAS_TOKENS, OK, SampleColumns, view
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
    return distribution_of(prefix, np.asarray([x for x in values if x is not None], dtype=float))


def distribution_of(prefix: str, v: np.ndarray) -> dict[str, float]:
    """distribution() of a contiguous float64 array (the same values give the same floats)."""
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
    return summarize_columns(SampleColumns.from_samples(samples), slo)


def summarize_columns(cols: SampleColumns, slo: dict[str, float | None] | None = None) -> dict[str, float]:
    """summarize() from a run's columns. Each value is computed with the operations of the
    per-request functions above ((a - b) / 1e6 ...) over the same requests in the same order,
    so every float is the one they give."""
    n, c = len(cols), _Completed(cols)
    dur = duration_s_columns(cols)
    out: dict[str, float] = {
        "requests": float(n),
        "completed": float(c.n),
        "errors": float(n - c.n),
        "error_rate": (n - c.n) / n if n else 0.0,
        "duration_s": dur,
        "prompt_tokens_total": float(c.prompt.sum()),
        "output_tokens_total": float(c.output.sum()),
    }
    sent, scheduled = view(cols.sent_ns), view(cols.scheduled_ns)
    out |= distribution_of("ttft_ms", c.ttft_ms)
    out |= distribution_of("ttft_from_scheduled_ms", (c.first_ns - c.scheduled_ns) / 1e6)
    out |= distribution_of("tpot_ms", c.tpot_ms[c.output >= 2])
    out |= distribution_of("itl_ms", view(cols.gap_ns) / 1e6)
    out |= distribution_of("chunk_gap_ms", view(cols.chunk_gap_ns) / 1e6)
    out |= distribution_of("e2e_ms", c.e2e_ms)
    out |= distribution_of("send_lag_ms", (sent - scheduled) / 1e6)
    out |= {f"errors_{reason}": float(k) for reason, k in cols.error_counts.items()}
    if dur > 0:
        out["request_s"] = c.n / dur
        out["output_tok_s"] = out["output_tokens_total"] / dur
        out["total_tok_s"] = (out["prompt_tokens_total"] + out["output_tokens_total"]) / dur
    if slo and any(v is not None for v in slo.values()):
        good = int(c.meets_slo(slo).sum())
        out["slo_attainment"] = good / n if n else 0.0
        if dur > 0:
            out["goodput_request_s"] = good / dur
    return out


class _Completed:
    """The completed requests (ok, with tokens) of a run's columns, and their per-request values."""

    def __init__(self, cols: SampleColumns):
        flags = view(cols.flags)
        done = (flags & (OK | HAS_TOKENS)) == (OK | HAS_TOKENS)
        self.n = int(done.sum())
        sent = view(cols.sent_ns)[done]
        self.first_ns, self.scheduled_ns = view(cols.first_token_ns)[done], view(cols.scheduled_ns)[done]
        self.prompt = view(cols.prompt_tokens)[done].astype(np.int64)
        self.output = view(cols.output_tokens)[done].astype(np.int64)
        self.max_gap_ns = view(cols.max_gap_ns)[done]
        self.ttft_ms = (self.first_ns - sent) / 1e6
        self.e2e_ms = (view(cols.end_ns)[done] - sent) / 1e6      # a completed request ends at its last token
        with np.errstate(divide="ignore", invalid="ignore"):     # under 2 tokens: no TPOT
            self.tpot_ms = (self.e2e_ms - self.ttft_ms) / (self.output - 1)

    def meets_slo(self, slo: dict[str, float | None]) -> np.ndarray:
        """meets_slo() of each completed request, as a boolean array."""
        values = {"ttft_ms": lambda: self.ttft_ms, "e2e_ms": lambda: self.e2e_ms,
                  "tpot_ms": lambda: np.where(self.output >= 2, self.tpot_ms, 0.0),
                  "itl_ms": lambda: self.max_gap_ns / 1e6}   # x / 1e6 keeps order: max of ms = max ns / 1e6
        good = np.ones(self.n, dtype=bool)
        for key, limit in slo.items():
            if limit is not None and key in values:
                good &= values[key]() <= limit
        return good


def duration_s_columns(cols: SampleColumns) -> float:
    """duration_s() of a run's columns."""
    if not len(cols):
        return 0.0
    return (int(view(cols.end_ns).max()) - int(view(cols.sent_ns).min())) / 1e9


def error_reasons(samples: Iterable[Sample]) -> dict[str, int]:
    """Failed requests counted by reason: what their error says before the first colon (a
    backend's reason code such as `http_429`, else the exception type), as an identifier."""
    return error_reasons_columns(SampleColumns.from_samples(samples))


def error_reasons_columns(cols: SampleColumns) -> dict[str, int]:
    return dict(cols.error_counts)
