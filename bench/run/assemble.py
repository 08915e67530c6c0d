"""The one place a run's summary is made: from what the run produced (Pieces) to the run.json
fields (summary, engine and server counter deltas, latency histograms, roofline, warnings).

Pure but for the samplers' own summaries: the runner gathers the pieces, this module only combines
them, so every source of a summary key is listed here, in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.metrics import core as metrics
from bench.metrics import roofline
from bench.metrics import tasks as task_metrics
from bench.metrics.columns import SampleColumns
from bench.telemetry import client as client_monitor
from bench.telemetry import prometheus

# Counters are stored as run deltas; these (by name ending) are gauges, stored as read at the end.
GAUGE_SUFFIXES = ("_perc", "_size", "_capacity", "_max_concurrency")


@dataclass(slots=True)
class Pieces:
    """What one run produced, gathered by the runner while it drives."""
    spec: Any                                   # bench.config.RunSpec
    model_path: str
    meta: dict[str, Any]                        # run.json so far: env, backend_info
    # The measured requests as columns, not Samples: a million-request run must stay small (the
    # samples themselves are on disk as they finish).
    columns: SampleColumns = field(default_factory=SampleColumns)
    mem: Any = None                             # the samplers that ran (None: never started)
    client: Any = None
    gpu: Any = None
    engine_before: dict[str, float] = field(default_factory=dict)
    engine_after: dict[str, float] = field(default_factory=dict)
    server_before: dict[str, float] | None = None
    server_after: dict[str, float] | None = None
    server: dict[str, Any] | None = None        # a managed server: argv, url, log file name
    open_loop: bool = False                     # sends do not wait for completions
    scheduled: bool = False                     # requests have planned send times
    workers_info: dict[str, Any] = field(default_factory=dict)   # load worker processes: how many, why
    per_worker: list[dict[str, Any]] = field(default_factory=list)  # each worker's client monitor


def deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counters as run deltas; gauges (names ending in _perc, _size or _tokens_capacity) as is."""
    out = {}
    for key, value in after.items():
        gauge = key.endswith(GAUGE_SUFFIXES)
        out[key] = value if gauge or key not in before else value - before[key]
    return out


def _summary(p: Pieces) -> dict[str, float]:
    slo = p.spec.slo.model_dump()
    summary = metrics.summarize_columns(p.columns, slo)
    summary |= task_metrics.summarize_tasks_columns(p.columns, summary["duration_s"], slo)
    if p.mem is not None:
        summary |= p.mem.summary()
    if p.client is not None:
        summary |= p.client.summary()
    if p.gpu is not None:   # GPU-only keys: absent on the CPU, never zero
        summary |= p.gpu.summary(summary.get("output_tokens_total", 0.0))
    return summary


def _roofline(p: Pieces, summary: dict[str, float]) -> tuple[dict[str, float], dict[str, Any]]:
    """MBU/MFU on a known GPU (absent elsewhere); never the reason a run's results are lost."""
    gpu = p.meta["env"].get("gpu") or {}
    options = dict(p.spec.backend.options)
    if p.meta["backend_info"].get("dtype"):          # the dtype the backend actually loaded
        options["dtype"] = p.meta["backend_info"]["dtype"]
    try:
        return roofline.for_run_columns(p.columns, summary, p.model_path, options, (gpu.get("names") or [None])[0])
    except Exception:
        return {}, {}


def assemble(p: Pieces) -> dict[str, Any]:
    """The run.json fields of a finished (or stopped) run, in the order they are written."""
    summary = _summary(p)
    roof, roof_info = _roofline(p, summary)
    summary |= roof
    engine = deltas(p.engine_before, p.engine_after)
    out: dict[str, Any] = {"summary": summary, "engine": engine}
    if p.server_after is not None:
        out["server_metrics"] = deltas(p.server_before or {}, p.server_after)
    # The engine's and server's own latency histograms, as percentiles beside the client's.
    for name, counters in (("engine_latency_ms", engine), ("server_latency_ms", out.get("server_metrics"))):
        if counters and (lat := prometheus.latency_quantiles_ms(counters)):
            out[name] = lat
    if p.server is not None:
        out["server"] = p.server
    if roof_info:
        out["roofline"] = roof_info
    out["warnings"] = client_monitor.warnings(summary, p.open_loop, p.scheduled)
    if p.per_worker:   # the loops that stamped were the workers': judge each, not the parent's
        summary |= client_monitor.merge_client(p.per_worker)
        out["warnings"] = client_monitor.warnings(
            {"send_lag_ms_p99": summary.get("send_lag_ms_p99")}, p.open_loop, p.scheduled) + [
            f"load worker {w['worker']}: {text}" for w in p.per_worker
            for text in client_monitor.warnings(w, p.open_loop, p.scheduled)]
    out["load_workers"] = p.workers_info | {"per_worker": p.per_worker}
    out["error_reasons"] = metrics.error_reasons_columns(p.columns)
    return out
