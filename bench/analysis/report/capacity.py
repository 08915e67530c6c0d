"""Capacity curves: each probed load of a capacity search against its SLO metrics (at the SLO's
percentile) with the SLO line, the fraction of units meeting the SLO against the target, and the
throughput, with the confirmed capacity and the search's bracket marked.

Source: `*.capacity.json` (written by the search: {"search", "name", "workload", "backend",
"model", "over", "unit", "slo": {<metric>: <limit>, ..., "percentile"}, "capacity", "bracket_low",
"bracket_high", "stopped", "probes": [{"run_id", "load", "slo_met", "attainment", "output_tok_s",
...}]}, read through bench.results.capacity_file, which upgrades older files). Probe runs
without a file (a search cut short before writing it) are drawn from their run.json
`capacity_probe`, without a capacity.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.analysis.report import labels
from bench.analysis.report.page import Section
from bench.analysis.report.runs import figure, fmt, two_lines
from bench.results import capacity_file, store

MET, MISSED = "#2ca02c", "#d62728"


def find_files(paths: list[Path], run_ids: set[str]) -> list[Path]:
    """Capacity files in the folders given, and beside the runs given when one of its probes is
    among them (a report on one search's runs finds that search's file)."""
    found: dict[Path, None] = {}
    for p in paths:
        if p.is_dir():
            found |= dict.fromkeys(sorted(p.rglob("*.capacity.json")))
    out = list(found)
    for folder in {r.parent for r in paths if (r / "run.json").exists()}:
        for f in sorted(folder.glob("*.capacity.json")):
            if f not in found and run_ids & {p.get("run_id") for p in read(f).get("probes") or []}:
                out.append(f)
    return out


def read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return capacity_file.upgrade(doc) if isinstance(doc, dict) else {}


def from_probe_runs(runs: list[store.Run], known: set[str]) -> list[dict[str, Any]]:
    """Searches known only from their probe runs' `capacity_probe` (no capacity file)."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        cp = r.meta.get("capacity_probe")
        if not isinstance(cp, dict) or cp.get("search") in known:
            continue
        doc = out.setdefault(str(cp.get("search")), {
            "search": cp.get("search"), "name": r.meta.get("name"), "over": cp.get("over"),
            "workload": (r.meta["config"].get("workload") or {}).get("kind"),
            "backend": (r.meta["config"].get("backend") or {}).get("name"), "model": r.meta["config"].get("model"),
            "slo": r.meta["config"].get("slo") or {}, "capacity": None, "stopped": "no capacity file", "probes": []})
        doc["probes"].append({"run_id": r.run_id, "load": cp.get("load"), "slo_met": cp.get("slo_met"),
                              "attainment": cp.get("attainment")})
    return list(out.values())


def slo_metrics(slo: dict[str, Any]) -> list[tuple[str, float]]:
    """(metric, limit) of each SLO with a limit: ttft_ms, tpot_ms, task_latency_ms, ..."""
    return [(k, float(v)) for k, v in (slo or {}).items()
            if k != "percentile" and isinstance(v, (int, float)) and not isinstance(v, bool)]


def _value(probe: dict[str, Any], key: str, run: store.Run | None) -> float | None:
    v = probe.get(key)
    if v is None and run is not None:
        v = run.summary.get(key)
    return float(v) if isinstance(v, (int, float)) else None


