"""`bench run CONFIG`: every run of a config (matrix expanded), results to a folder; A/B arms
paired afterwards from their folders, as `bench experiment` does."""
from __future__ import annotations

import argparse
import sys


def _workers(text: str) -> int | str:
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1 or auto")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--brief", action="store_true",
                   help="the headline rows of the summary table and no token table (`bench summary` "
                        "prints tokens with their cost; the report has every row): what `make bench` shows")
    p.add_argument("--workers", type=_workers, metavar="N|auto",
                   help="client processes for HTTP backends (overrides load.workers)")
    p.add_argument("--executor", choices=["local", "ray"],
                   help="where load workers run: local processes or Ray actors across a cluster "
                        "(overrides load.executor; docs/ray.md)")
    p.add_argument("--ray", action="store_true",
                   help="spread the runs over a Ray cluster's nodes in parallel (RAY_ADDRESS, else a "
                        "local one; each run's `resources:`; docs/ray.md)")


def main(args: argparse.Namespace) -> int:
    from bench import config
    from bench.backends import preflight
    from bench.backends.machine import Machine
    from bench.results.run import counts_as_failed, not_run_reason
    from bench.run import runner
    from bench.run.display import BarProgress, NoteProgress, print_summary

    specs = config.load(args.config)
    machine = Machine.here()
    for line in preflight.lines(preflight.plan(specs, machine)):   # said before anything runs
        print(line, file=sys.stderr)
    if args.workers is not None:   # the flag wins over every run's load.workers
        specs = [s.model_copy(update={"load": s.load.model_copy(update={"workers": args.workers})}) for s in specs]
    if args.executor is not None:   # as --workers; checked as the key is (Ray installed, a server's client)
        specs = [s.model_copy(update={"load": s.load.model_copy(update={"executor": args.executor})}) for s in specs]
        for s in specs:
            config.check_executor(s, args.config)
    if args.ray:
        config.check_ray(args.config, "--ray")
    progress = BarProgress() if not args.no_progress and sys.stderr.isatty() else NoteProgress()
    experiments = any(s.treatment for s in specs)
    hooks = None
    if experiments:   # A/B arms: their engines stay up together; live fidelity before they stop
        from bench.experiments.hooks import hooks as experiment_hooks
        hooks = experiment_hooks(progress.note)
    try:
        if args.ray:   # each share of the suite a Ray task on a node (bench.run.ray_suite)
            from bench.run import ray_suite
            from bench.experiments.hooks import hooks as experiment_hooks
            results = ray_suite.run_on_ray(specs, args.results_dir, experiment_hooks if experiments else None,
                                           progress.note)
        else:
            results = runner.run_all(specs, args.results_dir, progress, hooks, machine)
    except runner.Interrupted as sig:
        print(f"interrupted by {sig.signal_name}: partial results were kept in {args.results_dir}",
              file=sys.stderr)
        return 130 if sig.signal_name == "SIGINT" else 143
    finally:   # a local Ray this process started stops with it, on every way out (docs/ray.md)
        if (ray_pool := sys.modules.get("bench.run.ray_pool")) is not None:   # imported only if Ray was asked for
            ray_pool.disconnect()
    print_summary([r for r in results if not_run_reason(r.meta) is None], brief=args.brief)
    # one line per arm and reason (an arm's repetitions share it); the run folders are named there
    not_run: dict[tuple[str, str, str], list[str]] = {}
    for r in results:   # skipped runs were named before the run started; the report lists them too
        if (why := not_run_reason(r.meta)) is not None and r.status != "skipped":
            not_run.setdefault((r.status, preflight.name(r.spec), why), []).append(r.run_id)
    for (status, name, why), ids in not_run.items():
        print(f"{status}: {name} ({ids[0]}{f' and {len(ids) - 1} more' if len(ids) > 1 else ''}): {why}")
    if experiments:
        from bench.analysis import experiment
        for path in experiment.write(results, args.results_dir):
            print(experiment.render_file(path, brief=True))
            print(f"experiment summary: {path}")
    # 0: all that this machine can run ran (skipped runs said why); 1: a run failed (README: exit codes)
    return 1 if any(counts_as_failed(r.meta) for r in results) else 0
