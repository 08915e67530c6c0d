"""How many load worker processes a run gets, and the one object that drives it: a Driver in
this process, or a WorkerPool (bench.run.workers) of N."""
from __future__ import annotations

import math
import os
from collections.abc import Callable

from bench.backends.base import Backend
from bench.run.driver import Driver
from bench.run.workers import WorkerPool
from bench.types import Sample


def pick_workers(asked: int | str, backend: Backend, rate: float | None, concurrency: int | None,
                 cores: int | None = None) -> tuple[int, str]:
    """How many workers, and why (stored in run.json and printed)."""
    if not getattr(backend, "multiprocess_safe", False):
        why = f"backend {backend.name} runs in this process and cannot be shared across processes"
        return 1, why if asked != 1 else "asked for 1"
    if asked != "auto":
        return int(asked), f"asked for {asked}"
    cores = cores or len(os.sched_getaffinity(0))
    # One worker keeps ~1,000 sessions/s or ~128 streams on a busy core (bench selftest here);
    # one core is left for the parent (writing samples) and the rest of the machine.
    need = max(math.ceil(rate / 1000) if rate else 1, math.ceil((concurrency or 1) / 128))
    n = max(1, min(need, cores - 1))
    return n, f"auto: {cores} cores, load needs about {need} (1,000 sessions/s or 128 streams each)"


def driver_for(load, backend: Backend, on_sample: Callable[[Sample], None],
               note: Callable[[str], None] = lambda text: None):
    """The runner's one choice: (Driver or WorkerPool, what was picked and why for run.json)."""
    n, why = pick_workers(load.workers, backend, load.arrival_rate_s, load.max_in_flight)
    info = {"asked": load.workers, "picked": n, "why": why}
    if load.workers != 1:
        note(f"load workers: {n} ({why})")
    return (WorkerPool(backend, on_sample, n) if n > 1 else Driver(backend, on_sample)), info
