"""A capacity search's file, `<search id>.capacity.json` (written by bench.run.capacity, the
authority on the search), in one line: what `bench run` and `bench summary` print of it."""
from __future__ import annotations

from typing import Any

from bench import registry


def describe(d: dict[str, Any]) -> str:
    """A search file's answer in one line (bench run and bench summary print it)."""
    thresholds = ", ".join(f"{k} <= {v:g}" for k, v in d["slo"].items() if v is not None and k != "percentile")
    head = (f"{d['label'] or d['name']} ({d['workload']} on {d['backend']}; {thresholds} for "
            f"{d['slo']['percentile']:g}% of {'tasks' if d['units_s_unit'] == 'tasks/s' else 'requests'}): ")
    if d["capacity"] is None and d["ci_high"] is None:
        return head + f"no probe finished; stopped: {d['stopped']}"
    if d["capacity"] is None:
        return head + f"below {d['ci_high']:g} {d['unit']} (even the lowest load probed missed)"
    hi = "-" if d["ci_high"] is None else f"{d['ci_high']:.3g}"
    per_second = registry.load_class(d["over"]).per_second       # the load is itself units/s
    rate = d["capacity"] if per_second else d["units_s_at_capacity"]
    at = "" if per_second else f", serving {rate:.3g} {d['units_s_unit']}"
    if rate and d["units_s_unit"] == "tasks/s":
        at += f" = {rate * 3600:,.0f} tasks/hour"
    note = " (every probe met: a lower bound)" if d["ci_high"] is None else ""
    return (head + f"{d['capacity']:.3g} {d['unit']} in [{d['ci_low']:.3g}, {hi}]{at}{note}; "
                   f"{len(d['probes'])} probes, stopped: {d['stopped']}")
