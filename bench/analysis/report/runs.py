"""Sections over runs: the summary table, latency CDFs, throughput against latency across load
points (Pareto), token inflation, and the per-task table and time breakdown."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from bench.analysis.report import labels
from bench.analysis.report.page import Section
from bench.metrics import inflation, views
from bench.metrics.definitions import METRICS
from bench.results import store
from bench.results.run import is_plain, suite_of

TASK_PART = re.compile(r"^task_(?!latency)(?P<part>\w+?)_ms_mean$")
CDF_POINTS = 300           # per line: enough for the shape, small enough for a file of many runs


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def color(i: int) -> str:
    from plotly.colors import qualitative
    return qualitative.Plotly[i % len(qualitative.Plotly)]


def figure(title: str, x_title: str, y_title: str, width: int = 440, height: int = 340, **layout):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title={"text": title, "font": {"size": 13}}, width=width, height=height,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, template="plotly_white",
                      legend={"font": {"size": 10}}, hoverlabel={"font": {"size": 11}})
    fig.update_layout(**layout)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def two_lines(head: str, sub: str) -> str:
    """A figure title over a smaller, grey second line."""
    return f"{head}<br><span style='font-size:11px;color:#555'>{sub}</span>"


def summary_section(runs: list[store.Run], names: dict[str, str]) -> Section:
    keys = [k for k in views.REPORT_RUNS if any(k in r.summary for r in runs)]
    rows = [[names[r.run_id], r.run_id, r.meta.get("status", "?"), store.backend_version(r.meta) or "-",
             (r.meta["env"].get("git_sha") or "")[:8], *[fmt(r.summary.get(k)) for k in keys]] for r in runs]
    return Section("Runs", (["run", "run_id", "status", "backend", "commit", *keys], rows))


def _thin(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frac = np.arange(1, len(v) + 1) / len(v)
    if len(v) <= CDF_POINTS:
        return v, frac
    idx = np.unique(np.linspace(0, len(v) - 1, CDF_POINTS).astype(int))
    return v[idx], frac[idx]


def cdf_section(runs: list[store.Run], names: dict[str, str]) -> Section:
    import plotly.graph_objects as go

    figs = []
    samples = {r.run_id: [s for s in r.samples() if s.ok and s.token_ns] for r in runs}
    for key in views.REPORT_CDFS:
        fn = METRICS[key].per_sample
        fig = figure(f"{key} CDF", f"{key} (log scale)", "fraction of requests <= x", xaxis_type="log",
                     showlegend=key == "e2e_ms")
        for i, r in enumerate(runs):
            v = np.sort([x for s in samples[r.run_id] for x in [fn(s)] if x is not None])
            if len(v):
                x, y = _thin(v)
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"shape": "hv", "color": color(i)},
                                         name=names[r.run_id], legendgroup=r.run_id,
                                         hovertemplate=f"<b>{names[r.run_id]}</b><br>{r.run_id}<br>{key} "
                                                       "%{x:.4g}: %{y:.1%} of requests<extra></extra>"))
        figs.append(fig)
    if len(runs) > 4:    # long labels beside the plot would squeeze it: list them under it instead
        figs[-1].update_layout(height=360 + 24 * len(runs), legend={"orientation": "h", "y": -0.25,
                                                                    "yanchor": "top", "font": {"size": 9}},
                               margin={"b": 40 + 24 * len(runs)})
    else:
        figs[-1].update_layout(width=620, legend={"font": {"size": 9}})
    return Section("Latency CDFs", figures=figs, png_name="latency_cdf.png",
                   note="completed requests, warm-up excluded; "
                   "click a legend entry to hide a run, double-click to show only it")


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both higher throughput and lower latency."""
    return [i for i, (x, y) in enumerate(points)
            if not any(x2 >= x and y2 <= y and (x2, y2) != (x, y) for x2, y2 in points)]


def sweep_lines(runs: list[store.Run], key: str) -> list[list[store.Run]]:
    """Runs with a load point and `key`, one line per comparable group, config and treatment."""
    lines: dict[tuple, list[store.Run]] = {}
    for r in runs:
        if store.load_point(r.meta) is not None and key in r.summary:
            cfg = {k: v for k, v in labels.flat(r.meta["config"]).items()
                   if not k.startswith(labels.IGNORED + labels.LOAD_KEYS)}
            ident = (store.keys(r.meta)["group"], repr(sorted(cfg.items())), store.treatment_name(r.meta))
            lines.setdefault(ident, []).append(r)
    return [sorted(g, key=lambda r: store.load_point(r.meta)) for g in lines.values()]


