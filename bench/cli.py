"""Argument parsing only: each verb calls one function."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import UserError


def cmd_run(args: argparse.Namespace) -> int:
    from bench import config
    from bench.run import runner
    from bench.run.display import BarProgress, NoteProgress, print_summary

    specs = config.load(args.config)
    if args.workers is not None:   # the flag wins over every run's load.workers
        specs = [s.model_copy(update={"load": s.load.model_copy(update={"workers": args.workers})}) for s in specs]
    progress = BarProgress() if not args.no_progress and sys.stderr.isatty() else NoteProgress()
    experiments = any(s.treatment for s in specs)
    hooks = None
    if experiments:   # A/B arms: their engines stay up together; live fidelity before they stop
        from bench.experiments.hooks import hooks as experiment_hooks
        hooks = experiment_hooks(progress.note)
    try:
        results = runner.run_all(specs, args.results_dir, progress, hooks)
    except runner.Interrupted as sig:
        print(f"interrupted by {sig.signal_name}: partial results were kept in {args.results_dir}",
              file=sys.stderr)
        return 130 if sig.signal_name == "SIGINT" else 143
    print_summary(results)
    if experiments:   # pair the arms from their folders, as `bench experiment` does
        from bench.analysis import experiment
        for path in experiment.write(results, args.results_dir):
            print(experiment.render_file(path))
            print(f"experiment summary: {path}")
    return 0 if all(r.status == "complete" for r in results) else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from bench import config

    specs = config.load(args.config)
    for spec in specs:
        print(f"ok: {spec.name} {spec.label} backend={spec.backend.name} "
              f"workload={spec.workload.kind} load={spec.load.kind}")
    print(f"{args.config}: {len(specs)} run(s) valid")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from bench.selftest.command import main
    return main(args.rate or [100, 300, 1000, 2000], args.seconds, args.chunks, args.concurrency, args.soak,
                args.workers)


def cmd_build_tiny(args: argparse.Namespace) -> int:
    from bench.models.tiny import TINY_SPECS, build_tiny

    root = Path(args.out) if args.out else None
    for name in TINY_SPECS:
        print(f"{name}: {build_tiny(name, root, force=args.force)}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from bench.models.presets import PRESETS
    from bench.models.tiny import TINY_SPECS
    from bench.metrics.roofline import ModelShape

    for spec in TINY_SPECS.values():
        print(f"{spec.name:20s} tiny Llama, hidden {spec.hidden_size}, {spec.num_hidden_layers} layers, "
              f"head_dim {spec.head_dim}, vocab {spec.vocab_size} (built locally)")
    for p in PRESETS.values():
        c, shape = p.config, ModelShape.from_config(p.config)
        print(f"{'preset:' + p.name:20s} {p.source} shape, {shape.params / 1e9:.2f} B params, hidden "
              f"{c['hidden_size']}, {c['num_hidden_layers']} layers, {c['num_attention_heads']}/"
              f"{c.get('num_key_value_heads')} heads/kv, vocab {p.vocab_size} (dummy weights)")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from bench.results.store import main
    return main(args.paths)


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.analysis.compare import main
    return main(args.a, args.b, args.results_dir, args.format, args.fail_on_regression, args.min_effect,
                args.metric, args.within_run, args.force)


def cmd_trend(args: argparse.Namespace) -> int:
    from bench.analysis.trend import main
    return main(args.paths, args.metric, args.out, args.min_effect, args.fail_on_regression)


def cmd_report(args: argparse.Namespace) -> int:
    from bench.analysis.report import main
    return main(args.runs, args.out, args.markdown, args.results_dir)


def cmd_forecast(args: argparse.Namespace) -> int:
    from bench.analysis.forecast import main
    return main(args.runs, args.target_rate, args.price_per_gpu_hour, args.slo, args.gpus_per_replica, args.per)


def cmd_experiment(args: argparse.Namespace) -> int:
    from bench.analysis.experiment import main
    return main(args.folder)


def cmd_summary(args: argparse.Namespace) -> int:
    from bench.analysis.summary import main
    return main(args.folder, args.baseline)


def cmd_profile(args: argparse.Namespace) -> int:
    from bench.profile.command import main
    return main(args.logs, args.format, args.group_by, args.write_workload, args.report, args.forecast_from,
                args.tasks_per_hour, args.price_per_gpu_hour, args.slo, args.gpus_per_replica, args.json)


def cmd_export_otel(args: argparse.Namespace) -> int:
    from bench.profile.export_otel import main
    return main(args.run, args.out, args.results_dir)


def _profile_verbs(sub) -> None:
    pr = sub.add_parser("profile", help="token-usage profile of call logs; fitted workload; forecast")
    pr.add_argument("logs", nargs="+", help="log files (OTel spans JSON/JSONL, OpenAI JSONL, Mooncake, Azure)")
    pr.add_argument("--format", default="auto", choices=["auto", "otel", "openai", "mooncake", "azure", "sessions"])
    pr.add_argument("--group-by", metavar="FIELD", help="OpenAI logs: the session/trace id field (dotted path)")
    pr.add_argument("--write-workload", metavar="PATH", help="write a fitted workload file, e.g. workloads/mine.yaml")
    pr.add_argument("--report", metavar="HTML", help="write the profile as an HTML report")
    pr.add_argument("--json", action="store_true", help="print the profile as JSON")
    pr.add_argument("--forecast-from", nargs="+", metavar="RUN", help="a load sweep's run folders, or a .capacity.json")
    pr.add_argument("--tasks-per-hour", type=float)
    pr.add_argument("--price-per-gpu-hour", type=float)
    pr.add_argument("--gpus-per-replica", type=int, default=1)
    pr.add_argument("--slo", action="append", metavar="KEY=VALUE", help="e.g. task_latency_ms_p99=5000 (repeatable)")
    pr.set_defaults(func=cmd_profile)

    ex = sub.add_parser("export-otel", help="a run's samples as OpenTelemetry GenAI spans (JSONL)")
    ex.add_argument("run", help="run folder, run_id or a unique part of it")
    ex.add_argument("--out", required=True)
    ex.add_argument("--results-dir", default="results")
    ex.set_defaults(func=cmd_export_otel)


def _analysis_verbs(sub) -> None:
    ls = sub.add_parser("ls", help="list runs under results folders")
    ls.add_argument("paths", nargs="*", default=["results"])
    ls.set_defaults(func=cmd_ls)

    cmp_ = sub.add_parser("compare", help="compare runs B against runs A (two-stage bootstrap CIs)")
    cmp_.add_argument("a", help="baseline set: run folders, folders of runs, globs, a series key or a "
                                "run_id (part), comma-separated")
    cmp_.add_argument("b", help="candidate set, the same forms")
    cmp_.add_argument("--results-dir", default="results")
    cmp_.add_argument("--format", default="table", choices=["table", "markdown", "json"])
    cmp_.add_argument("--fail-on-regression", type=float, metavar="PCT",
                      help="exit 1 when a metric regresses significantly by PCT percent or more")
    cmp_.add_argument("--min-effect", type=float, default=5.0, metavar="PCT",
                      help="smallest change called significant (the whole CI must lie beyond it)")
    cmp_.add_argument("--metric", action="append", help="summary key to compare (repeatable)")
    cmp_.add_argument("--within-run", action="store_true",
                      help="with one run per side, give verdicts from within-run intervals (drift not measured)")
    cmp_.add_argument("--force", action="store_true", help="show numbers even when the runs are not comparable")
    cmp_.set_defaults(func=cmd_compare)

    tr = sub.add_parser("trend", help="each metric over a series of comparable runs; step changes in it")
    tr.add_argument("paths", nargs="*", default=["results"],
                    help="results folders, run folders, globs, series keys or run_ids")
    tr.add_argument("--metric", action="append", help="summary key (repeatable)")
    tr.add_argument("--out", help="PNG plot path")
    tr.add_argument("--min-effect", type=float, default=5.0, metavar="PCT")
    tr.add_argument("--fail-on-regression", action="store_true",
                    help="exit 1 when the newest step of a metric is a regression")
    tr.set_defaults(func=cmd_trend)

    rep = sub.add_parser("report", help="self-contained HTML (or Markdown) report with plots")
    rep.add_argument("runs", nargs="+", help="run folders, run_ids or results folders")
    rep.add_argument("--out", required=True)
    rep.add_argument("--markdown", action="store_true", help="Markdown with PNGs beside it")
    rep.add_argument("--results-dir", default="results")
    rep.set_defaults(func=cmd_report)

    ex = sub.add_parser("experiment", help="recompute the A/B experiment files of a results folder from its runs")
    ex.add_argument("folder", help="a results folder (e.g. out/bench)")
    ex.set_defaults(func=cmd_experiment)

    sm = sub.add_parser("summary", help="what a suite found, in plain text, and against a baseline")
    sm.add_argument("folder", help="the suite's results folder (e.g. out/bench)")
    sm.add_argument("--baseline", metavar="FOLDER", help="earlier runs to compare with (e.g. results)")
    sm.set_defaults(func=cmd_summary)

    fc = sub.add_parser("forecast", help="replicas and cost for a target rate from a load sweep")
    fc.add_argument("runs", nargs="+", help="the sweep's run folders or a folder of them, or a .capacity.json")
    fc.add_argument("--target-rate", type=float, required=True, help="requests (or tasks) per second")
    fc.add_argument("--price-per-gpu-hour", type=float, required=True)
    fc.add_argument("--gpus-per-replica", type=int, default=1)
    fc.add_argument("--slo", action="append", metavar="KEY=VALUE", help="e.g. ttft_ms_p99=500 (repeatable)")
    fc.add_argument("--per", default="request", choices=["request", "task"], help="unit of the target rate")
    fc.set_defaults(func=cmd_forecast)


def _workers(text: str) -> int | str:
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1 or auto")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Inference benchmarking for LLM serving.")
    sub = p.add_subparsers(dest="verb", required=True)

    run = sub.add_parser("run", help="run every run of a config and save results")
    run.add_argument("config")
    run.add_argument("--results-dir", default="results")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--workers", type=_workers, metavar="N|auto",
                     help="client processes for HTTP backends (overrides load.workers)")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a config without running it")
    val.add_argument("config")
    val.set_defaults(func=cmd_validate)

    st = sub.add_parser("selftest", help="measure the client's own capacity against an instant local server")
    st.add_argument("--rate", type=float, action="append", help="open-loop rate to test (repeatable)")
    st.add_argument("--seconds", type=float, default=3.0, help="per rate")
    st.add_argument("--chunks", type=int, default=16, help="streamed chunks (tokens) per request")
    st.add_argument("--concurrency", type=int, default=256, help="for the closed-loop ceiling and the soak")
    st.add_argument("--soak", type=int, default=0, metavar="N", help="then N requests, printing fds and RSS")
    st.add_argument("--workers", type=int, default=1, metavar="N", help="also measure with N worker processes")
    st.set_defaults(func=cmd_selftest)

    models = sub.add_parser("models", help="build and list models").add_subparsers(dest="what", required=True)
    bt = models.add_parser("build-tiny", help="build the tiny model and its draft")
    bt.add_argument("--out", help="folder for models (default $BENCH_CACHE/models or ~/.cache/bench/models)")
    bt.add_argument("--force", action="store_true")
    bt.set_defaults(func=cmd_build_tiny)
    ls = models.add_parser("list", help="list built-in models")
    ls.set_defaults(func=cmd_models_list)
    _analysis_verbs(sub)
    _profile_verbs(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
