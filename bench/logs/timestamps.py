"""Timestamps as call logs write them -> Unix seconds."""
from __future__ import annotations

import datetime as dt
from typing import Any


def unix_s(v: Any) -> float | None:
    """Unix nanoseconds (OTLP, int or digit string), milliseconds, seconds or an ISO-8601 string."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        if v.strip().isdigit():
            v = int(v)
        else:
            try:
                return dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    if isinstance(v, (int, float)):
        return v / 1e9 if v > 1e14 else v / 1e3 if v > 1e11 else float(v)  # ns, ms, s
    return None
