"""One request of a production trace: the row Mooncake and Azure records both read into."""
from __future__ import annotations

from dataclasses import dataclass

from bench.errors import UserError


@dataclass(frozen=True, slots=True)
class Row:
    t_s: float                             # from the trace's first row
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()


def integer(value, where: str, key: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < low:
        raise UserError(where, f"{key}: expected an integer >= {low}, got {value!r}")
    return int(value)


def relative(rows: list[Row]) -> list[Row]:
    """Rows in time order, timed from the earliest."""
    if not rows:
        return rows
    t0 = min(r.t_s for r in rows)
    return sorted((Row(r.t_s - t0, r.input_tokens, r.output_tokens, r.hash_ids) for r in rows),
                  key=lambda r: r.t_s)
