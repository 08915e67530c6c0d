"""The one JSONL row reader: one JSON value per non-blank line, named `file:line` for messages."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from bench.errors import UserError


@dataclass(frozen=True, slots=True)
class Line:
    where: str                  # "file:line", for messages
    number: int                 # 1-based, blank lines counted
    value: Any                  # the line's JSON value, whatever its type


def rows(path: Path, on_bad: Callable[[UserError], None] | None = None) -> Iterator[Line]:
    """Each non-blank line, parsed. A line that is not JSON is a UserError naming its file:line;
    given `on_bad`, that error goes there instead and reading goes on (readers that count bad rows)."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                err = UserError(where, f"invalid JSON ({exc.msg})")
                if on_bad is None:
                    raise err from None
                on_bad(err)
                continue
            yield Line(where, n, value)
