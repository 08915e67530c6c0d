"""Mooncake request traces (JSONL, one request per line: `timestamp` in ms, `input_length`,
`output_length`, `hash_ids`) -> rows."""
from __future__ import annotations

from pathlib import Path

from bench.errors import UserError
from bench.logs import jsonl
from bench.logs.trace_rows import Row, integer, relative


def row(d, where: str) -> Row:
    """One Mooncake record (a parsed line) -> a Row (timestamp still absolute); a bad one is a UserError."""
    if not isinstance(d, dict):
        raise UserError(where, "expected a JSON object")
    for key in ("timestamp", "input_length", "output_length"):
        if key not in d:
            raise UserError(where, f"missing key {key!r} (needs timestamp, input_length, output_length, hash_ids)")
    ts = d["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts < 0:
        raise UserError(where, f"timestamp: expected milliseconds >= 0, got {ts!r}")
    hashes = d.get("hash_ids", [])
    if not isinstance(hashes, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hashes):
        raise UserError(where, "hash_ids: expected a list of integers")
    return Row(ts / 1000, integer(d["input_length"], where, "input_length", 1),
               integer(d["output_length"], where, "output_length", 1), tuple(hashes))


def read(path: Path) -> list[Row]:
    """Every row, timed from the first; the first bad line is a UserError naming file:line."""
    return relative([row(line.value, line.where) for line in jsonl.rows(path)])
