"""A plotly figure redrawn with matplotlib, for the Markdown report's PNGs.

Why not plotly's own image export: it needs kaleido and a Chrome it downloads, which a fresh
machine without network lacks. The report's figures use a small subset of plotly (scatter lines,
markers and error bars, horizontal bars with a base, lines and bands as layout shapes, log or
categorical axes), and this draws exactly that subset, so every section is written once.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from bench.analysis.report.mpl import _plt, _png

DASH = {"dash": "--", "dot": ":", "dashdot": "-."}


def _list(v: Any) -> list:
    return [] if v is None else list(v)


def _errors(err, n: int):
    if err is None or err.visible is False or err.array is None:
        return None
    plus = np.asarray(err.array, dtype=float)
    minus = np.asarray(err.arrayminus if err.arrayminus is not None else err.array, dtype=float)
    return np.vstack([minus[:n], plus[:n]])


def _color(c: Any, n: int):
    if c is None or isinstance(c, str):
        return c
    c = list(c)
    return c if len(c) == n else None


def _scatter(ax, t, cats: dict[str, int] | None) -> None:
    x, y = _list(t.x), _list(t.y)
    if cats is not None:
        y = [cats[str(v)] for v in y]
    mode = t.mode or "lines+markers"
    y = np.asarray(y, dtype=float)
    style = DASH.get(t.line.dash or "", "-") if "lines" in mode else "none"
    marker = "o" if "markers" in mode else None
    xerr, yerr = _errors(t.error_x, len(x)), _errors(t.error_y, len(y))
    color = t.line.color or (t.marker.color if isinstance(t.marker.color, str) else None)
    label = t.name if t.showlegend is not False and t.name else None
    if t.line.shape == "hv":
        ax.step(x, y, where="post", color=color, label=label, linestyle=style)
    elif xerr is not None or yerr is not None:
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=(marker or "") + ("-" if style == "-" else ""),
                    color=color, capsize=3, label=label)
    else:
        ax.plot(x, y, linestyle=style, marker=marker, color=color, label=label, markersize=4)
    colors = _color(t.marker.color, len(x))
    if marker and isinstance(colors, list):
        ax.scatter(x, y, c=colors, zorder=3, s=20)
    if "text" in mode and t.text is not None:
        for xi, yi, s in zip(x, y, t.text):
            ax.annotate(str(s), (xi, yi), fontsize=7, textcoords="offset points", xytext=(3, 3))


def _bar(ax, t, cats: dict[str, int]) -> None:
    y = [cats[str(v)] for v in _list(t.y)]
    width = np.asarray(_list(t.x), dtype=float)
    base = t.base if t.base is not None else 0
    base = np.asarray(base if np.ndim(base) else [base] * len(y), dtype=float)
    ax.barh(y, width, left=base, color=_color(t.marker.color, len(y)), label=t.name, height=0.7)


def _shape(ax, s) -> None:
    along_y = str(s.yref or "").endswith(("domain", "paper"))
    along_x = str(s.xref or "").endswith(("domain", "paper"))
    color = s.line.color if s.line and s.line.color else "grey"
    if s.type == "rect" and along_y:
        ax.axvspan(s.x0, s.x1, color=s.fillcolor or "grey", alpha=0.15)
    elif s.type == "line" and along_y and s.x0 == s.x1:
        ax.axvline(s.x0, color=color, linestyle=DASH.get(s.line.dash or "", "-"))
    elif s.type == "line" and along_x and s.y0 == s.y1:
        ax.axhline(s.y0, color=color, linestyle=DASH.get(s.line.dash or "", "-"))


def draw(fig, ax) -> None:
    """One plotly figure onto one matplotlib axes."""
    lay = fig.layout
    cats = None
    if lay.yaxis.type == "category" or any(t.type == "bar" for t in fig.data):
        order = _list(lay.yaxis.categoryarray) or list(dict.fromkeys(str(v) for t in fig.data for v in _list(t.y)))
        cats = {str(c): i for i, c in enumerate(order)}
        ax.set_yticks(range(len(order)), [str(c) for c in order], fontsize=7)
    for t in fig.data:
        (_bar if t.type == "bar" else _scatter)(ax, t, cats)
    for s in lay.shapes:
        _shape(ax, s)
    if lay.xaxis.type == "log":
        from matplotlib.ticker import NullFormatter
        from matplotlib.ticker import ScalarFormatter
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())   # 1, 10, 100 rather than 10^0
        ax.xaxis.set_minor_formatter(NullFormatter())     # minor labels overlap on short ranges
    if lay.yaxis.type == "log":
        ax.set_yscale("log")
    if lay.yaxis.autorange == "reversed":
        ax.invert_yaxis()
    ax.set_xlabel(lay.xaxis.title.text or "", fontsize=8)
    ax.set_ylabel(lay.yaxis.title.text or "", fontsize=8)
    ax.set_title(re.sub(r"<[^>]+>", "", (lay.title.text or "").replace("<br>", "\n")), fontsize=9)
    ax.grid(alpha=0.3)
    if lay.showlegend is not False and any(t.name and t.showlegend is not False for t in fig.data):
        ax.legend(fontsize=7, loc="best")


def figures_png(figs: list) -> bytes:
    """A section's figures as one PNG: a grid of up to 3 panels a row, wide figures alone on theirs."""
    plt = _plt()
    cols = 1 if any((f.layout.width or 900) > 700 for f in figs) else min(3, len(figs))
    rows = -(-len(figs) // cols)
    w = max((f.layout.width or 900) for f in figs) / 100 * cols
    h = sum(max((f.layout.height or 400) for f in figs[i * cols:(i + 1) * cols]) for i in range(rows)) / 100
    mfig, axes = plt.subplots(rows, cols, figsize=(w, h), squeeze=False)
    for ax, fig in zip(axes.flat, figs):
        draw(fig, ax)
    for ax in list(axes.flat)[len(figs):]:
        ax.set_visible(False)
    return _png(mfig)
