"""`bench report RUN... --out report.html [--markdown]`: one self-contained file with plots.

Sections (each only when its data is present in the runs given):
- summary table of the runs; latency CDFs per run (TTFT, TPOT, E2E from the raw samples);
- throughput against latency across load points (Pareto), one line per group and treatment;
- treatment effects: run.json `treatment_effects` rows as stored, else computed here: each run
  whose run.json or config names a `treatment` against the baseline run (no treatment) of the
  same group and load point, ratio with a 95% bootstrap CI (stats module);
- token inflation: run.json `inflation` (a list of row dicts, or a dict of rows or values);
- task-latency breakdown: summary keys `task_<part>_ms_mean` (e.g. model, tools, waiting) as
  stacked bars, and every summary key starting with `task_`/`tasks_` or containing `_per_task_`;
- token-usage profile (`bench profile LOGS --report out.html`): the profile table, its scalars
  (prefix share, fan-out, inflation, rows not used) and histograms of the main distributions.
"""
from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics import core as metrics
from bench.analysis import stats
from bench.results import store
from bench.analysis.compare import markdown_table

SUMMARY_KEYS = ("requests", "error_rate", "request_s", "output_tok_s", "ttft_ms_p50", "ttft_ms_p99",
                "tpot_ms_p50", "e2e_ms_p50", "e2e_ms_p99", "task_latency_ms_p50", "tasks_s")
EFFECT_KEYS = ("ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50", "output_tok_s", "task_latency_ms_p50", "tasks_s")
TASK_PART = re.compile(r"^task_(?!latency)(?P<part>\w+?)_ms_mean$")


@dataclass
class Section:
    title: str
    rows: tuple[list[str], list[list[str]]] | None = None     # (header, rows)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    note: str = ""


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _name(run: store.Run) -> str:
    t = store.treatment_name(run.meta)
    label = f"{run.meta.get('name')} {run.meta.get('label') or ''}{' [' + t + ']' if t else ''}"
    return f"{label} #{run.run_id[-4:]}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def summary_section(runs: list[store.Run]) -> Section:
    keys = [k for k in SUMMARY_KEYS if any(k in r.summary for r in runs)]
    rows = [[_name(r), r.run_id, r.meta.get("status", "?"), store.backend_version(r.meta) or "-",
             (r.meta["env"].get("git_sha") or "")[:8], *[_fmt(r.summary.get(k)) for k in keys]] for r in runs]
    return Section("Runs", (["run", "run_id", "status", "backend", "commit", *keys], rows))


