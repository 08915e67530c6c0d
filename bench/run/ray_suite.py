"""`bench run CONFIG --ray`: a suite's runs spread over a Ray cluster's nodes, in parallel.

The suite is cut into shares, each a Ray task that runs the ordinary runner (bench.run.runner,
with its preflight against the node it landed on) on a node with the resources its runs declare
(`resources:` of each run: cpus, gpus, memory_gb, custom), writing each run's folder through the
run writer into the one results folder, which every node must see (a shared volume on
Kubernetes: docs/ray.md). This process waits for the shares and reads their runs back.

What stays together in one share, in the order written:
- runs that share an engine (same model, seed, backend and server: bench.run.engines.engine_key),
  so an engine starts once, and a config's repetitions and its discarded warm-up run see the
  same warm engine as they would in one process;
- an experiment's runs (its arms are different engines): one node runs every round of its arms
  interleaved, so each paired difference is measured on one machine and its live fidelity is
  measured while its engines are up, as today.
Shares run in parallel as the cluster's free resources allow.

Ray is imported here only (the `ray` extra).
"""
from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Callable

from bench.config import RunSpec
from bench.results.files import new_run_id
from bench.results.run import Run
from bench.run import not_run
from bench.run.engines import engine_key


def shares(specs: list[RunSpec], group: Callable[[RunSpec], str | None]) -> list[list[int]]:
    """The suite's run indices cut into shares: runs joined by an engine or by a group (an
    experiment) share one; a share keeps the runs' order. Pure (union-find over the two keys)."""
    parent = list(range(len(specs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, spec in enumerate(specs):
        for key in (f"engine:{engine_key(spec)}", f"group:{g}" if (g := group(spec)) else None):
            if key is None:
                continue
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    out: dict[int, list[int]] = {}
    for i in range(len(specs)):
        out.setdefault(root(i), []).append(i)
    return sorted(out.values(), key=lambda idx: idx[0])


def task_options(specs: list[RunSpec]) -> dict:
    """A share's Ray task options: the most any of its runs declares (they run one at a time)."""
    rs = [s.resources for s in specs]
    custom: dict[str, float] = {}
    for r in rs:
        for k, v in r.custom.items():
            custom[k] = max(custom.get(k, 0.0), v)
    opts = {"num_cpus": max(r.cpus for r in rs), "num_gpus": max(r.gpus for r in rs), "max_retries": 0}
    memory = [r.memory_gb for r in rs if r.memory_gb]
    if memory:
        opts["memory"] = int(max(memory) * 2**30)
    if custom:
        opts["resources"] = custom
    return opts


def _run_share(specs: list[RunSpec], results_dir: str, suite: str, index: int,
               make_hooks: Callable | None) -> list[tuple[str, RunSpec]]:
    """On a node: the ordinary runner over this share; the folders it wrote, each with its spec.
    `make_hooks(note)`: the caller's hooks, made here (an experiment's live fidelity runs on this
    node, while its arms' engines are up)."""
    from bench.run import runner
    from bench.run.display import NoteProgress

    progress = NoteProgress()
    hooks = make_hooks(progress.note) if make_hooks else None
    runs = runner.run_all(specs, results_dir, progress, hooks, part=runner.SuitePart(suite, index))
    return [(str(r.dir), r.spec) for r in runs]


def run_on_ray(specs: list[RunSpec], results_dir: Path | str, make_hooks: Callable | None = None,
               note: Callable[[str], None] = lambda text: print(f"bench: {text}", file=sys.stderr)) -> list[Run]:
    """Every run of the suite, its shares as parallel Ray tasks; the runs in the suite's order.
    `make_hooks(note) -> bench.run.runner.Hooks`: an importable function (it is sent to the
    nodes), whose `group` also keeps a group's runs in one share."""
    from bench.run.ray_pool import connect, ray_module
    ray = ray_module()
    connect(ray)
    results_dir = Path(results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    suite = new_run_id(specs[0].name) if specs else ""
    group = make_hooks(note).group if make_hooks else (lambda spec: None)
    parts = shares(specs, group)
    remote = ray.remote(_run_share)
    refs = {}
    for n, idx in enumerate(parts):
        mine = [specs[i] for i in idx]
        opts = task_options(mine)
        refs[remote.options(**opts).remote(mine, str(results_dir), suite, n, make_hooks)] = n
    note(f"{len(specs)} runs in {len(parts)} shares over the Ray cluster's "
         f"{sum(1 for x in ray.nodes() if x.get('Alive'))} nodes")
    dirs: dict[int, list[tuple[str, RunSpec]]] = {}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            n = refs[done[0]]
            try:
                dirs[n] = ray.get(done[0])
            except Exception as exc:   # the share's node died, or its task failed outside a run
                why = f"its Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                note(f"share {n} ({len(parts[n])} runs) failed; each recorded as failed: {why}")
                dirs[n] = [(str(not_run.record(specs[i], results_dir, suite, "failed", why).dir), specs[i])
                           for i in parts[n]]
            note(f"share {n} done: {len(dirs[n])} run folders")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)   # a KeyboardInterrupt in the task: its runs end partial, on disk
        raise
    return [Run.made(Path(d), spec) for n in range(len(parts)) for d, spec in dirs.get(n, [])]