def pareto_section(runs: list[store.Run], names: dict[str, str]) -> Section | None:
    import plotly.graph_objects as go

    lines = sweep_lines(runs, "output_tok_s")
    if not any(len({store.load_point(r.meta) for r in g}) > 1 for g in lines):
        return None
    titles = labels.line_labels(lines)
    figs, allpts = [], []
    for lat in ("e2e_ms_p50", "ttft_ms_p99"):
        fig = figure(f"output tok/s against {lat}", "output tok/s (higher is better)",
                     f"{lat} (lower is better)", width=620, height=400)
        for i, (g, title) in enumerate(zip(lines, titles)):
            xs, ys = [r.summary["output_tok_s"] for r in g], [r.summary.get(lat, np.nan) for r in g]
            text = [fmt(store.load_point(r.meta)) for r in g]
            hov = [labels.hover(r, names[r.run_id], {"output_tok_s": x, lat: y}) for r, x, y in zip(g, xs, ys)]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers+text", text=text, textposition="top right",
                                     name=title, line={"color": color(i)}, hovertext=hov,
                                     hovertemplate="%{hovertext}<extra></extra>"))
            if lat == "e2e_ms_p50":
                allpts += list(zip(xs, ys))
        figs.append(fig)
    front = sorted(allpts[i] for i in pareto_front(allpts))
    figs[0].add_trace(go.Scatter(x=[p[0] for p in front], y=[p[1] for p in front], mode="lines",
                                 line={"dash": "dash", "color": "grey"}, name="Pareto front", hoverinfo="skip"))
    return Section("Throughput against latency (Pareto)", figures=figs, png_name="pareto.png",
                   note="one line per configuration across load points; point labels: concurrency or rate")


def _table_of(data: Any) -> tuple[list[str], list[list[str]]] | None:
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        cols = list(dict.fromkeys(k for row in data for k in row))
        return cols, [[fmt(row.get(c)) for c in cols] for row in data]
    if isinstance(data, dict) and data:
        if all(isinstance(v, dict) for v in data.values()):
            cols = list(dict.fromkeys(k for v in data.values() for k in v))
            return ["", *cols], [[str(k), *[fmt(v.get(c)) for c in cols]] for k, v in data.items()]
        return ["key", "value"], [[str(k), fmt(v)] for k, v in data.items()]
    return None


def inflation_section(runs: list[store.Run], names: dict[str, str] | None = None) -> Section | None:
    """The newest suite's token inflation, from its plain runs' summaries."""
    suites: dict[str, list[store.Run]] = {}
    for r in runs:
        if is_plain(r):
            suites.setdefault(suite_of(r), []).append(r)
    for suite, members in reversed(list(suites.items())):
        rows = inflation.table(inflation.of_runs(members))["rows"]
        # Inflation compares workloads: a suite of one workload (a load sweep of chat, say) has
        # nothing to show.
        table = _table_of(rows) if len({row["workload"] for row in rows}) >= 2 else None
        if table:
            return Section("Token inflation", table, note=f"tokens per unit (turn, query, task) of suite {suite}")
    return None


def task_section(runs: list[store.Run], names: dict[str, str] | None = None) -> Section | None:
    import plotly.graph_objects as go

    names = names or labels.run_labels(runs)
    task_keys = sorted({k for r in runs for k in r.summary
                        if k.startswith(("task_", "tasks_")) or "_per_task_" in k})
    if not task_keys:
        return None
    with_tasks = [r for r in runs if any(k in r.summary for k in task_keys)]
    sec = Section("Tasks", (["metric", *[names[r.run_id] for r in with_tasks]],
                            [[k, *[fmt(r.summary.get(k)) for r in with_tasks]] for k in task_keys]))
    parts = sorted({m["part"] for k in task_keys if (m := TASK_PART.match(k))})
    if parts:
        cats = [names[r.run_id] for r in with_tasks]
        fig = figure("mean time per task, by where it went", "ms per task (mean)", "", width=900, barmode="overlay",
                     height=int(26 * len(cats) + 160), yaxis={"type": "category", "categoryarray": cats,
                                                             "autorange": "reversed"},
                     legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
        left = np.zeros(len(with_tasks))
        for i, part in enumerate(parts):
            v = np.array([r.summary.get(f"task_{part}_ms_mean", 0.0) or 0.0 for r in with_tasks])
            fig.add_trace(go.Bar(x=v, y=cats, base=left.copy(), orientation="h", name=part,
                                 marker={"color": color(i)}, hovertemplate="%{hovertext}<extra></extra>",
                                 hovertext=[labels.hover(r, names[r.run_id], {f"{part} ms per task": x})
                                            for r, x in zip(with_tasks, v)]))
            left += v
        sec.figures.append(fig)
        sec.png_name = "task_breakdown.png"
    return sec
