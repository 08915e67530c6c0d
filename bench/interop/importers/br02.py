"""An llm-d Benchmark Report v0.2 (ours from `bench export --format br0.2`, or any tool's, e.g.
inference-perf's report partial): summary only, its aggregate statistics as our keys.

Units are the report's own (`s` or `ms`, `s/token` or `ms/token`) and converted to ours (ms).
TTFT and request latency have our definitions whatever tool wrote the report; TPOT and ITL mean
what that tool meant (the schema says so itself) and the throughputs run over its own duration:
when the tool is not bench they are kept as reported, not taken as ours.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, Reported, Shape, need, unknown

TOOL = "llm-d Benchmark Report v0.2"
WHAT = "a Benchmark Report v0.2 (version: '0.2', results.request_performance.aggregate)"
_SCALE = {"s": 1e3, "ms": 1.0, "s/token": 1e3, "ms/token": 1.0}
_LATENCY = {"time_to_first_token": "ttft_ms", "time_per_output_token": "tpot_ms",
            "inter_token_latency": "itl_ms", "request_latency": "e2e_ms"}
_AS_OURS_ANY_TOOL = {"ttft_ms", "e2e_ms"}      # the same definition whatever tool wrote the report
_THROUGHPUT = {"request_rate": "request_s", "requests_rate": "request_s",      # the newer name, the older
               "output_token_rate": "output_tok_s", "total_token_rate": "total_tok_s"}
_STATS = {"mean": "mean", "stddev": "std", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
_DURATION = re.compile(r"^PT([0-9.eE+-]+)S$")


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("version")) in ("0.2", "0.2.1") and "results" in doc


def _section(path: Path, doc: dict, keys: list[str]) -> dict:
    here = doc
    for i, key in enumerate(keys):
        here = need(path, here, key, WHAT if i == 0 else f"`{'.'.join(keys[:i])}` as an object", dict)
    return here


def read(path: Path, doc: Any = None) -> Imported:
    from bench.interop.importers import _parse
    doc = _parse(path)[0] if doc is None else doc
    if not sniff(doc):
        raise PeerFileError(path, WHAT, f"version {doc.get('version')!r}" if isinstance(doc, dict) else
                            f"a {type(doc).__name__}")
    agg = _section(path, doc, ["results", "request_performance", "aggregate"])
    load = ((doc.get("scenario") or {}).get("load") or {})
    std = load.get("standardized") or {}
    uid = str((doc.get("run") or {}).get("uid") or "")
    # inference-perf's partial report names no tool (it leaves `scenario` to a composer); its uid does
    tool = str(std.get("tool") or ("inference-perf" if uid.startswith("inference-perf") else "unnamed tool"))
    version = std.get("tool_version")
    args = (load.get("native") or {}).get("args") or {}
    ours = tool == "bench" or str(args.get("summarized_by", "")).startswith("bench")   # bench export's numbers
    summary: dict[str, float] = {}
    reported: list[Reported] = []
    for br, metric in _LATENCY.items():
        block = (agg.get("latency") or {}).get(br)
        if not isinstance(block, dict):
            continue
        scale = _SCALE.get(block.get("units"))
        if scale is None:
            raise PeerFileError(path, f"latency.{br}.units one of {', '.join(_SCALE)}", repr(block.get("units")))
        for field, stat in _STATS.items():
            if isinstance(block.get(field), (int, float)):
                value = float(block[field]) * scale
                if ours or metric in _AS_OURS_ANY_TOOL:
                    summary[f"{metric}_{stat}"] = value
                else:
                    reported.append(Reported(f"latency.{br}.{field}", value, "ms", f"{metric}_{stat}",
                                             f"{tool}'s {br}: its definition, not necessarily ours"))
    for br, metric in _THROUGHPUT.items():
        block = (agg.get("throughput") or {}).get(br)
        if isinstance(block, dict) and isinstance(block.get("mean"), (int, float)):
            if ours:
                summary[metric] = float(block["mean"])
            else:     # over the tool's own duration (e.g. inference-perf's stage wall time)
                reported.append(Reported(f"throughput.{br}.mean", float(block["mean"]), str(block.get("units")),
                                         metric, f"{tool}'s {br}: over its own duration"))
    requests = agg.get("requests") or {}
    if isinstance(requests.get("total"), int):
        summary["requests"] = float(requests["total"])
        summary["errors"] = float(requests.get("failures") or 0)
        summary["completed"] = summary["requests"] - summary["errors"]
        summary["error_rate"] = summary["errors"] / summary["requests"] if summary["requests"] else 0.0
        for key, ours in (("input_length", "prompt_tokens_total"), ("output_length", "output_tokens_total")):
            block = requests.get(key) or {}
            if isinstance(block.get("mean"), (int, float)):    # lengths of the completed requests
                summary[ours] = float(block["mean"]) * summary["completed"]
    m = _DURATION.match(str(((doc.get("run") or {}).get("time") or {}).get("duration") or ""))
    if m:
        summary["duration_s"] = float(m.group(1))
    stack = (doc.get("scenario") or {}).get("stack") or []
    model = next((c.get("standardized", {}).get("model", {}).get("name") for c in stack
                  if isinstance(c, dict) and isinstance(c.get("standardized", {}).get("model"), dict)), None)
    native = (load.get("native") or {}).get("config") or {}
    in_len, out_len = std.get("input_seq_len") or {}, std.get("output_seq_len") or {}
    base_url = (((native.get("backend") or {}).get("options") or {}).get("base_url")
                if isinstance(native, dict) else None)
    shape = Shape(load_kind="rate" if std.get("rate_qps") else "concurrency",
                  load_value=std.get("rate_qps") or std.get("concurrency"),
                  requests=requests.get("total"), input_tokens=in_len.get("value"), output_tokens=out_len.get("value"),
                  fixed_lengths=in_len.get("distribution") == "fixed" and out_len.get("distribution") == "fixed",
                  model=model or (native.get("model") if isinstance(native, dict) else None), url=base_url)
    skipped = unknown(doc, {"version", "run", "scenario", "results"})
    return Imported(f"{tool} (via {TOOL})", version,
                    (str(path),), shape, (), summary, tuple(reported),
                    {"benchmark_report_run": doc.get("run"), "load": load}, None, skipped,
                    ("summary only: a Benchmark Report holds no per-request records",))
