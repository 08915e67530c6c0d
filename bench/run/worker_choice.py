"""How many load worker processes a run gets, and the one object that drives it: a Driver in
this process, a WorkerPool (bench.run.workers) of N, or a RayPool (bench.run.ray_pool) of N
actors across a Ray cluster (`load.executor: ray`)."""
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
    if getattr(load, "executor", "local") == "ray":
        return _ray_pool(load, backend, on_sample, note)
    n, why = pick_workers(load.workers, backend, load.arrival_rate_s, load.max_in_flight)
    info = {"asked": load.workers, "picked": n, "why": why}
    if load.workers != 1:
        note(f"load workers: {n} ({why})")
    return (WorkerPool(backend, on_sample, n) if n > 1 else Driver(backend, on_sample)), info


def _ray_pool(load, backend: Backend, on_sample: Callable[[Sample], None], note: Callable[[str], None]):
    """N Ray actors across the cluster (bench.run.ray_pool), even N = 1: the config asked for
    the cluster's hosts, not this one. "auto": one per alive node."""
    from bench.run import ray_pool   # Ray is imported only here, never by a local run
    ray = ray_pool.ray_module()
    if load.workers == "auto":
        ray_pool.connect(ray)
        n = sum(1 for node in ray.nodes() if node.get("Alive"))
        why = f"auto: one per alive node of the Ray cluster ({n})"
    else:
        n, why = int(load.workers), f"asked for {load.workers}"
    note(f"load workers: {n} Ray actors ({why})")
    info = {"asked": load.workers, "picked": n, "why": why, "executor": "ray",
            "placement": load.ray.model_dump(mode="json")}
    return ray_pool.RayPool(backend, on_sample, n, load.ray), info
