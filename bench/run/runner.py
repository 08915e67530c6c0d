"""One RunSpec -> one RunResult: start backend, warm up, drive, stop, then bench.run.assemble
makes the summary and bench.results.files writes it.

Consecutive runs with the same model and backend settings share one started backend (a load
sweep does not restart the engine). A failure in one run is recorded and the next run goes on.
The run path measures and stores; an A/B experiment's analysis (bench.analysis.experiment.finish)
is the caller's next step (the CLI's), over the results run_all returns.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import registry
from bench.config import RunSpec
from bench.metrics import inflation
from bench.metrics.columns import SampleColumns
from bench.models import resolve_model
from bench.results.files import RunWriter, copy_into, new_run_id, update_run
from bench.run import live_fidelity
from bench.run.assemble import Pieces, assemble
from bench.run.worker_choice import driver_for
from bench.run.driver import seeded
from bench.run.load import strategy
from bench.run.server import ManagedServer
from bench.telemetry import client as client_monitor
from bench.telemetry import env as envinfo
from bench.telemetry.gpu import GpuSampler
from bench.telemetry.memory import MemorySampler
from bench.types import Sample
from bench.workloads import make_workload

WARMUP_INDEX = 1_000_000_000  # warm-up sessions come from their own index range


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    dir: Path
    status: str
    spec: RunSpec
    summary: dict[str, float]
    meta: dict[str, Any]


class Progress:
    """What the runner reports while it goes; the CLI plugs a progress bar in."""

    def start(self, label: str, total: int | None) -> None: ...
    def advance(self, sample: Sample) -> None: ...
    def stop(self) -> None: ...


def _backend_key(spec: RunSpec) -> str:
    server = spec.server.model_dump_json() if spec.server else ""
    return f"{spec.model}|{spec.seed}|{spec.backend.model_dump_json()}|{server}"


def _timing(spec: RunSpec, max_in_flight: int | None, workload) -> tuple[bool, bool]:
    """(open loop, scheduled): whether sends wait for completions, and whether requests have
    planned send times (a trace-timed workload has them whatever the load kind)."""
    timed = workload.trace_timed
    open_loop = max_in_flight is None and (spec.load.kind == "rate" or timed)
    return open_loop, spec.load.kind != "concurrency" or timed


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


async def _drive(spec: RunSpec, driver, workload, strat, progress: Progress,
                 pieces: Pieces, stop: Callable | None = None) -> tuple[str, str | None]:
    """Warm up, then the measured requests with the samplers on; the samplers that ran are
    left in `pieces` (they summarise after they stop)."""
    load = spec.load
    if load.warmup:
        progress.start(f"{spec.label or spec.name} warm-up", load.warmup)
        await driver.run(workload.sessions(WARMUP_INDEX), strat.offsets_s(seeded(spec.seed + 1)),
                         strat.max_in_flight or load.warmup, load.warmup, None, warmup=True)
        progress.stop()
    progress.start(spec.label or spec.name, load.requests)
    with MemorySampler() as pieces.mem, GpuSampler() as pieces.gpu:
        async with client_monitor.ClientMonitor() as pieces.client:
            stats = await driver.run(workload.sessions(), strat.offsets_s(seeded(spec.seed)),
                                     strat.max_in_flight, load.requests, load.duration_s, stop=stop)
    return _status(stats, pieces.columns)


async def _counters_after(backend, pieces: Pieces) -> None:
    try:
        pieces.engine_after = backend.stats()
    except Exception:
        pieces.engine_after = {}
    if pieces.server_before is not None:
        pieces.server_after = await backend.server_stats()


async def _run_one(spec: RunSpec, backend, model_path: str, results_dir: Path,
                   progress: Progress, server: ManagedServer | None = None,
                   stop: Callable | None = None, meta: dict[str, Any] | None = None) -> RunResult:
    """A pipe: open the run folder, drive, read the counters, then assemble() makes the summary.
    `stop` (a capacity search's convergence check) may end the drive early; `meta` goes into
    run.json from the start (a capacity probe's marks)."""
    writer = RunWriter(results_dir, new_run_id(spec.name, spec.label), {
        "name": spec.name, "label": spec.label, "started_at": time.time(),
        "config": spec.model_dump(mode="json"), "model_path": model_path,
        "env": envinfo.collect(), "backend_info": backend.info(), **(meta or {})})
    pieces = Pieces(spec, model_path, writer.meta)

    def record(sample: Sample) -> None:
        writer.add(sample)
        pieces.columns.append(sample)          # leaves warm-up samples out
        progress.advance(sample)

    workload = make_workload(spec.workload, model_path, spec.seed)
    strat = strategy(spec.load)
    pieces.open_loop, pieces.scheduled = _timing(spec, strat.max_in_flight, workload)
    pieces.engine_before = backend.stats()
    pieces.server_before = await backend.server_stats()
    driver, pieces.workers_info = driver_for(spec.load, backend, record)   # one process or N
    status, error = "complete", None
    try:
        status, error = await _drive(spec, driver, workload, strat, progress, pieces, stop)
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
        if server is not None:  # the log so far: start-up and every run this server served
            copy_into(writer.dir, server.log_path, "server.log")
            pieces.server = {"argv": server.argv, "url": server.url, "log": "server.log"}
        writer.finish(status, error=error, **assemble(pieces), finished_at=time.time())
    return RunResult(writer.meta["run_id"], writer.dir, status, spec, writer.meta["summary"], writer.meta)


async def run_capacity(spec: RunSpec, backend, model_path: str, results_dir: Path, progress: Progress,
                       server: ManagedServer | None = None,
                       on_result: Callable[[RunResult], None] = lambda r: None) -> list[RunResult]:
    """A capacity search (bench.run.capacity) whose probes are runs on this started backend."""
    from bench.run import capacity

    async def probe(p_spec: RunSpec, p_progress: Progress, stop: Callable, meta: dict) -> RunResult:
        return await _run_one(p_spec, backend, model_path, results_dir, p_progress, server, stop, meta)
    return await capacity.search(spec, probe, results_dir, progress, on_result)


def suite_inflation(results: list[RunResult]) -> list[inflation.InflationRow]:
    """The token-inflation table of the suite, stored in every run.json as `inflation`."""
    rows = inflation.inflation_rows([
        (r.spec.label or r.spec.name, r.spec.workload.kind,
         registry.workload_class(r.spec.workload.kind).unit, r.summary) for r in results])
    data = inflation.table(rows)
    for r in results:
        update_run(r.dir, {"inflation": data})
        r.meta["inflation"] = data
    return rows


def _experiment(spec: RunSpec) -> str | None:
    return spec.treatment.experiment if spec.treatment else None


def _keep(key: str, spec: RunSpec, specs: list[RunSpec]) -> bool:
    """Whether a started backend stays up for `spec`, the run about to start: it does when that
    run uses it, or when any run of spec's A/B experiment does (arms interleave A B A B and
    engines are slow to start, so an experiment's arms stay up together until it ends, and are
    still up for its live teacher-forced fidelity, _experiment_done)."""
    exp = _experiment(spec)
    return _backend_key(spec) == key or (
        exp is not None and any(_experiment(s) == exp and _backend_key(s) == key for s in specs))


async def _experiment_done(exp: str | None, results: list[RunResult], live: dict) -> None:
    """After an experiment's last run, with its backends up: live teacher-forced fidelity."""
    if exp is None:
        return

    def backend_of(spec: RunSpec):
        return live.get(_backend_key(spec), (None,))[0]

    try:
        await live_fidelity.measure([r for r in results if _experiment(r.spec) == exp], backend_of)
    except Exception as exc:   # never the reason measured results are lost
        print(f"bench: teacher-forced fidelity of experiment {exp} not computed: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


async def _start(spec: RunSpec) -> tuple[Any, ManagedServer | None, str]:
    model_path = resolve_model(spec.model)
    options = dict(spec.backend.options)
    server = None
    if spec.server is not None:
        server = ManagedServer(spec.server, model_path, spec.seed)
        await server.start()
        options.setdefault("base_url", server.url + "/v1")
    backend = registry.backend_class(spec.backend.name)(model_path, options, spec.seed)
    try:
        await backend.start()
    except BaseException:
        await _stop(None, server)
        raise
    return backend, server, model_path


async def _run_all(specs: list[RunSpec], results_dir: Path, progress: Progress,
                   on_result: Callable[[RunResult], None]) -> list[RunResult]:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    loop.add_signal_handler(signal.SIGTERM, me.cancel)  # SIGTERM ends cleanly, like Ctrl-C
    results: list[RunResult] = []
    live: dict[str, tuple[Any, ManagedServer | None, str]] = {}   # backend key -> started backend
    try:
        for i, spec in enumerate(specs):
            key = _backend_key(spec)
            if i and _experiment(specs[i - 1]) != _experiment(spec):
                await _experiment_done(_experiment(specs[i - 1]), results, live)
            for other in [k for k in live if not _keep(k, spec, specs)]:
                await _stop(*live.pop(other)[:2])
            # A managed server that died in the last run (crash, OOM) is started afresh, so the
            # sweep goes on to its next point.
            if key in live and live[key][1] is not None and not live[key][1].alive:
                await _stop(*live.pop(key)[:2])
            if key not in live:
                live[key] = await _start(spec)
            backend, server, model_path = live[key]
            if spec.load.kind == "capacity":     # a search: many probe runs on this backend
                results += await run_capacity(spec, backend, model_path, results_dir, progress, server, on_result)
                continue
            result = await _run_one(spec, backend, model_path, results_dir, progress, server)
            results.append(result)
            on_result(result)
        if specs:
            await _experiment_done(_experiment(specs[-1]), results, live)
        suite_inflation([r for r in results if "capacity_probe" not in r.meta])   # probes: one row each is noise
    finally:
        for backend, server, _ in live.values():
            await _stop(backend, server)
        loop.remove_signal_handler(signal.SIGTERM)
    return results


async def _stop(backend, server: ManagedServer | None) -> None:
    """The backend first (it may be talking to the server), then the server, even if one fails."""
    try:
        if backend is not None:
            await backend.stop()
    finally:
        if server is not None:
            await server.stop()
            server.log_path.unlink(missing_ok=True)  # each run folder kept its copy


class Interrupted(Exception):
    """SIGINT or SIGTERM ended the runs; what was measured is on disk, marked partial."""

    def __init__(self, signal_name: str):
        self.signal_name = signal_name
        super().__init__(signal_name)


# In-process backends run model code in threads that hold the GIL between kernel calls; the
# default 5 ms switch interval then delays the event loop (send times, token stamps) by up to
# 5 ms. 0.5 ms keeps the driver responsive at a small cost in thread switches.
SWITCH_INTERVAL_S = 0.0005


def run_all(specs: list[RunSpec], results_dir: Path | str = "results", progress: Progress | None = None,
            on_result: Callable[[RunResult], None] = lambda r: None) -> list[RunResult]:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        return asyncio.run(_run_all(specs, Path(results_dir), progress or Progress(), on_result))
    except KeyboardInterrupt:
        raise Interrupted("SIGINT") from None
    except asyncio.CancelledError:  # our SIGTERM handler cancels the main task
        raise Interrupted("SIGTERM") from None
