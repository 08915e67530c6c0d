"""Pure functions: a run's samples -> a flat summary. Definitions in docs/metrics.md.

Every metric name carries its unit; the metric table (bench.metrics.definitions) says what each
is, whether higher is better and how it is held against an SLO; bench.metrics.sample_values gives
the per-request values the column path below reproduces exactly.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bench.metrics.columns import HAS_TOKENS, OK, SampleColumns, view
from bench.metrics.definitions import METRICS, REQUEST_SLO
from bench.types import Sample

PERCENTILES = (50, 90, 95, 99)


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
    """A request succeeded and met every per-request threshold in `slo` (the others are checked
    per task: bench.metrics.slo)."""
    if not s.ok:
        return False
    return all(REQUEST_SLO[k](s) <= limit for k, limit in slo.items() if limit is not None and k in REQUEST_SLO)


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
    out |= reasoning_summary(cols)
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


def reasoning_summary(cols: SampleColumns) -> dict[str, float]:
    """Thought and answer tokens, time to first answer and time thinking, over the completed
    requests whose stream was split (bench.metrics.sample_values gives the same per request);
    empty for a run without reasoning streams."""
    rows = view(cols.think_row)
    if not len(rows):
        return {}
    flags = view(cols.flags)[rows]
    done = (flags & (OK | HAS_TOKENS)) == (OK | HAS_TOKENS)
    rows = rows[done]
    thought = view(cols.reasoning_tokens)[done].astype(np.int64)
    answer = view(cols.answer_tokens)[done].astype(np.int64)
    first_answer = view(cols.first_answer_ns)[done]
    has = first_answer > 0
    sent, first = view(cols.sent_ns)[rows][has], view(cols.first_token_ns)[rows][has]
    out = {"reasoning_tokens_total": float(thought.sum()), "answer_tokens_total": float(answer.sum())}
    out |= distribution_of("reasoning_tokens", thought.astype(float))
    out |= distribution_of("answer_tokens", answer.astype(float))
    out |= distribution_of("ttfa_ms", (first_answer[has] - sent) / 1e6)
    out |= distribution_of("thinking_ms", (first_answer[has] - first) / 1e6)
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
        self._cols, self._done = cols, done

    @property
    def ttfa_ms(self) -> np.ndarray:
        """sample_values.ttfa_slo_ms of each completed request: TTFT where the stream was not split,
        the first answer token where it was, its end where a thought gave no answer token."""
        out = self.ttft_ms.copy()
        rows = view(self._cols.think_row)
        if len(rows):
            first_answer = view(self._cols.first_answer_ns).copy()
            ends = view(self._cols.end_ns)[rows]
            first_answer[first_answer == 0] = ends[first_answer == 0]
            at = np.full(len(self._done), -1, dtype=np.int64)
            at[rows] = first_answer
            at = at[self._done]
            split = at >= 0
            out[split] = (at[split] - view(self._cols.sent_ns)[self._done][split]) / 1e6
        return out

    def meets_slo(self, slo: dict[str, float | None]) -> np.ndarray:
        """meets_slo() of each completed request, as a boolean array."""
        good = np.ones(self.n, dtype=bool)
        for key, limit in slo.items():
            m = METRICS.get(key)
            if limit is not None and m is not None and m.slo is not None and m.slo.columns is not None:
                good &= m.slo.columns(self) <= limit
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