def cdf_section(runs: list[store.Run]) -> Section:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, fn) in zip(axes, [("ttft_ms", metrics.ttft_ms), ("tpot_ms", metrics.tpot_ms),
                                    ("e2e_ms", metrics.e2e_ms)]):
        for r in runs:
            v = np.sort([x for s in r.samples() if s.ok and s.token_ns for x in [fn(s)] if x is not None])
            if len(v):
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=_name(r))
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} (log scale)")
        ax.set_ylabel("fraction of requests <= x")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("latency CDFs per run (completed requests, warm-up excluded)", fontsize=10)
    return Section("Latency CDFs", images=[("latency_cdf.png", _png(fig))])


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both higher throughput and lower latency."""
    return [i for i, (x, y) in enumerate(points)
            if not any(x2 >= x and y2 <= y and (x2, y2) != (x, y) for x2, y2 in points)]


def pareto_section(runs: list[store.Run]) -> Section | None:
    lines: dict[str, list[store.Run]] = {}
    for r in runs:
        if store.load_point(r.meta["config"]) is not None and "output_tok_s" in r.summary:
            key = f"{r.meta.get('name')} {r.meta['config'].get('backend', {}).get('name')}" + \
                  (f" [{store.treatment_name(r.meta)}]" if store.treatment_name(r.meta) else "")
            lines.setdefault(store.keys(r.meta)["group"] + key, []).append(r)
    if not any(len({store.load_point(r.meta["config"]) for r in g}) > 1 for g in lines.values()):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    allpts = []
    for ax, lat in zip(axes, ("e2e_ms_p50", "ttft_ms_p99")):
        for g in lines.values():
            g = sorted(g, key=lambda r: store.load_point(r.meta["config"]))
            xs, ys = [r.summary["output_tok_s"] for r in g], [r.summary.get(lat, np.nan) for r in g]
            ax.plot(xs, ys, "o-", label=g[0].meta.get("name") + (f" [{store.treatment_name(g[0].meta)}]"
                                                                  if store.treatment_name(g[0].meta) else ""))
            for r, x, y in zip(g, xs, ys):
                ax.annotate(f"{store.load_point(r.meta['config']):g}", (x, y), fontsize=7,
                            textcoords="offset points", xytext=(3, 3))
            allpts += list(zip(xs, ys)) if lat == "e2e_ms_p50" else []
        ax.set_xlabel("output tok/s (higher is better)")
        ax.set_ylabel(f"{lat} (lower is better)")
        ax.grid(alpha=0.3)
    front = sorted((allpts[i] for i in pareto_front(allpts)))
    axes[0].plot(*zip(*front), "--", color="grey", label="Pareto front")
    axes[0].legend(fontsize=7)
    fig.suptitle("throughput against latency across load points (labels: concurrency or rate)", fontsize=10)
    return Section("Throughput against latency (Pareto)", images=[("pareto.png", _png(fig))])


def _effect_rows(runs: list[store.Run]) -> list[dict[str, Any]]:
    stored = [dict(row, run=r.run_id) for r in runs for row in (r.meta.get("treatment_effects") or [])
              if isinstance(row, dict)]
    if stored:
        return stored
    base = {(store.keys(r.meta)["group"], store.load_point(r.meta["config"])): r
            for r in runs if store.treatment_name(r.meta) is None}
    rows = []
    for r in runs:
        t, b = store.treatment_name(r.meta), base.get((store.keys(r.meta)["group"], store.load_point(r.meta["config"])))
        if t is None or b is None:
            continue
        sa, sb = b.samples(), r.samples()
        for key in EFFECT_KEYS:
            c = stats.compare_key(key, sa, sb)
            if c is not None and c.ci_low_pct is not None:
                rows.append({"treatment": t, "load": store.load_point(r.meta["config"]), "metric": key,
                             "ratio": 1 + c.change_pct / 100, "ci_low": 1 + c.ci_low_pct / 100,
                             "ci_high": 1 + c.ci_high_pct / 100, "verdict": c.verdict})
    return rows


def effects_section(runs: list[store.Run]) -> Section | None:
    rows = _effect_rows(runs)
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.2))
    labels = [f"{r.get('treatment', '?')} @{_fmt(r.get('load'))} {r.get('metric', '?')}" for r in rows]
    y = np.arange(len(rows))
    ratio = np.array([float(r.get("ratio", np.nan)) for r in rows])
    lo = np.array([float(r.get("ci_low", r.get("ratio", np.nan))) for r in rows])
    hi = np.array([float(r.get("ci_high", r.get("ratio", np.nan))) for r in rows])
    ax.errorbar(ratio, y, xerr=[ratio - lo, hi - ratio], fmt="o", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("treatment / baseline (95% CI)")
    header = ["treatment", "load", "metric", "ratio", "95% CI", "verdict"]
    table = [[str(r.get("treatment", "?")), _fmt(r.get("load")), str(r.get("metric", "?")), _fmt(r.get("ratio")),
              f"[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]", str(r.get("verdict", "-"))] for r in rows]
    return Section("Treatment effects", (header, table), [("effects.png", _png(fig))])


def _table_of(data: Any) -> tuple[list[str], list[list[str]]] | None:
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        cols = list(dict.fromkeys(k for row in data for k in row))
        return cols, [[_fmt(row.get(c)) for c in cols] for row in data]
    if isinstance(data, dict) and data:
        if all(isinstance(v, dict) for v in data.values()):
            cols = list(dict.fromkeys(k for v in data.values() for k in v))
            return ["", *cols], [[str(k), *[_fmt(v.get(c)) for c in cols]] for k, v in data.items()]
        return ["key", "value"], [[str(k), _fmt(v)] for k, v in data.items()]
    return None


def inflation_section(runs: list[store.Run]) -> Section | None:
    for r in reversed(runs):
        data = r.meta.get("inflation")
        rows = data.get("rows") if isinstance(data, dict) and "rows" in data else data
        # Inflation compares workloads: a suite of one workload (a load sweep of chat, say) has
        # nothing to show.
        kinds = {row.get("workload") for row in rows if isinstance(row, dict)} if isinstance(rows, list) else set()
        table = _table_of(rows) if len(kinds) >= 2 else None
        if table:
            return Section("Token inflation", table, note=f"from {r.run_id}")
    return None


def task_section(runs: list[store.Run]) -> Section | None:
    task_keys = sorted({k for r in runs for k in r.summary
                        if k.startswith(("task_", "tasks_")) or "_per_task_" in k})
    if not task_keys:
        return None
    sec = Section("Tasks", (["metric", *[_name(r) for r in runs]],
                            [[k, *[_fmt(r.summary.get(k)) for r in runs]] for k in task_keys]))
    parts = sorted({m["part"] for k in task_keys if (m := TASK_PART.match(k))})
    if parts:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(runs) + 1.5))
        left = np.zeros(len(runs))
        for part in parts:
            v = np.array([r.summary.get(f"task_{part}_ms_mean", 0.0) or 0.0 for r in runs])
            ax.barh([_name(r) for r in runs], v, left=left, label=part)
            left += v
        ax.set_xlabel("mean time per task (ms)")
        ax.legend(fontsize=8)
        ax.set_title("task-latency breakdown", fontsize=10)
        sec.images.append(("task_breakdown.png", _png(fig)))
    return sec


def build(runs: list[store.Run]) -> list[Section]:
    makers = (summary_section, cdf_section, pareto_section, effects_section, inflation_section, task_section)
    return [s for s in (m(runs) for m in makers) if s is not None]


def to_html(sections: list[Section], title: str) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
           "body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;font-size:13px}"
           "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}"
           "img{max-width:100%}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.note:
            out.append(f"<p>{html.escape(s.note)}</p>")
        if s.rows:
            head, rows = s.rows
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
            out.append("</table>")
        for name, png in s.images:
            out.append(f"<p><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>")
    return "\n".join(out + ["</body></html>"])


def to_markdown(sections: list[Section], title: str, files_dir: Path) -> str:
    """Tables inline; images written beside the file (PR comments do not show data: URIs)."""
    out = [f"# {title}"]
    for s in sections:
        out.append(f"\n## {s.title}\n")
        if s.note:
            out.append(s.note + "\n")
        if s.rows:
            out.append(markdown_table(*s.rows))
        for name, png in s.images:
            files_dir.mkdir(parents=True, exist_ok=True)
            (files_dir / name).write_bytes(png)
            out.append(f"\n![{name}]({files_dir.name}/{name})")
    return "\n".join(out) + "\n"


def main(refs: list[str], out: str, markdown: bool = False, results_dir: str = "results") -> int:
    runs = []
    for ref in refs:
        p = Path(ref)
        runs += store.find_runs([p]) if p.is_dir() and not (p / "run.json").exists() else [store.resolve(ref, results_dir)]
    sections = build(runs)
    title = f"bench report: {len(runs)} run(s)"
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if markdown:
        path.write_text(to_markdown(sections, title, path.with_name(path.stem + "_files")))
    else:
        path.write_text(to_html(sections, title))
    print(f"report: {path} ({len(sections)} sections: {', '.join(s.title for s in sections)})")
    return 0
