"""A run as an llm-d Benchmark Report v0.2 (YAML or JSON): what llm-d dashboards read.

The structure follows the Benchmark Report v0.2 pydantic schema (extra fields forbidden) as
llm-d-benchmark's report package ships it and inference-perf 0.7.0 vendors it
(inference_perf/reportgen/br/v0_2/schema_v0_2.py; an earlier llm-d commit named the request rate
`requests_rate` and put a component's `kind` in its metadata): `version`, `run` (uid, eid,
time), `scenario` (a `generic` stack component for the server as we reached it, `load` with
the tool, lengths and rate or concurrency, the run's config as the native config), and
`results.request_performance.aggregate` (requests, latency, throughput; each a Statistics block
with `units`). Latencies are in ms (ms/token per token), as our summary holds them, so nothing
is rescaled.

With the run's samples each Statistics block carries min, p0p1 ... p99p9 and max from the
per-request values; a summary-only run (an import) carries the mean and the percentiles its
summary has. Which of our keys a report holds, and so what a round trip keeps: ROUND_TRIP.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics import sample_values as sv
from bench.results.run import Run

VERSION = "0.2"
# BR latency field -> (our metric, BR units)
LATENCY = {"time_to_first_token": ("ttft_ms", "ms"), "time_per_output_token": ("tpot_ms", "ms/token"),
           "inter_token_latency": ("itl_ms", "ms/token"), "request_latency": ("e2e_ms", "ms")}
THROUGHPUT = {"request_rate": ("request_s", "queries/s"), "output_token_rate": ("output_tok_s", "tokens/s"),
              "total_token_rate": ("total_tok_s", "tokens/s")}
# our stat part -> BR Statistics field
STATS = {"mean": "mean", "std": "stddev", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
_QUANTILES = {"p0p1": 0.1, "p1": 1, "p5": 5, "p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90,
              "p95": 95, "p99": 99, "p99p9": 99.9}
# The summary keys a report holds: an export read back by `bench import` gives these exactly.
ROUND_TRIP = tuple(f"{m}_{s}" for m, _ in LATENCY.values() for s in STATS) + \
    tuple(m for m, _ in THROUGHPUT.values()) + ("requests", "errors", "duration_s")


def _digest(obj: Any) -> str:
    return hashlib.md5(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _stats_from_summary(summary: dict[str, float], metric: str, units: str) -> dict[str, Any] | None:
    if f"{metric}_mean" not in summary:
        return None
    out: dict[str, Any] = {"units": units}
    out |= {br: summary[f"{metric}_{ours}"] for ours, br in STATS.items() if f"{metric}_{ours}" in summary}
    return out


def _stats_from_values(values: list[float], summary: dict[str, float], metric: str,
                       units: str) -> dict[str, Any] | None:
    """Our own summary numbers (so a round trip keeps them) plus what only the values give."""
    out = _stats_from_summary(summary, metric, units)
    if out is None or not values:
        return out
    v = np.asarray(values, dtype=float)
    extra = {"min": float(v.min()), "max": float(v.max())}
    extra |= {k: float(np.percentile(v, q)) for k, q in _QUANTILES.items() if k not in out}
    return out | extra


def _lengths(values: list[int], units: str = "count") -> dict[str, Any] | None:
    if not values:
        return None
    v = np.asarray(values, dtype=float)
    return {"units": units, "mean": float(v.mean()), "min": int(v.min()), "max": int(v.max()),
            **{k: float(np.percentile(v, q)) for k, q in _QUANTILES.items()}}


def _seq_len(dist: dict[str, Any] | None) -> dict[str, Any]:
    dist = dist or {}
    if dist.get("dist") == "fixed":
        return {"distribution": "fixed", "value": dist.get("value") or 1}
    value = dist.get("median") or dist.get("mean") or dist.get("value") or 1
    return {"distribution": "other", "value": value}


def _bench_version(run: Run) -> str:
    return str((run.meta["env"].get("versions") or {}).get("bench") or "")


def _tool(run: Run) -> tuple[str, str]:
    imported = run.meta.get("imported") or {}
    if imported:
        return imported.get("tool", "?"), str(imported.get("tool_version", "?"))
    return "bench", str((run.meta["env"].get("versions") or {}).get("bench") or "?")


def report(run: Run) -> dict[str, Any]:
    """The Benchmark Report v0.2 of one run, as plain data."""
    m, cfg, s = run.meta, run.meta["config"], run.summary
    samples = [x for x in run.samples() if sv.completed(x)]
    per = {"ttft_ms": [sv.ttft_ms(x) for x in samples], "e2e_ms": [sv.e2e_ms(x) for x in samples],
           "tpot_ms": [t for x in samples if (t := sv.tpot_ms(x)) is not None],
           "itl_ms": [g for x in samples for g in sv.itl_ms(x)]}
    latency = {br: st for br, (ours, units) in LATENCY.items()
               if (st := _stats_from_values(per[ours], s, ours, units)) is not None}
    throughput = {br: {"units": units, "mean": s[ours]} for br, (ours, units) in THROUGHPUT.items() if ours in s}
    if "prompt_tokens_total" in s and s.get("duration_s"):
        throughput["input_token_rate"] = {"units": "tokens/s", "mean": s["prompt_tokens_total"] / s["duration_s"]}
    requests: dict[str, Any] = {"total": int(s.get("requests", 0)), "failures": int(s.get("errors", 0))}
    if (lengths := _lengths([x.prompt_tokens for x in samples])) is not None:
        requests["input_length"] = lengths
    if (lengths := _lengths([x.output_tokens for x in samples])) is not None:
        requests["output_length"] = lengths
    tool, tool_version = _tool(run)
    backend = cfg.get("backend") or {}
    load_cfg = cfg.get("load") or {}
    standardized: dict[str, Any] = {"tool": tool, "tool_version": tool_version, "source": "random",
                                    "input_seq_len": _seq_len((cfg.get("workload") or {}).get("input_tokens")),
                                    "output_seq_len": _seq_len((cfg.get("workload") or {}).get("output_tokens"))}
    if load_cfg.get("kind") == "rate" and load_cfg.get("rate"):
        standardized["rate_qps"] = float(load_cfg["rate"])
    elif load_cfg.get("kind") == "concurrency" and load_cfg.get("concurrency"):
        standardized["concurrency"] = int(load_cfg["concurrency"])
    duration = s.get("duration_s")
    started = m.get("started_at")
    return {
        "version": VERSION,
        "run": {"uid": _digest(run.run_id), "eid": _digest(m.get("suite") or run.run_id),
                "time": {k: v for k, v in (("start", _iso(started)),
                                           ("end", _iso(started + duration) if started and duration else None),
                                           ("duration", f"PT{duration!r}S" if duration is not None else None)) if v}},
        "scenario": {
            "stack": [{"metadata": {"label": str(backend.get("name") or "server"), "cfg_id": _digest(backend)},
                       "standardized": {"kind": "generic", "tool": str(backend.get("name") or "?"),
                                        "tool_version": str((m.get("backend_info") or {}).get("version") or "?"),
                                        "model": {"name": str(cfg.get("model"))}},
                       "native": {"config": backend}}],
            "load": {"metadata": {"cfg_id": _digest([cfg.get("workload"), load_cfg]),
                                  "description": f"{run.run_id}: {(cfg.get('workload') or {}).get('kind')} workload, "
                                                 f"{load_cfg.get('kind')} load"},
                     # `summarized_by`: the numbers are bench's summary (of a peer's records when
                     # imported), so `bench import` reads them back as ours whatever tool ran the load
                     "standardized": standardized,
                     "native": {"config": cfg, "args": {"summarized_by": f"bench {_bench_version(run)}"}}},
        },
        "results": {"request_performance": {"aggregate": {"requests": requests, "latency": latency,
                                                          "throughput": throughput}}},
    }


def dump(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    import yaml
    return yaml.safe_dump(doc, sort_keys=False)


def write(runs: list[Run], out: Path, fmt: str = "yaml") -> list[Path]:
    """One report file per run under the folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for run in runs:
        path = out / f"{run.run_id}.br0.2.{'json' if fmt == 'json' else 'yaml'}"
        path.write_text(dump(report(run), fmt))
        paths.append(path)
    return paths
