"""What an importer returns, and the one error every importer raises for a file it cannot read.

An importer turns one peer's output into an `Imported`: the per-request samples when the peer kept
them (our summary is then computed from them with our own definitions), else the peer's summary
converted to our keys where the definitions allow (`summary`), and the rest kept "as reported by
<tool>" (`reported`). bench.interop.write stores it as a run folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.types import Sample


class PeerFileError(UserError):
    """One line: the file, what was expected, what was found (exit 2)."""

    def __init__(self, path: Path | str, expected: str, found: str):
        super().__init__(str(path), f"expected {expected}; found {found}")


@dataclass(frozen=True)
class Shape:
    """The load and request shape a peer ran, as far as its file says."""
    load_kind: str = "concurrency"          # concurrency | rate
    load_value: float | None = None          # in flight, or requests per second (None: unbounded)
    requests: int | None = None
    input_tokens: float | None = None        # mean prompt tokens asked for
    output_tokens: float | None = None       # mean output tokens asked for
    fixed_lengths: bool = True               # lengths asked exactly (stddev 0, ignore_eos)
    model: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reported:
    """A metric of the peer that our definitions cannot reproduce: kept under its own name."""
    name: str                                # the peer's name (e.g. `time_per_output_token.mean`)
    value: float
    unit: str                                # the peer's unit, after conversion to ours where stated
    nearest: str | None = None               # our nearest metric key, for the reader
    note: str = ""


@dataclass(frozen=True)
class Imported:
    tool: str                                # e.g. "vllm bench serve", "aiperf"
    tool_version: str | None
    files: tuple[str, ...]
    shape: Shape
    samples: tuple[Sample, ...] = ()         # empty: the peer kept no per-request detail
    summary: dict[str, float] = field(default_factory=dict)   # our keys (converted); ignored with samples
    reported: tuple[Reported, ...] = ()
    native_config: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None          # epoch seconds
    skipped: tuple[str, ...] = ()            # fields this importer does not know (a newer peer)
    notes: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()               # our metrics the peer's records cannot give (left out)


def read_text(path: Path, what: str) -> str:
    """The file's text; `.gz` files are read through gzip (peers' large outputs kept compressed)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            import gzip
            with gzip.open(path, "rt") as f:
                return f.read()
        return path.read_text()
    except FileNotFoundError:
        raise UserError(str(path), "no such file") from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        found = "a truncated gzip stream" if isinstance(exc, EOFError) else "binary data, not text"
        raise PeerFileError(path, what, found) from None


def kind_suffix(path: Path) -> str:
    """`.json` for `x.json` and `x.json.gz`."""
    path = Path(path)
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def read_json(path: Path, what: str) -> Any:
    """A whole JSON document, or one line naming what is wrong with it."""
    text = read_text(path, what)
    if not text.strip():
        raise PeerFileError(path, what, "an empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = "truncated JSON (it ends early)" if exc.pos >= len(text.rstrip()) - 1 else \
            f"invalid JSON ({exc.msg}, line {exc.lineno})"
        raise PeerFileError(path, what, where) from None


def read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file; a bad line is an error naming the line (a truncated last
    line too: the peer was cut off, and its summary would count requests we do not have)."""
    rows = []
    lines = read_text(path, what).splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            cut = " (truncated: the last line ends early)" if i == len(lines) else ""
            raise PeerFileError(path, what, f"line {i} is not JSON ({exc.msg}){cut}") from None
        if not isinstance(row, dict):
            raise PeerFileError(path, what, f"line {i} is a {type(row).__name__}, not an object")
        rows.append(row)
    if not rows:
        raise PeerFileError(path, what, "no records")
    return rows


def need(path: Path, doc: dict[str, Any], key: str, what: str, kinds: type | tuple[type, ...] = object) -> Any:
    """doc[key], of one of `kinds`, or one line naming the missing or mistyped key."""
    if not isinstance(doc, dict):
        raise PeerFileError(path, what, f"a JSON {type(doc).__name__}, not an object")
    if key not in doc:
        raise PeerFileError(path, f"{what} with key {key!r}", f"keys {', '.join(sorted(doc)[:8]) or 'none'}")
    value = doc[key]
    if not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise PeerFileError(path, f"{key!r} as {names}", f"{type(value).__name__} {str(value)[:40]!r}")
    return value


def unknown(doc: dict[str, Any], known: set[str], prefix: str = "") -> tuple[str, ...]:
    """Keys this importer does not read (said once, not refused: a newer peer adds fields)."""
    return tuple(f"{prefix}{k}" for k in sorted(set(doc) - known))


def near_fixed(values: list[float]) -> bool:
    """Lengths asked as one value: all within 2% of their mean (vLLM's random prompts vary by a
    token or so around the length asked)."""
    if not values:
        return True
    mean = sum(values) / len(values)
    return max(values) - min(values) <= 0.02 * mean


def ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


_NS_PER = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "sec": 1e9, "seconds": 1e9}


def to_ns(path: Path, value: Any, unit: str, what: str) -> float:
    """A time value in a peer's unit, in ns; an unknown unit is one line naming it."""
    if unit not in _NS_PER:
        raise PeerFileError(path, f"{what} in one of {', '.join(_NS_PER)}", f"unit {unit!r}")
    return float(value) * _NS_PER[unit]


def spread_tokens(chunk_ns: list[int], n_tokens: int) -> list[int]:
    """One stamp per token: the chunks' own when each carried one token; otherwise the tokens
    spread over the chunks (the peers do not save how many each carried), earlier chunks first."""
    if n_tokens <= len(chunk_ns):
        return chunk_ns[:max(n_tokens, 1)]
    base, extra = divmod(n_tokens, len(chunk_ns))
    out = []
    for i, t in enumerate(chunk_ns):
        out += [t] * (base + (i < extra))
    return out
