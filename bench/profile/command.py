"""`bench profile LOGS...`: read, profile, and optionally write a workload, a report and a forecast."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.errors import UserError
from bench.logs import formats
from bench.logs.calls import Log
from bench.profile import fit as fitting
from bench.profile.profile import Profile, build, render
from bench.results import capacity_file

FORMATS = ("auto", *formats.NAMES)


def read_logs(paths: list[str], fmt: str = "auto", group_by: str | None = None) -> Log:
    if fmt not in FORMATS:
        raise UserError("--format", f"{fmt!r}: allowed {', '.join(FORMATS)}")
    log = Log()
    # A directory stands for its files (a folder of session files, one per session).
    def files(name: str) -> list[Path]:
        p = Path(name)
        return sorted(x for x in p.iterdir() if x.suffix in (".json", ".jsonl")) if p.is_dir() else [p]

    paths = [str(f) for name in paths for f in files(name)]
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise UserError(name, "log file not found")
        part = (formats.detect(path) if fmt == "auto" else formats.named(fmt)).read(path, group_by)
        part.calls = [_tagged(c, name, len(paths)) for c in part.calls]
        log.extend(part)
    return log


def _tagged(call, name: str, n_files: int):
    """Task ids of different files never merge (two files may both have a session `s1`)."""
    if n_files == 1:
        return call
    from dataclasses import replace
    return replace(call, task_id=f"{name}#{call.task_id}")


def forecast_text(p: Profile, runs: list[str], tasks_per_hour: float, price: float, slo: list[str] | None,
                  gpus_per_replica: int) -> str:
    """N tasks per hour of this profile -> replicas and cost, from a measured load sweep."""
    from bench.analysis import forecast
    from bench.results import store

    if tasks_per_hour <= 0 or price < 0:
        raise UserError("--tasks-per-hour", "needs --tasks-per-hour > 0 and --price-per-gpu-hour >= 0")
    cap = forecast.capacity_path(runs)
    if cap is not None:   # a capacity search: its confirmed capacity, with the search's bracket
        doc = capacity_file.read(cap)
        f = forecast.from_capacity(doc, tasks_per_hour / 3600, price, gpus_per_replica)
        tok = float((p.values["prompt_tokens_per_task"] + p.values["output_tokens_per_task"]).mean())
        lines = [f"forecast for {tasks_per_hour:g} tasks/hour of this profile ({tok:.4g} tokens per task in "
                 f"the log) from a capacity search, per {f.unit}:",
                 forecast.render_capacity(f, doc, tasks_per_hour / 3600, price, gpus_per_replica)]
        measured = [pt.tokens_per_unit for pt in f.points if pt.tokens_per_unit]
        ratio = tok / (sum(measured) / len(measured)) if measured else None
        if ratio is not None and abs(ratio - 1) > 0.25:
            lines.append(f"warning: the searched {f.unit}s carry {1 / ratio:.3g}x the tokens of this profile's "
                         "tasks: search with the fitted workload (--write-workload) for a forecast of this traffic")
        return "\n".join(lines)
    found = [r for r in store.find_runs(runs) if r.meta.get("status") == "complete"]
    if not found:
        raise UserError(", ".join(runs), "no complete runs")
    unit = "task" if any(s.task_id for s in found[0].samples()) else "request"   # the sweep's own unit
    f = forecast.forecast(found, forecast.parse_slos(slo, found), tasks_per_hour / 3600, price, gpus_per_replica, unit)
    tok = float((p.values["prompt_tokens_per_task"] + p.values["output_tokens_per_task"]).mean())
    measured = [pt.tokens_per_unit for pt in f.points]
    ratio = tok / (sum(measured) / len(measured)) if measured and sum(measured) else None
    lines = [f"forecast for {tasks_per_hour:g} tasks/hour of this profile ({tasks_per_hour / 3600:.4g}/s; "
             f"{tok:.4g} tokens per task in the log) from {len(found)} run(s), per {unit}:",
             forecast.render(f, tasks_per_hour / 3600, price, gpus_per_replica)]
    if f.cost_per_unit is not None:
        lines.append(f"answer: {tasks_per_hour:g} tasks/hour need {f.replicas} replica(s) at these SLOs, "
                     f"costing ${f.cost_per_unit:.4g} per {unit} (${f.cost_per_hour:.4g}/hour)")
    if ratio is not None and abs(ratio - 1) > 0.25:
        lines.append(f"warning: the sweep's {unit}s carry {1 / ratio:.3g}x the tokens of this profile's tasks: "
                     "run the sweep with the fitted workload (--write-workload) for a forecast of this traffic")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", help="log files (OTel spans JSON/JSONL, OpenAI JSONL, Mooncake, Azure)")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--group-by", metavar="FIELD", help="OpenAI logs: the session/trace id field (dotted path)")
    p.add_argument("--write-workload", metavar="PATH", help="write a fitted workload file, e.g. workloads/mine.yaml")
    p.add_argument("--report", metavar="HTML", help="write the profile as an HTML report")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.add_argument("--forecast-from", nargs="+", metavar="RUN", help="a load sweep's run folders, or a .capacity.json")
    p.add_argument("--tasks-per-hour", type=float)
    p.add_argument("--price-per-gpu-hour", type=float)
    p.add_argument("--gpus-per-replica", type=int, default=1)
    p.add_argument("--slo", action="append", metavar="KEY=VALUE", help="e.g. task_latency_ms_p99=5000 (repeatable)")


def main(args: argparse.Namespace) -> int:
    return profile(args.logs, args.format, args.group_by, args.write_workload, args.report, args.forecast_from,
                   args.tasks_per_hour, args.price_per_gpu_hour, args.slo, args.gpus_per_replica, args.json)


def profile(logs: list[str], fmt: str = "auto", group_by: str | None = None, write_workload: str | None = None,
            report: str | None = None, forecast_from: list[str] | None = None, tasks_per_hour: float | None = None,
            price_per_gpu_hour: float | None = None, slo: list[str] | None = None, gpus_per_replica: int = 1,
            as_json: bool = False) -> int:
    log = read_logs(logs, fmt, group_by)
    p = build(log)
    print(json.dumps(summary_dict(p), indent=2) if as_json else render(p))
    if write_workload:
        params, fits = fitting.workload(p)
        out = fitting.write(write_workload, params, fits, p, logs)
        print(f"workload: {out} (kind {params['kind']})")
    if forecast_from:
        if tasks_per_hour is None or price_per_gpu_hour is None:
            raise UserError("--forecast-from", "needs --tasks-per-hour and --price-per-gpu-hour")
        print(forecast_text(p, forecast_from, tasks_per_hour, price_per_gpu_hour, slo, gpus_per_replica))
    if report:
        from bench.profile import report as rep
        path = rep.write_profile_report(p, report, f"bench profile: {', '.join(logs)}")
        print(f"report: {path}")
    return 0


def summary_dict(p: Profile) -> dict:
    from bench.profile.profile import quantiles, scalars
    return {"distributions": {k: quantiles(v) for k, v in p.values.items() if len(v)},
            **{k: v for k, v in scalars(p) if k not in ("note", "skipped")},
            "skipped": dict(p.log.skipped), "notes": p.notes}
