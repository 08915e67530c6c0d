"""Treatment effects as a forest plot: per metric, each treatment's ratio to its baseline with its
95% interval, coloured by verdict, against the line of no effect (ratio 1).

Rows come from the `*.experiment.json` files in the folders given (bench.analysis.experiment
writes them), else from that module's own analysis of the runs given: never a second
implementation of the experiment.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis import experiment, stats
from bench.analysis.report.page import Section
from bench.analysis.report.runs import figure, fmt
from bench.results import store

VERDICT_COLOR = {"improvement": "#2ca02c", "regression": "#d62728"}
NEUTRAL = "#7f7f7f"


def _rows(exps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e, run=(arm.get("runs") or [None])[0], where=f"{exp.get('name')} {exp.get('backend')}")
            for exp in exps for arm in exp.get("arms") or [] for e in arm.get("effects") or []]


def _from_files(files: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for f in files:
        try:
            rows += _rows(json.loads(f.read_text()).get("experiments") or [])
        except (OSError, ValueError, AttributeError):
            continue
    return rows


def effect_rows(runs: list[store.Run], files: list[Path] = ()) -> list[dict[str, Any]]:
    return _from_files(list(files)) or _rows(experiment.analyze(runs))


def _arm(row: dict[str, Any], by_id: dict[str, store.Run], several: bool) -> str:
    """`treatment @load`, and where rows come from several experiments, which one."""
    arm = f"{row.get('treatment', '?')} @{fmt(row.get('load'))}"
    run = by_id.get(row.get("run"))
    backend = run and (run.meta["config"].get("backend") or {}).get("name")
    where = row.get("where") or (run and f"{run.meta.get('name')} {backend}")
    return f"{where} · {arm}" if several and where else arm


def _f(x: Any) -> float:
    return float(x) if x is not None else np.nan


def effects_section(runs: list[store.Run], files: list[Path] = ()) -> Section | None:
    import plotly.graph_objects as go

    rows = effect_rows(runs, files)
    if not rows:
        return None
    by_id = {r.run_id: r for r in runs}
    several = len({(by_id[r["run"]].meta.get("name"), store.keys(by_id[r["run"]].meta)["group"])
                   if r.get("run") in by_id else r.get("where") for r in rows}) > 1
    arms = list(dict.fromkeys(_arm(r, by_id, several) for r in rows))
    figs = []
    for metric in dict.fromkeys(r.get("metric", "?") for r in rows):
        mine = [r for r in rows if r.get("metric") == metric]
        better = stats.higher_is_better(metric)
        hint = "" if better is None else (" (> 1 is better)" if better else " (< 1 is better)")
        fig = figure(metric, f"treatment / baseline{hint}", "", width=440, height=int(24 * len(arms) + 130),
                     showlegend=False, xaxis_type="log",
                     yaxis={"type": "category", "categoryarray": arms, "autorange": "reversed"})
        ratio = np.array([_f(r.get("ratio")) for r in mine])
        lo = np.array([_f(r.get("ci_low", r.get("ratio"))) for r in mine])
        hi = np.array([_f(r.get("ci_high", r.get("ratio"))) for r in mine])
        colors = [VERDICT_COLOR.get(str(r.get("verdict")), NEUTRAL) for r in mine]
        hov = [f"<b>{_arm(r, by_id, True)}</b><br>{metric}: x{fmt(_f(r.get('ratio')))} "
               f"[{fmt(_f(r.get('ci_low')))}, {fmt(_f(r.get('ci_high')))}] -> {r.get('verdict', '-')}"
               f"<br>baseline {fmt(r.get('baseline'))} · treatment {fmt(r.get('value'))}"
               f"<br>run {r.get('run') or '-'}" for r in mine]
        fig.add_trace(go.Scatter(
            x=ratio, y=[_arm(r, by_id, several) for r in mine], mode="markers",
            marker={"color": colors, "size": 9},
            error_x={"type": "data", "symmetric": False, "array": np.nan_to_num(hi - ratio),
                     "arrayminus": np.nan_to_num(ratio - lo), "color": "#555", "thickness": 1.5},
            hovertext=hov, hovertemplate="%{hovertext}<extra></extra>"))
        fig.add_vline(x=1.0, line={"dash": "dash", "color": "grey"})
        figs.append(fig)
    header = ["treatment", "load", "metric", "ratio", "interval", "verdict"]
    table = [[str(r.get("treatment", "?")), fmt(r.get("load")), str(r.get("metric", "?")), fmt(r.get("ratio")),
              f"[{fmt(r.get('ci_low'))}, {fmt(r.get('ci_high'))}]", str(r.get("verdict", "-"))] for r in rows]
    return Section("Treatment effects", (header, table), figures=figs, png_name="effects.png",
                   note="treatment / baseline at the same load point, 95% bootstrap interval (log scale); "
                        "green: improvement, red: regression, grey: no verdict (the interval reaches "
                        "within the minimum effect of 1)")
