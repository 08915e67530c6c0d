"""NVIDIA AIPerf's summary export, `profile_export_aiperf.json` (AIPerf 0.13, schema_version 1.x):
summary only. Each metric is {unit, avg, p1 ... p99, min, max, std}.

Taken as ours (the same definitions, units converted): time_to_first_token, request_latency,
inter_chunk_latency (our chunk_gap_ms), request_throughput, output_token_throughput,
total_token_throughput and benchmark_duration (AIPerf's duration, like ours, runs from the first
request to the last response). Kept as reported by aiperf: inter_token_latency (its divisor is
output tokens minus the first chunk's, ours minus one), output_token_throughput_per_user and
time_to_second_token. Metric families AIPerf adds that have no counterpart here (http_req_*,
usage_*, effective_*, ...) are left out by name; a key of no known family is said to be skipped.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, Reported, Shape, read_json, to_ns

TOOL = "aiperf"
WHAT = "AIPerf profile_export_aiperf.json (aiperf_version, metrics with unit and avg)"
# AIPerf metric -> our metric (same definition); its stat names -> ours
AS_OURS = {"time_to_first_token": "ttft_ms", "request_latency": "e2e_ms", "inter_chunk_latency": "chunk_gap_ms"}
RATES = {"request_throughput": "request_s", "output_token_throughput": "output_tok_s",
         "total_token_throughput": "total_tok_s"}
REPORTED = {"inter_token_latency": "tpot_ms", "output_token_throughput_per_user": None,
            "time_to_second_token": None, "time_to_first_output_token": "ttft_ms"}
TIME_UNITS = ("ns", "us", "ms", "s", "sec")
STATS = {"avg": "mean", "std": "std", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
META = {"schema_version", "aiperf_version", "benchmark_id", "input_config", "run_info", "was_cancelled",
        "is_complete", "error_summary", "start_time", "end_time", "telemetry_data"}
COUNTS = {"request_count", "completed_request_count", "error_request_count", "benchmark_duration", "total_isl",
          "total_osl", "total_output_tokens", "request_error_rate"}
KNOWN_FAMILIES = ("http_req_", "usage_", "total_usage_", "effective_", "active_", "osl_mismatch", "overall_usage_",
                  "input_sequence_length", "output_sequence_length", "output_token_count", "input_token_throughput",
                  "decode_duration", "prefill_throughput", "e2e_output_token_throughput", "credit_",
                  "tokens_in_flight", "error_isl", "total_error_isl", "good_request", "goodput", "reasoning_",
                  "min_request", "max_response")


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and "aiperf_version" in doc


def _unit(metric: dict) -> str:
    return {"sec": "s", "requests": "count"}.get(metric.get("unit", ""), metric.get("unit", ""))


def _shape(doc: dict) -> Shape:
    cfg = doc.get("input_config") or {}
    phase = next((p for p in cfg.get("phases") or [] if p.get("kind") == "profiling"), {})
    prompts = ((cfg.get("datasets") or [{}])[0].get("prompts") or {})
    isl, osl = prompts.get("isl") or {}, prompts.get("osl") or {}
    urls = (cfg.get("endpoint") or {}).get("urls") or [None]
    model = ((cfg.get("models") or {}).get("items") or [{}])[0].get("name")
    conc, rate = phase.get("concurrency"), phase.get("request_rate") or phase.get("rate")
    return Shape(load_kind="rate" if rate and not conc else "concurrency", load_value=conc or rate,
                 requests=phase.get("requests"), input_tokens=isl.get("mean"), output_tokens=osl.get("mean"),
                 fixed_lengths=not isl.get("stddev") and not osl.get("stddev"), model=model, url=urls[0])


def read(path: Path, doc: Any = None) -> Imported:
    doc = read_json(path, WHAT) if doc is None else doc
    if not sniff(doc):
        raise PeerFileError(path, WHAT, f"keys {', '.join(sorted(doc)[:6])}" if isinstance(doc, dict) else
                            f"a JSON {type(doc).__name__}")
    summary: dict[str, float] = {}
    reported: list[Reported] = []
    skipped: list[str] = []
    for key, m in doc.items():
        if key in META:
            continue
        if not isinstance(m, dict) or "avg" not in m:
            if not key.startswith(KNOWN_FAMILIES) and key not in COUNTS:
                skipped.append(key)
            continue
        unit = _unit(m)
        if key in AS_OURS or key in REPORTED:
            timed = unit in TIME_UNITS          # a latency (to ms); else a rate kept in its unit
            scale = to_ns(path, 1.0, unit, f"{key}.unit") / 1e6 if timed or key in AS_OURS else 1.0
            for theirs, ours in STATS.items():
                if isinstance(m.get(theirs), (int, float)):
                    value = m[theirs] * scale
                    if key in AS_OURS:
                        summary[f"{AS_OURS[key]}_{ours}"] = value
                    else:
                        reported.append(Reported(f"{key}.{theirs}", value, "ms" if timed else unit,
                                                 f"{REPORTED[key]}_{ours}" if REPORTED[key] else None))
        elif key in RATES:
            summary[RATES[key]] = float(m["avg"])
        elif key == "benchmark_duration":
            summary["duration_s"] = to_ns(path, m["avg"], unit, f"{key}.unit") / 1e9
        elif key in COUNTS:
            continue
        elif not key.startswith(KNOWN_FAMILIES):
            skipped.append(key)
    total = (doc.get("request_count") or {}).get("avg")
    errors = (doc.get("error_request_count") or {}).get("avg") or 0
    if total is not None:
        summary |= {"requests": float(total) + float(errors) if "completed_request_count" not in doc else float(total),
                    "errors": float(errors)}
        summary["completed"] = summary["requests"] - summary["errors"]
        summary["error_rate"] = summary["errors"] / summary["requests"] if summary["requests"] else 0.0
    for key, ours in (("total_isl", "prompt_tokens_total"), ("total_osl", "output_tokens_total")):
        if isinstance((doc.get(key) or {}).get("avg"), (int, float)):
            summary[ours] = float(doc[key]["avg"])
    try:
        started = dt.datetime.fromisoformat(str(doc.get("start_time"))).timestamp()
    except ValueError:
        started = None
    native = {k: doc[k] for k in ("input_config", "run_info", "schema_version", "benchmark_id") if k in doc}
    return Imported(TOOL, str(doc.get("aiperf_version")), (str(path),), _shape(doc), (), summary,
                    tuple(reported), native, started, tuple(skipped),
                    ("summary only: profile_export.jsonl holds the per-request records",))
