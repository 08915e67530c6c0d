"""inference-perf's lifecycle summaries, `summary_lifecycle_metrics.json` and
`stage_<n>_lifecycle_metrics.json` (inference-perf 0.7): summary only, latencies in seconds.

Taken as ours (ms): time_to_first_token, request_latency (our e2e_ms) and time_per_output_token
((last token - first token) / (tokens - 1), ours). Kept as reported: inter_token_latency (each
request's mean gap between the client's re-tokenized token stamps, summarized over requests;
ours pools every gap), normalized_time_per_output_token and the throughputs (over the stage's
wall time, benchmark_time_seconds).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, Reported, read_json, unknown
from bench.interop.importers.inference_perf import shape_of, _config

TOOL = "inference-perf"
WHAT = "an inference-perf lifecycle summary (load_summary, successes, failures)"
AS_OURS = {"time_to_first_token": "ttft_ms", "request_latency": "e2e_ms", "time_per_output_token": "tpot_ms"}
REPORTED = {"inter_token_latency": "itl_ms", "normalized_time_per_output_token": None}
STATS = {"mean": "mean", "median": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
THROUGHPUT = {"requests_per_sec": "request_s", "output_tokens_per_sec": "output_tok_s",
              "total_tokens_per_sec": "total_tok_s", "input_tokens_per_sec": None}
TOP_KEYS = {"benchmark_time_seconds", "load_summary", "successes", "failures", "stage", "stage_id", "by_label",
            "by_adapter", "goodput", "prometheus"}


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and "successes" in doc and "load_summary" in doc


def read(path: Path, doc: Any = None) -> Imported:
    doc = read_json(path, WHAT) if doc is None else doc
    if not sniff(doc):
        raise PeerFileError(path, WHAT, f"keys {', '.join(sorted(doc)[:6])}" if isinstance(doc, dict) else
                            f"a JSON {type(doc).__name__}")
    ok, failed = doc.get("successes") or {}, doc.get("failures") or {}
    summary: dict[str, float] = {}
    reported: list[Reported] = []
    for key, block in (ok.get("latency") or {}).items():
        if not isinstance(block, dict):
            continue
        for theirs, stat in STATS.items():
            if isinstance(block.get(theirs), (int, float)):
                value = block[theirs] * 1e3           # s -> ms
                if key in AS_OURS:
                    summary[f"{AS_OURS[key]}_{stat}"] = value
                else:
                    nearest = REPORTED.get(key)
                    reported.append(Reported(f"successes.latency.{key}.{theirs}", value, "ms",
                                             f"{nearest}_{stat}" if nearest else None))
    for key, value in (ok.get("throughput") or {}).items():
        if key in THROUGHPUT and isinstance(value, (int, float)):
            reported.append(Reported(f"successes.throughput.{key}", float(value), "1/s" if "requests" in key
                                     else "tok/s", THROUGHPUT[key], "over the stage's wall time"))
    n_ok, n_failed = int(ok.get("count") or 0), int(failed.get("count") or 0)
    summary |= {"requests": float(n_ok + n_failed), "completed": float(n_ok), "errors": float(n_failed),
                "error_rate": n_failed / (n_ok + n_failed) if n_ok + n_failed else 0.0}
    for key, ours in (("prompt_tokens", "prompt_tokens_total"), ("output_tokens", "output_tokens_total")):
        if isinstance((ok.get(key) or {}).get("total"), (int, float)):
            summary[ours] = float(ok[key]["total"])
    cfg = _config(path)
    return Imported(TOOL, None, (str(path),), shape_of(cfg, n_ok + n_failed), (), summary, tuple(reported), cfg,
                    None, unknown(doc, TOP_KEYS),
                    ("summary only: per_request_lifecycle_metrics.json holds the per-request records",
                     "inference-perf does not record its own version in its outputs"))
