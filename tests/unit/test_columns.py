"""The columnar summaries (bench.metrics.columns) give exactly the floats the per-sample summaries
give. The reference below computes the summary one Sample at a time (it does not go through the
columns); every comparison is exact, key order included."""
from __future__ import annotations

import random
import re
import tracemalloc
from collections import defaultdict

import numpy as np
import pytest

from bench.metrics import core, roofline, tasks
from bench.metrics.columns import SampleColumns
from bench.metrics.core import PERCENTILES, meets_slo
from bench.metrics.sample_values import (chunk_gap_ms, e2e_ms, itl_ms, send_lag_ms, tpot_ms, ttft_from_scheduled_ms,
                                         ttft_ms)
from bench.metrics.tasks import task_values
from bench.types import Sample

MS = 1_000_000


# ---- the reference: the summaries as they were computed from a list of Samples ----

def ref_distribution(prefix, values):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    out = {f"{prefix}_n": float(len(v))}
    if len(v):
        for p, q in zip(PERCENTILES, np.percentile(v, PERCENTILES)):
            out[f"{prefix}_p{p}"] = float(q)
        out[f"{prefix}_mean"] = float(v.mean())
        out[f"{prefix}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def ref_error_reasons(samples):
    counts = {}
    for s in samples:
        if s.error and not s.warmup:
            key = re.sub(r"\W+", "_", s.error.split(":")[0]).strip("_") or "unknown"
            counts[key] = counts.get(key, 0) + 1
    return counts


def ref_duration_s(samples):
    if not samples:
        return 0.0
    return (max(s.end_ns for s in samples) - min(s.sent_ns for s in samples)) / 1e9


def ref_summarize(samples, slo=None):
    measured = [s for s in samples if not s.warmup]
    ok = [s for s in measured if s.ok and s.token_ns]
    dur = ref_duration_s(measured)
    out = {
        "requests": float(len(measured)), "completed": float(len(ok)),
        "errors": float(len(measured) - len(ok)),
        "error_rate": (len(measured) - len(ok)) / len(measured) if measured else 0.0,
        "duration_s": dur,
        "prompt_tokens_total": float(sum(s.prompt_tokens for s in ok)),
        "output_tokens_total": float(sum(s.output_tokens for s in ok)),
    }
    out |= ref_distribution("ttft_ms", map(ttft_ms, ok))
    out |= ref_distribution("ttft_from_scheduled_ms", map(ttft_from_scheduled_ms, ok))
    out |= ref_distribution("tpot_ms", map(tpot_ms, ok))
    out |= ref_distribution("itl_ms", (g for s in ok for g in itl_ms(s)))
    out |= ref_distribution("chunk_gap_ms", (g for s in ok for g in chunk_gap_ms(s)))
    out |= ref_distribution("e2e_ms", map(e2e_ms, ok))
    out |= ref_distribution("send_lag_ms", map(send_lag_ms, measured))
    out |= {f"errors_{reason}": float(n) for reason, n in ref_error_reasons(measured).items()}
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


def ref_per_task(samples):
    groups = defaultdict(list)
    for s in samples:
        if s.task_id is not None and not s.warmup:
            groups[s.task_id].append(s)
    return sorted((task_values(t, g) for t, g in groups.items()), key=lambda v: v.first_sent_ns)


def ref_mean(values):
    return sum(values) / len(values) if values else 0.0


def ref_summarize_tasks(samples, duration_s, slo=None):
    ts = ref_per_task(samples)
    if not ts:
        return {}
    ok = [t for t in ts if t.ok]
    out = {"tasks": float(len(ts)), "tasks_completed": float(len(ok)), "task_error_rate": (len(ts) - len(ok)) / len(ts)}
    out |= ref_distribution("task_latency_ms", [t.latency_ms for t in ok])
    for name, get in (("task_model_ms", lambda t: t.model_ms), ("task_tool_ms", lambda t: t.tool_ms),
                      ("task_client_ms", lambda t: t.client_ms)):
        vals = [get(t) for t in ok]
        out[f"{name}_mean"] = ref_mean(vals)
        out[f"{name}_p50"] = ref_distribution(name, vals).get(f"{name}_p50", 0.0)
    out["calls_per_task_mean"] = ref_mean([t.calls for t in ok])
    out["prompt_tokens_per_task_mean"] = ref_mean([t.prompt_tokens for t in ok])
    out["output_tokens_per_task_mean"] = ref_mean([t.output_tokens for t in ok])
    cached = [t.cached_prompt_tokens for t in ok if t.cached_prompt_tokens is not None]
    if cached:
        out["cached_prompt_tokens_per_task_mean"] = ref_mean(cached)
    if duration_s > 0:
        out["tasks_s"] = len(ok) / duration_s
    limit = (slo or {}).get("task_latency_ms")
    if limit is not None:
        good = sum(t.latency_ms <= limit for t in ok)
        out["task_slo_attainment"] = good / len(ts)
        if duration_s > 0:
            out["goodput_task_s"] = good / duration_s
    return out


def ref_decode_profile(samples, duration_s, tpot_ms_mean):
    busy_ns, n_tokens, ctx_sum = 0, 0, 0.0
    for s in samples:
        if s.warmup or not s.ok or s.output_tokens < 2 or len(s.token_ns) < 2:
            continue
        n = s.output_tokens - 1
        busy_ns += s.token_ns[-1] - s.token_ns[0]
        n_tokens += n
        ctx_sum += n * (s.prompt_tokens + (s.output_tokens) / 2)
    if not n_tokens or duration_s <= 0 or tpot_ms_mean <= 0:
        return None
    return roofline.DecodeProfile(busy_ns / 1e9 / duration_s, ctx_sum / n_tokens, tpot_ms_mean / 1000)


# ---- varied synthetic samples ----

def _tokens(rng, start_ns, stalls, chunked):
    """(token stamps, chunk stamps): one token per chunk, multi-token chunks, or odd chunks."""
    stamps, t = [], start_ns
    for _ in range(rng.choice([1, 1, 2, 2, 3, 5, 9])):
        stall = stalls and rng.random() < 0.02                           # > 2^31 ns: gaps widen to int64
        t += rng.randrange(2200 * MS, 3000 * MS) if stall else rng.choice([0, rng.randrange(1, 40 * MS)])
        stamps.extend([t] * rng.choice([1, 1, 1, 3]))                                    # a k-token chunk
    kind = rng.random() if chunked else 0.0
    chunks = tuple(stamps) if kind < 0.6 else tuple(sorted(set(stamps))) if kind < 0.9 else tuple(stamps[::2])
    return tuple(stamps), chunks


def make_samples(seed: int, n: int = 400) -> list[Sample]:
    rng = random.Random(seed)
    out, clock = [], 7_000_000_000_000
    for i in range(n):
        clock += rng.randrange(0, 30 * MS)
        sent = clock + rng.randrange(-5 * MS, 5 * MS)
        tokens, chunks = _tokens(rng, sent + rng.randrange(1, 200 * MS), stalls=seed % 2 == 1,
                                 chunked=seed % 3 != 0)   # seeds 0, 3: chunks are the tokens throughout
        error, done = None, None
        roll = rng.random()
        if roll < 0.08:
            tokens, chunks, error = (), (), rng.choice(["BackendError: boom", "http_429: slow down", "", "x"])
        elif roll < 0.14:
            error, done = "read_timeout: stream cut", rng.choice([None, tokens[-1] + 50 * MS])
        task = f"task-{i // 6 + rng.randrange(3)}" if rng.random() < 0.7 else None   # tasks interleave
        meta = {}
        if task and rng.random() < 0.4:
            start = sent - rng.randrange(1, 100 * MS)
            meta = {"wait_kind": "tool", "wait_start_ns": start, "wait_end_ns": start + rng.randrange(0, 90 * MS)}
        output = len(tokens) if rng.random() < 0.9 else max(0, len(tokens) + rng.choice([-1, 1]))
        out.append(Sample(
            request_id=f"r{i}", task_id=task, scheduled_ns=clock, sent_ns=sent, token_ns=tokens, chunk_ns=chunks,
            prompt_tokens=rng.randrange(1, 5000), cached_prompt_tokens=rng.choice([None, 0, rng.randrange(0, 4000)]),
            output_tokens=output, error=error, warmup=rng.random() < 0.05, meta=meta, done_ns=done))
    return out


SLOS = [None, {}, {"ttft_ms": None}, {"ttft_ms": 100}, {"e2e_ms": 250}, {"tpot_ms": 30}, {"itl_ms": 20},
        {"task_latency_ms": 300}, {"ttft_ms": 150, "tpot_ms": 20, "itl_ms": 30, "e2e_ms": 400,
                                   "task_latency_ms": 600}]


def _same(a: dict, b: dict) -> None:
    assert list(a.items()) == list(b.items())


@pytest.mark.parametrize("seed", range(6))
def test_columnar_summaries_equal_the_per_sample_ones(seed):
    samples = make_samples(seed)
    cols = SampleColumns.from_samples(samples)
    for slo in SLOS:
        summary = core.summarize_columns(cols, slo)
        _same(summary, ref_summarize(samples, slo))
        _same(core.summarize(samples, slo), summary)
        dur = summary["duration_s"]
        _same(tasks.summarize_tasks_columns(cols, dur, slo), ref_summarize_tasks(samples, dur, slo))
        _same(tasks.summarize_tasks(samples, dur, slo), ref_summarize_tasks(samples, dur, slo))
    assert tasks.per_task_columns(cols) == ref_per_task(samples)
    assert core.error_reasons_columns(cols) == ref_error_reasons(samples) == core.error_reasons(samples)
    for dur, tpot in ((1.5, 12.0), (0.0, 12.0), (2.0, 0.0)):
        assert roofline.decode_profile_columns(cols, dur, tpot) == ref_decode_profile(samples, dur, tpot)
        assert roofline.decode_profile(samples, dur, tpot) == ref_decode_profile(samples, dur, tpot)


def test_chunks_kept_apart_only_once_they_differ_and_gaps_widen():
    same = Sample("a", None, 0, 0, (10, 20), (10, 20), 1, None, 2)
    other = Sample("b", None, 0, 0, (30, 30, 5_000_000_000), (30, 5_000_000_000), 1, None, 3)
    cols = SampleColumns.from_samples([same, same, other])
    assert cols.chunk_gap_ns is not cols.gap_ns
    assert list(cols.chunk_gap_ns.data) == [10, 10, 4_999_999_970]
    assert list(cols.gap_ns.data) == [10, 10, 0, 4_999_999_970] and cols.gap_ns.data.typecode == "q"


def test_empty_and_all_failed_runs():
    empty = SampleColumns()
    _same(core.summarize_columns(empty, {"ttft_ms": 1}), ref_summarize([], {"ttft_ms": 1}))
    assert tasks.summarize_tasks_columns(empty, 0.0) == {}
    assert roofline.decode_profile_columns(empty, 1.0, 1.0) is None
    bad = [Sample(f"r{i}", None, i, i, (), (), 1, None, 0, error=f"connect_refused: {i}") for i in range(3)]
    cols = SampleColumns.from_samples([Sample("w", None, 0, 0, (1,), (1,), 1, None, 1, warmup=True)] + bad)
    assert len(cols) == 3 and not cols.any_ok and cols.first_error == "connect_refused: 0"
    assert core.error_reasons_columns(cols) == {"connect_refused": 3}


def test_bytes_per_two_token_request():
    """The point of the columns: a long run's memory. 2-token requests, measured with tracemalloc
    (the module docstring gives the figure: about 60 bytes; a Sample list held ~800)."""
    n = 100_000

    def make(i: int) -> Sample:
        sent = 10**12 + i * MS
        stamps = (sent + 5 * MS, sent + 7 * MS)
        return Sample(f"r{i}", None, sent, sent, stamps, stamps, 100, None, 2, (1, 2))

    tracemalloc.start()
    try:
        cols = SampleColumns()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            cols.append(make(i))
        per_sample = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(cols) == n and per_sample < 100, per_sample
