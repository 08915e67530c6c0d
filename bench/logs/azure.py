"""Azure LLM inference traces (CSV: `TIMESTAMP`, `ContextTokens`, `GeneratedTokens`) -> rows.

TIMESTAMPs carry no zone: they are naive wall-clock offsets (read as UTC, so a daylight-saving
change of the machine's zone never moves a row).
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from collections.abc import Iterator

from bench.errors import UserError
from bench.logs.trace_rows import Row, integer, relative

COLUMNS = ("ContextTokens", "GeneratedTokens", "TIMESTAMP")


def _time_s(text: str, where: str) -> float:
    head, _, frac = text.strip().partition(".")
    try:
        # As UTC: as local time, rows across a DST change moved by an hour (3,602 s -> 2 s).
        t = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
        return t.timestamp() + (float(f"0.{frac}") if frac else 0.0)
    except ValueError:
        raise UserError(where, f"TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS.fffffff', got {text!r}") from None


def records(f, path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(file:line, row) for each CSV row, after checking the header has Azure's columns."""
    reader = csv.DictReader(f)
    if not set(COLUMNS) <= set(reader.fieldnames or ()):
        raise UserError(f"{path}:1", f"header needs columns {', '.join(COLUMNS)}")
    for d in reader:
        yield f"{path}:{reader.line_num}", d


def row(d: dict, where: str) -> Row:
    """One Azure CSV row (a csv.DictReader dict) -> a Row; a bad row is a UserError."""
    try:
        n_in, n_out = int(d["ContextTokens"]), int(d["GeneratedTokens"])
    except (TypeError, ValueError):
        raise UserError(where, "ContextTokens, GeneratedTokens: expected integers") from None
    return Row(_time_s(d["TIMESTAMP"] or "", where), integer(n_in, where, "ContextTokens", 1),
               integer(n_out, where, "GeneratedTokens", 1))


def read(path: Path) -> list[Row]:
    """Every row, timed from the first; the first bad row is a UserError naming file:line."""
    with open(path, newline="", encoding="utf-8-sig") as f:   # a BOM (Excel's CSVs) is not a column name
        return relative([row(d, where) for where, d in records(f, path)])
