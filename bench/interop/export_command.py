"""`bench export RUN... --format br0.2|csv`: runs in formats other tools read (docs/peers.md)."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from bench.interop.exporters import EXPORTERS

    p.add_argument("runs", nargs="+", help="run folders, folders of runs, globs, series keys or run_ids")
    p.add_argument("--format", required=True, choices=list(EXPORTERS))
    p.add_argument("--out", type=Path, help="br0.2: a folder (default br0.2/); csv: a .csv file or a folder "
                                            "(default runs.csv)")
    p.add_argument("--json", action="store_true", help="br0.2 as JSON instead of YAML")
    p.add_argument("--results-dir", default="results")


def main(args: argparse.Namespace) -> int:
    from bench.interop.exporters import EXPORTERS
    from bench.results import store

    runs: dict[Path, store.Run] = {}
    for ref in args.runs:
        for r in store.resolve_set(ref, args.results_dir):
            runs.setdefault(r.dir.resolve(), r)
    out = args.out or Path("br0.2" if args.format == "br0.2" else "runs.csv")
    module = importlib.import_module(EXPORTERS[args.format])
    for path in module.write(list(runs.values()), out, "json" if args.json else "yaml"):
        print(path)
    return 0
