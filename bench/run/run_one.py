"""One RunSpec on a started engine -> one run folder: open it, warm up, drive, read the counters,
then bench.run.assemble makes the summary and the writer finishes run.json.

`stop` (a capacity search's convergence check) may end the drive early; `marks` (a search's
probe) adds its fields to run.json when the run starts and when it finishes, through the one
writer, before the run is read back.
"""
from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol
from collections.abc import Callable

from bench.config import RunSpec
from bench.metrics.columns import SampleColumns
from bench.results.files import RunWriter, copy_into, new_run_id
from bench.results.run import Run
from bench.run.assemble import Pieces, assemble
from bench.run.driver import seeded
from bench.run.engines import Engine
from bench.run.progress import Progress
from bench.run.worker_choice import driver_for
from bench.telemetry import client as client_monitor
from bench.telemetry import env as envinfo
from bench.telemetry.gpu import GpuSampler
from bench.telemetry.memory import MemorySampler
from bench.types import Sample
from bench.workloads import make_workload

# What preflight changed for the runs started under it (bench.run.runner sets it around a spec's
# runs): recorded in each run.json as `preflight`, so a replaced option is visible in the results.
preflight_note: ContextVar[dict[str, Any] | None] = ContextVar("preflight_note", default=None)

WARMUP_INDEX = 1_000_000_000  # warm-up sessions come from their own index range


class Marks(Protocol):
    """What a caller adds to a run's run.json (a capacity probe's marks)."""

    def at_start(self) -> dict[str, Any]: ...

    def at_finish(self, meta: dict[str, Any], status: str, summary: dict[str, float],
                  warnings: list[str]) -> dict[str, Any]: ...


def _status(stats, columns: SampleColumns) -> tuple[str, str | None]:
    status, error = "complete", None
    if stats.session_errors:
        error = "; ".join(stats.session_errors[:5])
    if getattr(stats, "dead_workers", None):   # its finished samples are on disk; what it still held is not
        status, error = "partial", "; ".join(stats.dead_workers)
    if stats.aborted:  # the server went away: what was planned was not all sent
        status, error = "partial", (f"stopped after {stats.started_sessions} sessions, server "
                                    f"unreachable: {stats.aborted}")
    if len(columns) and not columns.any_ok:  # e.g. a server that is not there
        status, error = "failed", f"all {len(columns)} requests failed; first: {columns.first_error}"
    return status, error


async def _drive(spec: RunSpec, driver, workload, progress: Progress, pieces: Pieces,
                 stop: Callable | None = None) -> tuple[str, str | None]:
    """Warm up, then the measured requests with the samplers on; the samplers that ran are
    left in `pieces` (they summarise after they stop)."""
    load = spec.load
    if load.warmup:
        progress.start(f"{spec.label or spec.name} warm-up", load.warmup)
        await driver.run(workload.sessions(WARMUP_INDEX), load.offsets_s(seeded(spec.seed + 1)),
                         load.max_in_flight or load.warmup, load.warmup, None, warmup=True)
        progress.stop()
    progress.start(spec.label or spec.name, load.requests)
    with MemorySampler() as pieces.mem, GpuSampler() as pieces.gpu:
        async with client_monitor.ClientMonitor() as pieces.client:
            stats = await driver.run(workload.sessions(), load.offsets_s(seeded(spec.seed)),
                                     load.max_in_flight, load.requests, load.duration_s, stop=stop)
    return _status(stats, pieces.columns)


async def _counters_after(backend, pieces: Pieces) -> None:
    try:
        pieces.engine_after = backend.stats()
    except Exception:
        pieces.engine_after = {}
    if pieces.server_before is not None:
        pieces.server_after = await backend.server_stats()


async def run_one(spec: RunSpec, engine: Engine, results_dir: Path, progress: Progress, suite: str = "",
                  stop: Callable | None = None, marks: Marks | None = None) -> Run:
    backend = engine.backend
    writer = RunWriter(results_dir, new_run_id(spec.name, spec.label), {
        "name": spec.name, "label": spec.label, "suite": suite, "started_at": time.time(),
        "config": spec.model_dump(mode="json"), "load_point": spec.load.point(), "model_path": engine.model_path,
        "env": envinfo.collect(), "backend_info": backend.info(), **(marks.at_start() if marks else {}),
        **({"preflight": note} if (note := preflight_note.get()) else {})})
    pieces = Pieces(spec, engine.model_path, writer.meta)

    def record(sample: Sample) -> None:
        writer.add(sample)
        pieces.columns.append(sample)          # leaves warm-up samples out
        progress.advance(sample)

    workload = make_workload(spec.workload, engine.model_path, spec.seed)
    # Sessions with their own send times (a replayed trace) make any load scheduled, and open
    # unless the load caps what is in flight.
    timed = workload.trace_timed
    pieces.open_loop = spec.load.open_loop or (timed and spec.load.max_in_flight is None)
    pieces.scheduled = spec.load.scheduled or timed
    pieces.engine_before = backend.stats()
    pieces.server_before = await backend.server_stats()
    driver, pieces.workers_info = driver_for(spec.load, backend, record, progress.note)   # one process or N
    status, error = "complete", None
    try:
        status, error = await _drive(spec, driver, workload, progress, pieces, stop)
    except (asyncio.CancelledError, KeyboardInterrupt):
        status, error = "partial", "interrupted"
        raise
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        progress.stop()
        await driver.close()
        pieces.per_worker = getattr(driver, "worker_summaries", [])
        await _counters_after(backend, pieces)
        if engine.server is not None:  # the log so far: start-up and every run this server served
            copy_into(writer.dir, engine.server.log_path, "server.log")
            pieces.server = {"argv": engine.server.argv, "url": engine.server.url, "log": "server.log"}
        fields = assemble(pieces)
        if marks is not None:
            fields |= marks.at_finish(writer.meta, status, fields["summary"], fields.get("warnings") or [])
        writer.finish(status, error=error, **fields, finished_at=time.time())
    return Run.made(writer.dir, spec)
