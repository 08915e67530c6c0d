"""A capacity search's file, `<search id>.capacity.json` (written by bench.run.capacity, the
authority on the search): read back with older files upgraded (`read`, `upgrade`), and in one
line (`describe`): what `bench run` and `bench summary` print of it.

Schema 2 (this one): `capacity` is a confirmed load (a confirmation run of
`search_settings.confirm_s` met the SLO and served >= 95% of its offer), with
`achieved_units_s` beside it; `bracket_low` / `bracket_high` are the search's last good and
first bad loads, `bracket_missing` names a side the search did not find and
`bracket_missing_why` why. Schema 1 (no `schema` key) had an unconfirmed, interpolated
`capacity` and called the bracket `ci_low` / `ci_high`; `upgrade` renames them and marks the
capacity unconfirmed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import registry

SCHEMA = 2


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 file's dict in schema 2's names (a copy; a schema-2 dict as it is, but for
    `bracket_high_missed`, read again from the upper side's probe row: files written before
    2026-12-05 marked an `unsure` upper side, with enough units for a verdict, as missed)."""
    if d.get("schema", 1) >= SCHEMA:
        row = search_row(d.get("probes") or [], d.get("bracket_high"))
        if row is not None and d.get("bracket_high_missed") and not _row_missed(row):
            d = d | {"bracket_high_missed": False}
        return d
    d = dict(d)
    lo, hi = d.pop("ci_low", None), d.pop("ci_high", None)
    good = lo if d.get("capacity") is not None else None
    d |= {"schema": SCHEMA, "bracket_low": good, "bracket_high": hi, "confirmed": False,
          "achieved_units_s": None, "achieved_share": None, "slo_relative": None, "bracket_high_missed": None,
          "bracket_missing": "high" if hi is None and good is not None else "low" if good is None and hi else None,
          "bracket_missing_why": None}
    return d


def read(path: Path | str) -> dict[str, Any]:
    """A capacity file, upgraded to this schema."""
    return upgrade(json.loads(Path(path).read_text()))


def search_row(rows: list[dict[str, Any]], load: float | None) -> dict[str, Any] | None:
    """The last search probe's row at `load` (for the bracket's upper side)."""
    found = [r for r in rows if r.get("role", "search") == "search" and r.get("load") == load]
    return found[-1] if load is not None and found else None


def _row_missed(row: dict[str, Any]) -> bool:
    """A probe row shown to miss (slo.probe_missed as the row records it, or a failed run)."""
    return row.get("verdict") == "missed" or bool(row.get("saturated")) or row.get("status") == "failed"


def span(d: dict[str, Any]) -> tuple[float, float] | None:
    """Where a search's answer lies: from its last load shown to meet to its first shown to miss.
    An upper side only not shown met (`bracket_high_missed: false`: unsure) bounds nothing, so
    the capacity may lie above it. None when the search found neither side."""
    d = upgrade(d)
    lo, hi = d.get("bracket_low"), d.get("bracket_high")
    if lo is None and hi is None:
        return None
    hard = hi is not None and d.get("bracket_high_missed") is not False
    return (lo if lo is not None else 0.0), (hi if hard else float("inf"))


def compare(new: dict[str, Any], old: dict[str, Any]) -> str | None:
    """A search against an earlier one: "higher" or "lower" when their spans are disjoint (each
    holds its search's answer), "within" when they overlap, None when one has none."""
    sn, so = span(new), span(old)
    if sn is None or so is None:
        return None
    return "higher" if sn[0] > so[1] else "lower" if sn[1] < so[0] else "within"


def differ(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    """Two searches differ only when their spans are disjoint; None when one has none."""
    c = compare(a, b)
    return None if c is None else c != "within"


def _slo_text(d: dict[str, Any]) -> str:
    rel = d.get("slo_relative") or {}
    parts = []
    for k, v in d["slo"].items():
        if v is None or k == "percentile":
            continue
        parts.append(f"{k} <= {v:.4g}" + (f" ({rel[k]['unloaded_x']:g}x unloaded)" if k in rel else ""))
    return ", ".join(parts)


def describe(d: dict[str, Any]) -> str:
    """A search file's answer in three lines of at most about 100 columns (bench run and bench
    summary print it): the label and the answer; the SLO; the bracket and how the search ended;
    a fourth when the client fell behind at the bracket's upper side."""
    d = upgrade(d)
    units = "tasks" if d["units_s_unit"] == "tasks/s" else "requests"
    slo = (f"  SLO: {_slo_text(d)} for {d['slo']['percentile']:g}% of {units} "
           f"({d['workload']} on {d['backend']})")
    lo, hi, unit = d["bracket_low"], d["bracket_high"], d["unit"]
    fmt = lambda x: "-" if x is None else f"{x:.3g}"        # noqa: E731
    why = f" ({d['bracket_missing_why']})" if d.get("bracket_missing_why") else ""
    bracket = f"  bracket [{fmt(lo)}, {fmt(hi)}] {unit}"
    if hi is not None and d.get("bracket_high_missed") is False:
        bracket += f" ({fmt(hi)} not shown met)"    # unsure: nor shown to miss
    if d.get("bracket_missing") == "high":
        bracket += f"; no upper side: every probe met{why}"
    elif d.get("bracket_missing") == "low":
        below = [r for r in d.get("probes") or [] if r.get("role", "search") == "search"
                 and (hi is None or r.get("load", hi) < hi)]
        unsure = any(r.get("verdict") == "unsure" or r.get("inconclusive") for r in below)
        said = "no load was shown to meet" if unsure else "even the lowest load probed missed"
        bracket += f"; no lower side: {said}{why}"
    bracket += f"; {len(d['probes'])} probes, stopped: {d['stopped']}"
    name = d["label"] or d["name"]
    if lo is None and hi is None:
        return "\n".join([f"{name}: no probe finished; stopped: {d['stopped']}", slo])
    if d["capacity"] is None:
        said = "not confirmed" if lo is not None else "none"
        return "\n".join([f"{name}: capacity {said}", slo, bracket, *_client(d)])
    per_second = registry.load_class(d["over"]).per_second       # the load is itself units/s
    rate = d.get("achieved_units_s") if per_second else d.get("units_s_at_capacity")
    at = f", served {rate:.3g} {d['units_s_unit']}" if rate else ""
    if rate and per_second and d.get("achieved_share") is not None:
        at += f", {d['achieved_share']:.0%} of those due"
    if rate and d["units_s_unit"] == "tasks/s":
        at += f" = {rate * 3600:,.0f} tasks/hour"
    confirmed = "confirmed" if d.get("confirmed") else "not confirmed"
    return "\n".join([f"{name}: {d['capacity']:.3g} {unit} ({confirmed}{at})", slo, bracket, *_client(d)])


def _client(d: dict[str, Any]) -> list[str]:
    """A fourth line when the client fell behind at the bracket's upper side: the miss there may
    be partly the client's, so the capacity is what this client drove, not the server's limit."""
    said = d.get("bracket_high_client_warnings") or []
    if not said or d.get("bracket_high") is None:
        return []
    return [f"  at {d['bracket_high']:.3g}: {said[0].rsplit(': ', 1)[0]}; the client fell behind, "
            "the miss may be partly its own"]
