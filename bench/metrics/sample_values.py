"""Pure functions: what one sample (a request), or the samples of one task, yields of a metric.

The metric table (bench.metrics.definitions) names the function of each metric; the summaries of
bench.metrics.core compute the same values from a run's columns.
"""
from __future__ import annotations

import numpy as np

from bench.types import Sample


def completed(s: Sample) -> bool:
    """Succeeded with at least one token: latency metrics are over these requests."""
    return s.ok and bool(s.token_ns)


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


# Reasoning streams (Sample.reasoning_tokens / answer_tokens set by the backend's split); None
# for a request whose stream was not split, or, for the times, that had no answer token.

def reasoning_tokens(s: Sample) -> int | None:
    return s.reasoning_tokens


def answer_tokens(s: Sample) -> int | None:
    return s.answer_tokens


def ttfa_ms(s: Sample) -> float | None:
    """Time to first answer token: the first token after the thought (TTFT counts either kind)."""
    return None if s.first_answer_ns is None else (s.first_answer_ns - s.sent_ns) / 1e6


def ttfa_slo_ms(s: Sample) -> float:
    """TTFA as an SLO holds it (bench.metrics.definitions): a stream not split in thought and
    answer answers from its first token; a call that thought and gave no answer token, at its end."""
    if s.answer_tokens is None:
        return ttft_ms(s)
    return ((s.end_ns if s.first_answer_ns is None else s.first_answer_ns) - s.sent_ns) / 1e6


def thinking_ms(s: Sample) -> float | None:
    """Time spent thinking as the client sees it: first token to first answer token."""
    return None if s.first_answer_ns is None or not s.token_ns else (s.first_answer_ns - s.token_ns[0]) / 1e6


# What one request adds to a rate's or a fraction's numerator.

def completed_count(s: Sample) -> float:
    return float(completed(s))


def failed_count(s: Sample) -> float:
    return 0.0 if completed(s) else 1.0


def completed_output_tokens(s: Sample) -> float:
    return completed_count(s) * s.output_tokens


def completed_total_tokens(s: Sample) -> float:
    return completed_count(s) * (s.prompt_tokens + s.output_tokens)


# Against an SLO threshold a request is judged by one number per metric.

def tpot_slo_ms(s: Sample) -> float:
    """TPOT, 0 for a request of one token (it has no time per output token to miss)."""
    return tpot_ms(s) or 0.0


def max_itl_ms(s: Sample) -> float:
    """The longest gap between two tokens: an ITL threshold holds when every gap is within it."""
    return max(itl_ms(s), default=0.0)


# A task: every sample sharing a task_id.

def task_completed_count(samples: list[Sample]) -> float:
    return float(all(completed(s) for s in samples))


def task_latency_ms(samples: list[Sample]) -> float | None:
    """The task's first send to its last token; None when one of its calls failed."""
    if not all(completed(s) for s in samples):
        return None
    return (max(s.end_ns for s in samples) - min(s.sent_ns for s in samples)) / 1e6


def task_reasoning_tokens(samples: list[Sample]) -> float | None:
    """Thought tokens summed over a task's calls; None when a call failed or none was split."""
    if not all(completed(s) for s in samples) or all(s.answer_tokens is None for s in samples):
        return None
    return float(sum(s.reasoning_tokens or 0 for s in samples))


def task_answer_tokens(samples: list[Sample]) -> float | None:
    if not all(completed(s) for s in samples) or all(s.answer_tokens is None for s in samples):
        return None
    return float(sum(s.answer_tokens or 0 for s in samples))
