"""`vllm bench serve --save-result [--save-detailed]` JSON (vllm/benchmarks/serve.py).

With --save-detailed the file holds per-request lists (start_times, ttfts, itls, latencies,
input_lens, output_lens, errors): each request becomes a sample, stamped from its own
perf_counter start plus its TTFT and chunk gaps, and our summary is computed from them. Without
it only the summary is there: its TTFT/TPOT/E2EL statistics are taken as ours (the same
definitions, ms), its ITL as our chunk_gap_ms (both are gaps between streamed chunks), and its
throughputs are kept as reported (its duration runs from the benchmark's start to its end, ours
from the first send to the last token).
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from bench.interop.importers.base import (Imported, PeerFileError, Reported, Shape, near_fixed, need, ns,
                                          read_json, spread_tokens, unknown)
from bench.types import Sample

TOOL = "vllm bench serve"
WHAT = "a `vllm bench serve` result JSON (--save-result)"
CONFIG_KEYS = {"date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
               "request_rate", "burstiness", "max_concurrency", "ramp_up_strategy", "ramp_up_start_rps",
               "ramp_up_end_rps", "vllm_version", "base_url"}
SUMMARY_KEYS = {"duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
                "max_output_tokens_per_s", "max_concurrent_requests", "rtfx"}
DETAIL_KEYS = ("input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "errors")
OTHER_KEYS = {"queue_times", "generated_texts"}
_STAT = re.compile(r"^(mean|median|std|p\d+(?:\.\d+)?)_(ttft|tpot|itl|e2el)_ms$")
# vLLM's statistic name -> ours, and its metric -> our metric (same definitions, ms)
_OUR_STAT = {"mean": "mean", "median": "p50", "std": "std", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
# vLLM's ITL is the gap between streamed chunks: our chunk_gap_ms (our itl_ms splits a chunk of k tokens)
_OUR_METRIC = {"ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "chunk_gap_ms", "e2el": "e2e_ms"}
_THROUGHPUT = {"request_throughput": ("request_s", "1/s"), "output_throughput": ("output_tok_s", "tok/s"),
               "total_token_throughput": ("total_tok_s", "tok/s"), "request_goodput": ("goodput_request_s", "1/s")}


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and "request_throughput" in doc and ("mean_ttft_ms" in doc or "ttfts" in doc)


def _samples(path: Path, doc: dict[str, Any]) -> tuple[list[Sample], list[str]]:
    cols = {k: need(path, doc, k, WHAT + " with --save-detailed", list) for k in DETAIL_KEYS}
    n = len(cols["start_times"])
    for k, v in cols.items():
        if len(v) != n:
            raise PeerFileError(path, f"{k!r} with one entry per request ({n})", f"{len(v)} entries")
    samples, notes = [], []
    spread = 0
    for i in range(n):
        sent = ns(cols["start_times"][i])
        err = cols["errors"][i] or None
        ttft, itl, out = cols["ttfts"][i], cols["itls"][i] or [], int(cols["output_lens"][i] or 0)
        chunks: list[int] = []
        if err is None and ttft:
            t = sent + ns(ttft)
            chunks = [t]
            for gap in itl:
                t += ns(gap)
                chunks.append(t)
        tokens = spread_tokens(chunks, out) if chunks else []
        spread += bool(chunks) and out > len(chunks)
        samples.append(Sample(
            # scheduled = sent: under --max-concurrency a request is due when a slot frees (our
            # closed loop); vLLM's queue_times count from the benchmark's start instead
            request_id=f"r{i}", task_id=None, scheduled_ns=sent, sent_ns=sent,
            token_ns=tuple(tokens), chunk_ns=tuple(chunks), prompt_tokens=int(cols["input_lens"][i] or 0),
            cached_prompt_tokens=None, output_tokens=out if not err else 0,
            error=f"peer_error: {err}" if err else None,
            done_ns=sent + ns(cols["latencies"][i] or 0.0)))
    if spread:
        notes.append(f"{spread} request(s) streamed fewer chunks than tokens: their tokens are spread "
                     "over their chunks (vLLM does not save tokens per chunk)")
    return samples, notes


def _reported(doc: dict[str, Any]) -> list[Reported]:
    out = []
    for key, value in doc.items():
        m = _STAT.match(key)
        if m and isinstance(value, (int, float)):
            stat, metric = m.groups()
            ours = _OUR_STAT.get(stat)
            out.append(Reported(key, float(value), "ms", f"{_OUR_METRIC[metric]}_{ours}" if ours else None))
    for key, (ours, unit) in _THROUGHPUT.items():
        if isinstance(doc.get(key), (int, float)):
            out.append(Reported(key, float(doc[key]), unit, ours,
                                "duration: the benchmark's start to its end (ours: first send to last token)"))
    return out


def _started_at(doc: dict[str, Any]) -> float | None:
    try:
        return dt.datetime.strptime(str(doc.get("date")), "%Y%m%d-%H%M%S").timestamp()
    except ValueError:
        return None


def read(path: Path, doc: Any = None) -> Imported:
    doc = read_json(path, WHAT) if doc is None else doc
    if not sniff(doc):
        raise PeerFileError(path, WHAT, "no request_throughput with mean_ttft_ms or ttfts")
    detailed = all(k in doc for k in DETAIL_KEYS)
    samples, notes = _samples(path, doc) if detailed else ([], ["summary only: run with --save-detailed "
                                                                "to keep per-request detail"])
    reported = _reported(doc)
    summary: dict[str, float] = {}
    if not detailed:    # the same definitions as ours: taken as they are
        summary = {r.nearest: r.value for r in reported if r.nearest and r.unit == "ms"}
        summary |= {"requests": float(doc.get("completed", 0) + doc.get("failed", 0) or 0),
                    "completed": float(doc.get("completed") or 0), "errors": float(doc.get("failed") or 0),
                    "duration_s": float(doc.get("duration") or 0),
                    "prompt_tokens_total": float(doc.get("total_input_tokens") or 0),
                    "output_tokens_total": float(doc.get("total_output_tokens") or 0)}
    known = CONFIG_KEYS | SUMMARY_KEYS | set(DETAIL_KEYS) | OTHER_KEYS
    skipped = tuple(k for k in unknown(doc, known)
                    if not _STAT.match(k) and not k.startswith(("spec_decode_", "probe_")))
    rate = doc.get("request_rate")
    conc = doc.get("max_concurrency")
    lens_in, lens_out = doc.get("input_lens") or [], doc.get("output_lens") or []
    done = doc.get("completed") or 0
    if not lens_in and done:       # summary only: the mean lengths from the totals
        lens_in = [doc.get("total_input_tokens", 0) / done]
        lens_out = [doc.get("total_output_tokens", 0) / done]
    shape = Shape(load_kind="concurrency" if conc else "rate",
                  load_value=float(conc) if conc else (None if rate in (None, "inf") else float(rate)),
                  requests=doc.get("num_prompts"),
                  input_tokens=sum(lens_in) / len(lens_in) if lens_in else None,
                  output_tokens=sum(lens_out) / len(lens_out) if lens_out else None,
                  fixed_lengths=near_fixed(lens_in) and near_fixed(lens_out),
                  model=doc.get("model_id"), url=doc.get("base_url"))
    native = {k: doc[k] for k in sorted(CONFIG_KEYS) if k in doc}
    return Imported(TOOL, doc.get("vllm_version"), (str(path),), shape, tuple(samples), summary,
                    tuple(reported), native, _started_at(doc), skipped, tuple(notes))
