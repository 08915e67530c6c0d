"""The report's page: sections of tables, interactive figures and PNGs, written as one HTML file
(plotly.js inlined once, so it opens offline) or as Markdown with PNGs beside it."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis.compare import markdown_table

# No plotly logo or "edit in Chart Studio" link: both point to the network.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:1400px;color:#222}"
         "table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
         "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}th{background:#f3f3f3}"
         ".tbl{overflow-x:auto;max-width:100%}"
         "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
         ".figs{display:flex;flex-wrap:wrap;gap:8px}.note{color:#555;font-size:14px;max-width:1100px}"
         "nav a{margin-right:1em}h2{border-bottom:1px solid #ddd;padding-top:.6em}")


@dataclass
class Section:
    title: str
    rows: tuple[list[str], list[list[str]]] | None = None     # (header, rows)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    note: str = ""
    figures: list[Any] = field(default_factory=list)          # plotly Figures, in order
    png_name: str = ""                                        # Markdown: the figures' PNG file


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _table_html(head: list[str], rows: list[list[str]]) -> str:
    out = ["<div class='tbl'><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</table></div>"])


def to_html(sections: list[Section], title: str, subtitle: str = "") -> str:
    figs = any(s.figures for s in sections)
    head = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>"]
    if figs:
        from plotly.offline import get_plotlyjs
        head.append(f"<script type='text/javascript'>{get_plotlyjs()}</script>")
    out = head + ["</head><body>", f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        out.append(f"<p class='note'>{html.escape(subtitle)}</p>")
    if len(sections) > 2:
        out.append("<nav>" + "".join(f"<a href='#{_anchor(s.title)}'>{html.escape(s.title)}</a>"
                                     for s in sections) + "</nav>")
    for s in sections:
        out.append(f"<h2 id='{_anchor(s.title)}'>{html.escape(s.title)}</h2>")
        if s.note:
            out.append(f"<p class='note'>{html.escape(s.note)}</p>")
        if s.figures:
            out.append("<div class='figs'>" + "".join(
                f.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG) for f in s.figures)
                + "</div>")
        for name, png in s.images:
            out.append(f"<p><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>")
        if s.rows:
            out.append(_table_html(*s.rows))
    return "\n".join(out + ["</body></html>"])


def to_markdown(sections: list[Section], title: str, files_dir: Path) -> str:
    """Tables inline; figures as PNGs beside the file (PR comments show neither scripts nor data: URIs)."""
    from bench.analysis.report.static import figures_png

    out = [f"# {title}"]
    for s in sections:
        out.append(f"\n## {s.title}\n")
        if s.note:
            out.append(s.note + "\n")
        pngs = list(s.images) + ([(s.png_name or f"{_anchor(s.title)}.png", figures_png(s.figures))]
                                 if s.figures else [])
        for name, png in pngs:
            files_dir.mkdir(parents=True, exist_ok=True)
            (files_dir / name).write_bytes(png)
            out.append(f"\n![{name}]({files_dir.name}/{name})")
        if s.rows:
            out.append("\n" + markdown_table(*s.rows))
    return "\n".join(out) + "\n"
