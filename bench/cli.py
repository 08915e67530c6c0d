"""`bench VERB ...`: finds the verb's module, which declares its own arguments and runs it.

Only the verb given is imported (its arguments and its code), so `bench validate` never loads
what `bench report` needs. Each module has `add_arguments(parser)` and `main(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import UserError

# verb -> (module, help). A new verb is its module plus one line here.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("bench.commands.run", "run every run of a config and save results"),
    "validate": ("bench.commands.validate", "check a config without running it"),
    "selftest": ("bench.selftest.command", "measure the client's own capacity against an instant local server"),
    "models": ("bench.commands.models", "build and list models"),
    "ls": ("bench.results.store", "list runs under results folders"),
    "compare": ("bench.analysis.compare", "compare runs B against runs A (the run as the unit)"),
    "trend": ("bench.analysis.trend", "each metric over a series of comparable runs; step changes in it"),
    "report": ("bench.analysis.report", "self-contained HTML (or Markdown) report with plots"),
    "experiment": ("bench.analysis.experiment",
                   "recompute the A/B experiment files of a results folder from its runs"),
    "summary": ("bench.analysis.summary", "what a suite found, in plain text, and against a baseline"),
    "forecast": ("bench.analysis.forecast", "replicas and cost for a target rate from a load sweep"),
    "profile": ("bench.profile.command", "token-usage profile of call logs; fitted workload; forecast"),
    "export-otel": ("bench.profile.export_otel", "a run's samples as OpenTelemetry GenAI spans (JSONL)"),
    "import": ("bench.interop.import_command", "peers' results (vllm bench serve, AIPerf, GuideLLM, "
                                               "inference-perf, Benchmark Report) as run folders"),
    "export": ("bench.interop.export_command", "runs as an llm-d Benchmark Report v0.2 or one CSV per run set"),
    "crosscheck": ("bench.interop.crosscheck", "run `vllm bench serve` and ours against one server, side by side"),
}


def parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser, with `verb`'s own arguments when it names one (the others list their help)."""
    p = argparse.ArgumentParser(prog="bench", description="Inference benchmarking for LLM serving.")
    sub = p.add_subparsers(dest="verb", required=True)
    for name, (module_name, help_text) in VERBS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == verb:
            module = importlib.import_module(module_name)
            module.add_arguments(sp)
            sp.set_defaults(func=module.main)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = parser(verb).parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted: partial results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
