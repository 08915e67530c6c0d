"""`bench compare A B`: per metric both values, the change, its bootstrap CI and a verdict."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.analysis import stats
from bench.results import store
from bench.errors import UserError

RULE = (f"CI: {stats.CI_LEVEL:.0%} percentile bootstrap ({stats.N_BOOT} resamples) of B/A - 1 over "
        "requests (tasks for task metrics; rates from (completion gap, count) pairs). Verdict: "
        "regression/improvement when the whole CI lies beyond +/-{min_effect:g}%, by the "
        "metric's direction. Within-run spread only: machine drift between runs is not in the CI.")


def compare_runs(a: store.Run, b: store.Run, keys: tuple[str, ...] = stats.DEFAULT_KEYS,
                 min_effect_pct: float = stats.MIN_EFFECT_PCT) -> list[stats.Change]:
    """Every key both runs can resample gets a CI; summary-only keys get values and change."""
    sa, sb = a.samples(), b.samples()
    out = []
    for key in keys:
        c = stats.compare_key(key, sa, sb, a.meta["config"].get("slo"), b.meta["config"].get("slo"),
                              min_effect_pct)
        if c is None and key in a.summary and key in b.summary:
            va, vb = a.summary[key], b.summary[key]
            c = stats.Change(key, va, vb, (vb / va - 1) * 100 if va else None, None, None,
                             "no CI (no per-request samples)")
        if c is not None:
            out.append(c)
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def _rows(changes: list[stats.Change]) -> list[list[str]]:
    return [[c.key, _fmt(c.a), _fmt(c.b), _pct(c.change_pct),
             "-" if c.ci_low_pct is None else f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]", c.verdict]
            for c in changes]


HEADER = ["metric", "A", "B", "change", "95% CI of change", "verdict"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def render(a: store.Run, b: store.Run, changes: list[stats.Change], fmt: str, min_effect_pct: float) -> str:
    rule = RULE.format(min_effect=min_effect_pct)
    if fmt == "json":
        return json.dumps({"a": a.run_id, "b": b.run_id, "rule": rule,
                           "metrics": [asdict(c) for c in changes]}, indent=2)
    if fmt == "markdown":
        return (f"**A** `{a.run_id}` vs **B** `{b.run_id}`\n\n{markdown_table(HEADER, _rows(changes))}\n\n"
                f"_{rule}_\n")
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"A {a.run_id}\nB {b.run_id}")
    for h in HEADER:
        table.add_column(h, justify="left" if h in ("metric", "verdict") else "right")
    colour = {"regression": "red", "improvement": "green"}
    for row, c in zip(_rows(changes), changes):
        table.add_row(*row[:-1], f"[{colour.get(c.verdict, 'white')}]{c.verdict}[/]")
    buf = StringIO()
    Console(file=buf, width=140, force_terminal=False).print(table)
    return buf.getvalue() + rule + "\n"


def regressions_over(changes: list[stats.Change], pct: float) -> list[stats.Change]:
    """Significant regressions whose change is worse than pct percent."""
    return [c for c in changes if c.verdict == "regression" and abs(c.change_pct) >= pct]


def main(ref_a: str, ref_b: str, results_dir: str | Path = "results", fmt: str = "table",
         fail_on_regression: float | None = None, min_effect_pct: float = stats.MIN_EFFECT_PCT,
         keys: list[str] | None = None) -> int:
    if fmt not in ("table", "markdown", "json"):
        raise UserError("--format", f"{fmt!r}: allowed: table, markdown, json")
    a, b = store.resolve(ref_a, results_dir), store.resolve(ref_b, results_dir)
    changes = compare_runs(a, b, tuple(keys) if keys else stats.DEFAULT_KEYS, min_effect_pct)
    print(render(a, b, changes, fmt, min_effect_pct))
    if fail_on_regression is not None:
        bad = regressions_over(changes, fail_on_regression)
        if bad:
            print(f"FAIL: {len(bad)} regression(s) over {fail_on_regression:g}%: "
                  + ", ".join(f"{c.key} {c.change_pct:+.1f}%" for c in bad), file=sys.stderr)
            return 1
    return 0
