"""`bench validate CONFIG`: every run of a config checked, nothing run; then each run and A/B arm
checked against this machine (bench.backends.preflight). Exit 2 for bad input only: a run that
this machine cannot run is said, one line each, and is not an error of the config."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")


def main(args: argparse.Namespace) -> int:
    from bench import config
    from bench.backends import preflight
    from bench.backends.machine import Machine

    specs = config.load(args.config)
    for spec in specs:
        print(f"ok: {spec.name} {spec.label} backend={spec.backend.name} "
              f"workload={spec.workload.kind} load={spec.load.kind}")
    print(f"{args.config}: {len(specs)} run(s) valid")
    checked = preflight.plan(specs, Machine.here())
    for line in preflight.lines(checked):
        print(line)
    skipped = sum(not c.runs for c in checked)
    if skipped:
        print(f"on this machine: {len(checked) - skipped} of {len(checked)} run(s) can run")
    return 0
