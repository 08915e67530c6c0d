"""GuideLLM's `benchmarks.json` (GuideLLM 0.8, report metadata.version 2): one run per benchmark
(a sweep has several).

Each benchmark keeps its requests (`requests.successful / errored / incomplete`) with their
timings (request_start, first_token_iteration, last_token_iteration, request_end: epoch seconds)
and token counts: each becomes a sample and our summary is computed from them. GuideLLM keeps no
per-token times, only the first and the last token's: TTFT, E2E and TPOT are exact (ours:
(last - first) / (tokens - 1), which is GuideLLM's inter_token_latency_ms); the tokens between
are placed evenly, so the gaps between tokens (itl_ms, chunk_gap_ms) are left out of the summary.
GuideLLM's own time_per_output_token_ms includes the first token (request latency / tokens):
kept as reported, never as our tpot_ms.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, Reported, Shape, need, ns, read_json, unknown
from bench.types import Sample

TOOL = "guidellm"
WHAT = "a GuideLLM benchmarks.json (metadata.guidellm_version, benchmarks[].requests)"
TOP_KEYS = {"metadata", "config", "benchmarks", "conclusions"}
BENCH_KEYS = {"type_", "config", "scheduler_state", "scheduler_metrics", "metrics", "requests", "warnings",
              "start_time", "end_time", "duration", "warmup_duration", "cooldown_duration"}
# summary keys GuideLLM's timings cannot give (no per-token times)
NOT_MEASURED = ("itl_ms", "chunk_gap_ms")
REPORTED = {"time_per_output_token_ms": None, "inter_token_latency_ms": "tpot_ms", "time_to_first_token_ms": "ttft_ms",
            "output_tokens_per_second": "output_tok_s", "requests_per_second": "request_s",
            "tokens_per_second": "total_tok_s", "request_concurrency": None}


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and "guidellm_version" in (doc.get("metadata") or {}) and "benchmarks" in doc


def _sample(path: Path, req: dict, error: str | None, where: str) -> Sample:
    info = need(path, req, "info", f"{where}: a request with info", dict)
    t = need(path, info, "timings", f"{where}: info with timings", dict)
    start = t.get("request_start")
    if start is None:
        raise PeerFileError(path, f"{where}: info.timings.request_start", "null")
    sent = ns(start)
    scheduled = ns(t.get("targeted_start") or t.get("scheduled_at") or start)
    first, last = t.get("first_token_iteration"), t.get("last_token_iteration")
    n_out = int(req.get("output_tokens") or 0)
    tokens: list[int] = []
    if error is None and first is not None and last is not None and n_out:
        a, b = ns(first), ns(last)
        tokens = [a] if n_out == 1 else [a + (b - a) * i // (n_out - 1) for i in range(n_out)]
    end = t.get("request_end")
    return Sample(request_id=str(req.get("request_id") or where), task_id=info.get("conversation_id"),
                  scheduled_ns=min(scheduled, sent), sent_ns=sent, token_ns=tuple(tokens), chunk_ns=tuple(tokens),
                  prompt_tokens=int(req.get("prompt_tokens") or 0),
                  cached_prompt_tokens=req.get("cached_tokens"), output_tokens=n_out if error is None else 0,
                  error=error, done_ns=ns(end) if end is not None else None)


def _reported(metrics: dict) -> list[Reported]:
    out = []
    for key, nearest in REPORTED.items():
        block = (metrics.get(key) or {}).get("successful") or {}
        if isinstance(block.get("mean"), (int, float)):
            out.append(Reported(f"{key}.successful.mean", float(block["mean"]), key.rsplit("_", 1)[-1]
                                if key.endswith("_ms") else "", f"{nearest}_mean" if nearest and
                                nearest.endswith("_ms") else nearest))
    return out


def _shape(doc: dict, bench: dict) -> Shape:
    cfg = bench.get("config") or {}
    profile, backend = cfg.get("profile") or {}, cfg.get("backend") or {}
    strategy = cfg.get("strategy") or {}
    data = ((doc.get("config") or {}).get("spec") or {}).get("data") or [{}]
    data = data[0] if isinstance(data, list) and data else {}
    streams = strategy.get("streams") or (profile.get("streams") or [None])[0]
    rate = strategy.get("rate")
    return Shape(load_kind="concurrency" if streams else "rate", load_value=streams or rate,
                 requests=(bench.get("metrics") or {}).get("request_totals", {}).get("total"),
                 input_tokens=data.get("prompt_tokens"), output_tokens=data.get("output_tokens"),
                 fixed_lengths=not data.get("prompt_tokens_stdev") and not data.get("output_tokens_stdev"),
                 model=backend.get("model"), url=backend.get("target"))


def read(path: Path, doc: Any = None) -> list[Imported]:
    doc = read_json(path, WHAT) if doc is None else doc
    if not sniff(doc):
        raise PeerFileError(path, WHAT, f"keys {', '.join(sorted(doc)[:6])}" if isinstance(doc, dict) else
                            f"a JSON {type(doc).__name__}")
    benches = need(path, doc, "benchmarks", WHAT, list)
    if not benches:
        raise PeerFileError(path, WHAT, "no benchmarks")
    version = str(doc["metadata"]["guidellm_version"])
    out = []
    for i, bench in enumerate(benches):
        where = f"benchmarks[{i}]"
        requests = need(path, bench, "requests", f"{where} with requests", dict)
        samples = [_sample(path, r, None, f"{where}.requests.successful[{j}]")
                   for j, r in enumerate(requests.get("successful") or [])]
        for status in ("errored", "incomplete"):
            for j, r in enumerate(requests.get(status) or []):
                err = ((r.get("info") or {}).get("error")) or status
                samples.append(_sample(path, r, f"peer_{status}: {err}", f"{where}.requests.{status}[{j}]"))
        samples.sort(key=lambda s: s.sent_ns)
        skipped = unknown(doc, TOP_KEYS) + unknown(bench, BENCH_KEYS, f"{where}.")
        notes = ("GuideLLM keeps the first and last token times only: itl_ms and chunk_gap_ms are not "
                 "measured; TTFT, E2E and TPOT are exact",)
        native = {"benchmark_config": bench.get("config"), "report_config": doc.get("config"),
                  "metadata": doc.get("metadata")}
        out.append(Imported(TOOL, version, (str(path),), _shape(doc, bench), tuple(samples), {},
                            tuple(_reported(bench.get("metrics") or {})), native, bench.get("start_time"),
                            skipped, notes, drop=NOT_MEASURED))
    return out
