"""A suite of RunSpecs -> run folders: for each spec, get its engine, run it (or search it), then
release what the next spec does not need (bench.run.engines). A failure in one run is recorded in
its folder and the next run goes on.

Before anything runs, every spec is checked against this machine (bench.backends.preflight): a
run this machine cannot run gets a folder that says `skipped` and why; one with an equivalent
that can run is run with it. A run whose engine fails to start anyway is recorded `failed` with
the reason, and so are the later runs of that engine (it is not started again).

The run stage measures and stores. What a caller does around it (an A/B experiment's live
fidelity while its engines are up, its analysis afterwards) comes in through `Hooks`, from the
CLI: nothing here knows about experiments.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from bench.backends import preflight
from bench.backends.machine import Machine, Replacement
from bench.config import RunSpec
from bench.results.files import new_run_id
from bench.results.run import Run, not_run_reason
from bench.run import capacity, engine_log, not_run
from bench.run.engines import Engines, GroupDone, engine_key
from bench.run.progress import Progress
from bench.run.run_one import preflight_note, run_one


@dataclass(frozen=True)
class SuitePart:
    """A share of a suite run elsewhere (a Ray task on a cluster node, bench.run.ray_suite): the
    suite's id and this share's number. A share holds every run of its engines, so the warm-up
    rule (warm_up_first) sees all repetitions of a config here as it would in one process."""
    suite: str
    index: int


@dataclass
class Hooks:
    """`group(spec)`: runs of one group keep their engines up together until its last run ends;
    `group_done(group, engine_of)` is awaited then, engines up; `run_done(run)` after each run."""
    group: Callable[[RunSpec], str | None] = lambda spec: None
    group_done: GroupDone | None = None
    run_done: Callable[[Run], None] = lambda run: None     # runs that ran (not skipped or never started)


async def run_suite(specs: list[RunSpec], results_dir: Path, progress: Progress, hooks: Hooks,
                    machine: Machine | None = None, part: SuitePart | None = None) -> list[Run]:
    """`part`: these specs are one share of a suite spread over a cluster (bench.run.ray_suite)."""
    suite = part.suite if part else new_run_id(specs[0].name) if specs else ""   # each run records its suite's id
    log = f"{suite}.{part.index}.engine.log" if part else f"{suite}.engine.log"   # one writer per file
    engine_log.use(results_dir / log, progress.note)   # engines' output, off the terminal
    checked = preflight.plan(specs, machine or Machine.here())
    made: dict[int, list[Run]] = {}
    for i, c in enumerate(checked):
        if not c.runs:
            made[i] = [not_run.record(c.spec, results_dir, suite, "skipped", c.found.reason)]
    todo = [(i, c.spec) for i, c in enumerate(checked) if c.runs]
    failed: dict[str, str] = {}            # engine key -> why it did not start
    async with Engines([s for _, s in todo], hooks.group, hooks.group_done) as engines:
        for j, (i, spec) in enumerate(todo):
            warm = warm_up_first(spec, [sp for _, sp in todo])
            token = preflight_note.set(_replaced(checked[i]))
            try:
                made[i] = await _run_spec(spec, engines, failed, results_dir, progress, suite, warm)
            finally:
                preflight_note.reset(token)
            for run in made[i]:
                if not_run_reason(run.meta) is None:      # it ran
                    hooks.run_done(run)
            await engines.done(j)
    return [run for i in sorted(made) for run in made[i]]


async def _run_spec(spec: RunSpec, engines: Engines, failed: dict[str, str], results_dir: Path,
                    progress: Progress, suite: str, warm: bool = False) -> list[Run]:
    key = engine_key(spec)
    if key not in failed:
        try:
            engine = await engines.get(spec)
        except Exception as exc:          # this run's engine only: the suite goes on
            failed[key] = not_run.engine_failed(exc)
            progress.note(f"{preflight.name(spec)}: {failed[key]}; recorded as failed, going on")
        else:
            if spec.load.searches:
                return await capacity.search(spec, engine, results_dir, progress, suite)
            if warm:
                await discarded_run(spec, engine, progress, suite)
            return [await run_one(spec, engine, results_dir, progress, suite)]
    return [not_run.record(spec, results_dir, suite, "failed", failed[key])]


def _replaced(c: preflight.Checked) -> dict | None:
    """run.json's `preflight` for a spec preflight replaced options of: what, with what, why."""
    if not isinstance(c.found, Replacement) or c.original is None:
        return None
    return {"replaced": c.original.backend.options, "with": c.spec.backend.options, "reason": c.found.reason}


def warm_up_first(spec: RunSpec, specs: list[RunSpec]) -> bool:
    """A repeated suite's first repetition of each config follows one discarded run of it: the
    first pass over an engine and a load point ran ~35% slower than the rest (caches, allocator,
    kernels), a drift that would fall on repetition 0 alone and bias every comparison of sets."""
    if spec.repetition != 0:
        return False
    mine = _config_key(spec)
    return any(s.repetition > 0 and _config_key(s) == mine for s in specs)


def _config_key(spec: RunSpec) -> str:
    """What a spec measures, whichever repetition it is."""
    d = spec.model_dump(mode="json", exclude={"repetition", "label"})
    if isinstance(d.get("treatment"), dict):
        d["treatment"].pop("repetition", None)
    return json.dumps(d, sort_keys=True, default=str)


async def discarded_run(spec: RunSpec, engine, progress: Progress, suite: str) -> None:
    """The whole run, on the same engine, into a folder deleted at once: never seen by analysis."""
    with tempfile.TemporaryDirectory(prefix="bench-warm-up-") as tmp:
        label = ",".join(x for x in (spec.label, "discarded warm-up run") if x)
        await run_one(spec.model_copy(update={"label": label}), engine, Path(tmp), progress, suite)


class Interrupted(Exception):
    """SIGINT or SIGTERM ended the runs; what was measured is on disk, marked partial."""

    def __init__(self, signal_name: str):
        self.signal_name = signal_name
        super().__init__(signal_name)


# In-process backends run model code in threads that hold the GIL between kernel calls; the
# default 5 ms switch interval then delays the event loop (send times, token stamps) by up to
# 5 ms. 0.5 ms keeps the driver responsive at a small cost in thread switches.
SWITCH_INTERVAL_S = 0.0005


async def _main(specs: list[RunSpec], results_dir: Path, progress: Progress, hooks: Hooks,
                machine: Machine | None, part: SuitePart | None = None) -> list[Run]:
    loop = asyncio.get_running_loop()
    main_thread = threading.current_thread() is threading.main_thread()   # a Ray task may run elsewhere
    if main_thread:
        loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # SIGTERM ends cleanly, like Ctrl-C
    try:
        return await run_suite(specs, results_dir, progress, hooks, machine, part)
    finally:
        if main_thread:
            loop.remove_signal_handler(signal.SIGTERM)


def run_all(specs: list[RunSpec], results_dir: Path | str = "results", progress: Progress | None = None,
            hooks: Hooks | None = None, machine: Machine | None = None, part: SuitePart | None = None) -> list[Run]:
    """`machine`: the facts preflight checks the runs against (default: this machine's)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        return asyncio.run(_main(specs, Path(results_dir), progress or Progress(), hooks or Hooks(), machine, part))
    except KeyboardInterrupt:
        raise Interrupted("SIGINT") from None
    except asyncio.CancelledError:  # our SIGTERM handler cancels the main task
        raise Interrupted("SIGTERM") from None
