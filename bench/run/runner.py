"""A suite of RunSpecs -> run folders: for each spec, get its engine, run it (or search it), then
release what the next spec does not need (bench.run.engines). A failure in one run is recorded in
its folder and the next run goes on.

The run stage measures and stores. What a caller does around it (an A/B experiment's live
fidelity while its engines are up, its analysis afterwards) comes in through `Hooks`, from the
CLI: nothing here knows about experiments.
"""
from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from bench.config import RunSpec
from bench.results.files import new_run_id
from bench.results.run import Run
from bench.run import capacity, engine_log
from bench.run.engines import Engines, GroupDone
from bench.run.progress import Progress
from bench.run.run_one import run_one


@dataclass
class Hooks:
    """`group(spec)`: runs of one group keep their engines up together until its last run ends;
    `group_done(group, engine_of)` is awaited then, engines up; `run_done(run)` after each run."""
    group: Callable[[RunSpec], str | None] = lambda spec: None
    group_done: GroupDone | None = None
    run_done: Callable[[Run], None] = lambda run: None


async def run_suite(specs: list[RunSpec], results_dir: Path, progress: Progress, hooks: Hooks) -> list[Run]:
    suite = new_run_id(specs[0].name) if specs else ""     # each run records it: its suite's id
    engine_log.use(results_dir / f"{suite}.engine.log", progress.note)   # engines' output, off the terminal
    runs: list[Run] = []
    async with Engines(specs, hooks.group, hooks.group_done) as engines:
        for i, spec in enumerate(specs):
            engine = await engines.get(spec)
            if spec.load.searches:
                made = await capacity.search(spec, engine, results_dir, progress, suite)
            else:
                made = [await run_one(spec, engine, results_dir, progress, suite)]
            for run in made:
                hooks.run_done(run)
            runs += made
            await engines.done(i)
    return runs


class Interrupted(Exception):
    """SIGINT or SIGTERM ended the runs; what was measured is on disk, marked partial."""

    def __init__(self, signal_name: str):
        self.signal_name = signal_name
        super().__init__(signal_name)


# In-process backends run model code in threads that hold the GIL between kernel calls; the
# default 5 ms switch interval then delays the event loop (send times, token stamps) by up to
# 5 ms. 0.5 ms keeps the driver responsive at a small cost in thread switches.
SWITCH_INTERVAL_S = 0.0005


async def _main(specs: list[RunSpec], results_dir: Path, progress: Progress, hooks: Hooks) -> list[Run]:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # SIGTERM ends cleanly, like Ctrl-C
    try:
        return await run_suite(specs, results_dir, progress, hooks)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def run_all(specs: list[RunSpec], results_dir: Path | str = "results", progress: Progress | None = None,
            hooks: Hooks | None = None) -> list[Run]:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        return asyncio.run(_main(specs, Path(results_dir), progress or Progress(), hooks or Hooks()))
    except KeyboardInterrupt:
        raise Interrupted("SIGINT") from None
    except asyncio.CancelledError:  # our SIGTERM handler cancels the main task
        raise Interrupted("SIGTERM") from None
