"""The trend: each metric along a series of comparable runs (bench.analysis.trend: same config on
the same hardware, in commit order), each run with its 95% bootstrap interval, and the change
points where the series stepped, when bench.analysis.changepoints is there to find them."""
from __future__ import annotations

from typing import Any

from bench.analysis import trend
from bench.analysis.report import labels
from bench.analysis.report.page import Section
from bench.analysis.report.runs import figure, fmt, two_lines
from bench.results import store

MAX_SERIES = 3
MAX_RUNS = 40            # the newest of a long series; bootstrap intervals cost per run
CP_FIELDS = ("before", "after", "change_pct", "direction", "verdict", "p_value", "probability")


def _index(cp: Any) -> int | None:
    """A change point as the index of the first run after the step (an int, or .index / ["index"])."""
    if isinstance(cp, int):
        return cp
    idx = cp.get("index") if isinstance(cp, dict) else getattr(cp, "index", None)
    return idx if isinstance(idx, int) else None


def _describe(cp: Any) -> str:
    get = cp.get if isinstance(cp, dict) else (lambda k: getattr(cp, k, None))
    return ", ".join(f"{k} {fmt(get(k))}" for k in CP_FIELDS if get(k) is not None)


def change_points(values: list[float]) -> list[tuple[int, str]] | None:
    """(index, description) of each change point, or None when this build cannot detect them.

    bench.analysis.changepoints comes from another part of the project; the report works
    without it (plots the series only), hence the guarded import."""
    try:
        from bench.analysis import changepoints
    except ImportError:
        return None
    detect = getattr(changepoints, "detect", None)
    if detect is None:
        return None
    try:
        found = detect(values)
    except (TypeError, ValueError):      # a signature this report does not know: series only
        return None
    return [(i, _describe(cp)) for cp in found or [] if (i := _index(cp)) is not None and 0 < i < len(values)]


def series_figures(runs: list[store.Run], names: dict[str, str], metrics: tuple[str, ...]) -> tuple[list, bool]:
    import plotly.graph_objects as go

    df = trend.table(runs, metrics)
    figs, detected = [], False
    x = list(range(len(runs)))
    ticks = [f"{i}:{sha or '-'}" for i, sha in zip(x, df["git_sha"])]
    for key in (k for k in metrics if df[k].notna().any()):
        y, lo, hi = df[key].astype(float), df[f"{key}_lo"].astype(float), df[f"{key}_hi"].astype(float)
        fig = figure(key, "run (oldest -> newest: index:commit)", key, showlegend=False)
        fig.update_xaxes(tickvals=x, ticktext=ticks, tickangle=-45, tickfont={"size": 9})
        hov = [labels.hover(r, names.get(r.run_id, r.run_id), {key: v, "95% CI": f"[{fmt(a)}, {fmt(b)}]"})
               for r, v, a, b in zip(runs, y, lo, hi)]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line={"color": "#1f77b4"},
                                 error_y={"type": "data", "symmetric": False, "array": (hi - y).fillna(0),
                                          "arrayminus": (y - lo).fillna(0), "thickness": 1},
                                 hovertext=hov, hovertemplate="%{hovertext}<extra></extra>"))
        cps = change_points([float(v) for v in y.ffill().bfill()])
        detected |= cps is not None
        for i, text in cps or []:
            fig.add_vline(x=i - 0.5, line={"color": "#d62728", "dash": "dot", "width": 2},
                          annotation_text="change", annotation_hovertext=text or "change point",
                          annotation_position="top")
        figs.append(fig)
    return figs, detected


def trend_section(runs: list[store.Run], names: dict[str, str],
                  metrics: tuple[str, ...] = trend.DEFAULT_METRICS) -> Section | None:
    all_series = [s for s in trend.series(runs) if len(s) >= 2][:MAX_SERIES]
    if not all_series:
        return None
    figs, detected, heads = [], False, []
    for s in all_series:
        s = s[-MAX_RUNS:]
        f, d = series_figures(s, names, metrics)
        head = f"{labels.base_label(s[-1].meta)} ({len(s)} runs)"
        for fig in f:
            fig.update_layout(title_text=two_lines(head, fig.layout.title.text))
        figs += f
        detected |= d
        heads.append(head)
    cp = ("red dotted lines: change points found by bench.analysis.changepoints" if detected else
          "change points are not marked: bench.analysis.changepoints is not in this build")
    return Section("Trend", figures=figs, png_name="trend.png", note=(
        f"series: {'; '.join(heads)}. Each point is a run with its 95% bootstrap interval, in commit order; "
        f"{cp}. A step across several runs is a change; one odd run is not."))
