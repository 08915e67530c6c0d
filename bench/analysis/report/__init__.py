"""`bench report RUN... --out report.html [--markdown]`: one self-contained HTML file of
interactive plots (plotly, its script inlined: it opens offline), or Markdown with PNGs beside it.

Sections, each only when its data is among the runs (and folders) given:
- Runs: the summary table, every run under a label no other run has (labels.py); Not run: runs
  skipped on this machine or whose engine did not start, with the reason (not_run.py);
- Latency CDFs per run; throughput against latency across load points (runs.py);
- Capacity at SLO: curves of each `*.capacity.json` search (capacity.py);
- Treatment effects: forest plot of ratio and 95% interval per metric and arm (effects.py);
- Task timeline: LLM calls, tool waits, sub-agents and compactions as swim lanes (timeline.py);
- Token inflation and per-task metrics (runs.py); the trend with change points (trends.py).
Hovering any point shows its run id, label and key config. docs/report.md is the user's guide.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from bench.analysis import experiment
from bench.analysis.report.capacity import capacity_section, find_files
from bench.analysis.report.effects import effects_section
from bench.analysis.report.labels import run_labels
from bench.analysis.report.mpl import _plt, _png
from bench.analysis.report.not_run import not_run_section
from bench.analysis.report.page import Section, to_html, to_markdown
from bench.analysis.report.runs import (cdf_section, inflation_section, pareto_front, pareto_section,
                                        summary_section, task_section)
from bench.analysis.report.timeline import timeline_section
from bench.analysis.report.trends import trend_section
from bench.results import store
from bench.results.run import not_run_reason

__all__ = ["Section", "build", "main", "to_html", "to_markdown", "_plt", "_png", "pareto_front",
           "inflation_section", "task_section", "effects_section"]


def build(runs: list[store.Run], capacity_files: list[Path] = (), experiment_files: list[Path] = ()) -> list[Section]:
    everything, runs = runs, [r for r in runs if not_run_reason(r.meta) is None]   # the rest has no samples
    if not runs:
        return [s for s in [not_run_section(everything)] if s is not None]
    names = run_labels(runs)
    sections = [summary_section(runs, names), not_run_section(everything), cdf_section(runs, names),
                pareto_section(runs, names),
                capacity_section(runs, names, list(capacity_files)), effects_section(runs, list(experiment_files)),
                timeline_section(runs, names), inflation_section(runs, names), task_section(runs, names),
                trend_section(runs, names)]
    return [s for s in sections if s is not None]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run folders, run_ids or results folders")
    p.add_argument("--out", required=True)
    p.add_argument("--markdown", action="store_true", help="Markdown with PNGs beside it")
    p.add_argument("--results-dir", default="results")


def main(args: argparse.Namespace) -> int:
    return write(args.runs, args.out, args.markdown, args.results_dir)


def write(refs: list[str], out: str, markdown: bool = False, results_dir: str = "results") -> int:
    runs, paths = [], []
    for ref in refs:
        p = Path(ref)
        if p.is_dir() and not (p / "run.json").exists():
            runs += store.find_runs([p])
            paths.append(p)
        else:
            run = store.resolve(ref, results_dir)
            runs.append(run)
            paths.append(run.dir)
    runs = list({r.dir.resolve(): r for r in runs}.values())
    ids = {r.run_id for r in runs}
    exp_files = [f for p in paths if p.is_dir() and not (p / "run.json").exists()
                 for f in sorted(p.rglob("*.experiment.json"))]
    # beside runs given one by one: the experiment files that name one of them
    for folder in dict.fromkeys(p.parent for p in paths if (p / "run.json").exists()):
        exp_files += [f for f in sorted(folder.glob("*.experiment.json"))
                      if f not in exp_files and ids & experiment.run_ids(f)]
    sections = build(runs, find_files(paths, ids), exp_files)
    title = f"bench report: {len(runs)} run(s)"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if markdown:
        path.write_text(to_markdown(sections, title, path.with_name(path.stem + "_files")))
    else:
        path.write_text(to_html(sections, title, f"written {stamp} from {', '.join(refs)}"))
    print(f"report: {path} ({len(sections)} sections: {', '.join(s.title for s in sections)})")
    return 0
