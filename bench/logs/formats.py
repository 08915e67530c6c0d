"""The call-log formats `bench profile` reads, one line each: its name, how a file's start gives it
away, and its reader. A new format is its reader in bench/logs plus one line here; detection
tries the lines in order."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.logs import openai_log, otel, session_calls, trace_calls
from bench.logs.calls import Log


@dataclass(frozen=True)
class Format:
    name: str
    looks_like: Callable[[Path, str], bool]      # (path, the file's first 4 kB)
    read: Callable[[Path, str | None], Log]      # (path, --group-by)


FORMATS: tuple[Format, ...] = (
    Format("azure", lambda p, head: p.suffix == ".csv" or head.startswith("TIMESTAMP"),
           lambda p, group_by: trace_calls.read(p, "azure")),
    # an agentic session: one JSON document per session
    Format("sessions", lambda p, head: '"requests"' in head and '"hash_ids"' in head,
           lambda p, group_by: session_calls.read(p)),
    Format("otel", lambda p, head: any(k in head for k in ('"resourceSpans"', '"spanId"', '"span_id"',
                                                            '"traceId"', '"trace_id"')),
           lambda p, group_by: otel.read(p)),
    Format("mooncake", lambda p, head: '"hash_ids"' in head or ('"input_length"' in head and '"output_length"' in head),
           lambda p, group_by: trace_calls.read(p, "mooncake")),
    Format("openai", lambda p, head: '"usage"' in head or '"messages"' in head or '"request"' in head,
           lambda p, group_by: openai_log.read(p, group_by)),
)
NAMES = tuple(f.name for f in FORMATS)


def detect(path: Path) -> Format:
    """The format from the file's first 4 kB (the CSV header, the keys of the first record)."""
    with open(path, errors="replace", encoding="utf-8-sig") as f:
        head = f.read(4096).lstrip()
    found = next((f for f in FORMATS if f.looks_like(path, head)), None)
    if found is None:
        raise UserError(str(path), f"cannot tell the log format from its start; pass --format {'|'.join(NAMES)}")
    return found


def named(name: str) -> Format:
    return next(f for f in FORMATS if f.name == name)
