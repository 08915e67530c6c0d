"""`bench validate CONFIG`: every run of a config checked, nothing run."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")


def main(args: argparse.Namespace) -> int:
    from bench import config

    specs = config.load(args.config)
    for spec in specs:
        print(f"ok: {spec.name} {spec.label} backend={spec.backend.name} "
              f"workload={spec.workload.kind} load={spec.load.kind}")
    print(f"{args.config}: {len(specs)} run(s) valid")
    return 0
