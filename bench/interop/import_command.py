"""`bench import FILE... [--results-dir DIR]`: peers' results as run folders (docs/peers.md)."""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from bench.interop.importers import IMPORTERS

    p.add_argument("files", nargs="+", help="vllm bench serve JSON, AIPerf profile_export.jsonl / "
                   "profile_export_aiperf.json, GuideLLM benchmarks.json, inference-perf outputs, BR v0.2")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--format", choices=list(IMPORTERS), help="the file's format (default: found from its content)")
    p.add_argument("--env-here", action="store_true",
                   help="the peer ran on this machine: record this machine's hardware with the run")


def main(args: argparse.Namespace) -> int:
    from bench.interop import importers, write
    from bench.telemetry import env as envinfo

    imported = [(f, imp) for f in args.files for imp in importers.read(f, args.format)]   # all checked first
    env = envinfo.collect() if args.env_here else None
    for f, imp in imported:
        run = write.write(imp, args.results_dir, env)
        kind = f"{len(imp.samples)} requests" if imp.samples else "summary only"
        print(f"{f}: {imp.tool} {imp.tool_version or '(version not in file)'} -> {run.dir} ({kind})")
        if imp.skipped:
            print(f"  skipped {len(imp.skipped)} field(s) this bench does not know: "
                  + ", ".join(imp.skipped[:12]) + (" ..." if len(imp.skipped) > 12 else ""), file=sys.stderr)
        for note in imp.notes:
            print(f"  note: {note}", file=sys.stderr)
    return 0