def _mark(fig, doc: dict[str, Any]) -> None:
    cap, lo, hi = doc.get("capacity"), doc.get("bracket_low"), doc.get("bracket_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo:
        fig.add_vrect(x0=lo, x1=hi, fillcolor="#1f77b4", opacity=0.12, line_width=0)
    if isinstance(cap, (int, float)):
        fig.add_vline(x=cap, line={"color": "#1f77b4", "width": 2},
                      annotation_text=f"capacity {fmt(float(cap))}", annotation_position="top left")


def curves(doc: dict[str, Any], by_id: dict[str, store.Run], names: dict[str, str]) -> list:
    import plotly.graph_objects as go

    probes = sorted((p for p in doc.get("probes") or [] if isinstance(p.get("load"), (int, float))),
                    key=lambda p: p["load"])
    if not probes:
        return []
    slo = doc.get("slo") or {}
    pct = slo.get("percentile", 90)
    unit = doc.get("unit") or doc.get("over") or "load"
    order = {id(p): i + 1 for i, p in enumerate(doc.get("probes") or [])}
    x = [p["load"] for p in probes]
    colors = [MET if p.get("slo_met") else MISSED for p in probes]

    def hov(p, extra):
        run = by_id.get(p.get("run_id"))
        head = {"probe": f"{order.get(id(p), '?')} of {len(doc.get('probes') or [])}", "load": p["load"],
                "SLO met": p.get("slo_met"), "attainment": p.get("attainment"), **extra}
        if run is not None:
            return labels.hover(run, names.get(run.run_id, run.run_id), head)
        return "<br>".join([str(p.get("run_id"))] + [f"{k}: {fmt(v)}" for k, v in head.items()])

    panels = [(f"{k}_p{pct:g}", f"{k} p{pct:g} (SLO {fmt(limit)})", limit) for k, limit in slo_metrics(slo)]
    panels += [("attainment", f"fraction of units meeting the SLO (target {pct:g}%)", pct / 100),
               ("output_tok_s", "output tok/s", None)]
    figs = []
    for key, title, line in panels:
        y = [_value(p, key, by_id.get(p.get("run_id"))) for p in probes]
        if all(v is None for v in y):
            continue
        head = f"{doc.get('name')} · {doc.get('workload')} · {doc.get('backend')}"
        fig = figure(two_lines(head, title), f"offered load ({unit})", key, showlegend=False)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line={"color": "#999"},
                                 marker={"color": colors, "size": 10, "line": {"width": 1, "color": "white"}},
                                 hovertext=[hov(p, {key: v}) for p, v in zip(probes, y)],
                                 hovertemplate="%{hovertext}<extra></extra>"))
        if line is not None:
            fig.add_hline(y=line, line={"dash": "dash", "color": MISSED},
                          annotation_text="SLO" if key != "attainment" else f"target {pct:g}%",
                          annotation_position="bottom right")
        _mark(fig, doc)
        figs.append(fig)
    return figs


def _row(doc: dict[str, Any]) -> list[str]:
    slo = doc.get("slo") or {}
    pct = slo.get("percentile", 90)
    slos = ", ".join(f"{k} <= {fmt(v)}" for k, v in slo_metrics(slo)) + f" at p{fmt(pct)}"
    ci = f"[{fmt(doc.get('bracket_low'))}, {fmt(doc.get('bracket_high'))}]"
    return [str(doc.get("name")), str(doc.get("workload")), str(doc.get("backend")), str(doc.get("model")),
            slos, fmt(doc.get("capacity")), ci, str(doc.get("unit") or doc.get("over")), str(doc.get("stopped")),
            str(len(doc.get("probes") or []))]


def capacity_section(runs: list[store.Run], names: dict[str, str], files: list[Path]) -> Section | None:
    docs = [d for d in (read(f) for f in files) if d.get("probes")]
    docs += from_probe_runs(runs, {str(d.get("search")) for d in docs})
    if not docs:
        return None
    by_id = {r.run_id: r for r in runs}
    figs = [f for d in docs for f in curves(d, by_id, names)]
    header = ["search", "workload", "backend", "model", "SLO", "capacity", "bracket", "unit", "stopped", "probes"]
    return Section("Capacity at SLO", (header, [_row(d) for d in docs]), figures=figs, png_name="capacity.png", note=(
        "each point is a probed load (a normal run): green met every SLO at the stated percentile, red did "
        "not; dashed red: the SLO limit or attainment target; blue line and band: the confirmed capacity and "
        "the search's bracket [last good, first bad]. Hover a point for its run and config."))
