"""`bench compare A B`: two sets of runs, per metric both values, the change, its two-stage
bootstrap CI, the minimum detectable effect, the between-run spread and a verdict.

A and B are each a set (bench.results.store.resolve_set): one run, several, a folder, a glob or
a series. Statistics: bench.analysis.runsets (docs/statistics.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.analysis import runsets, stats
from bench.errors import UserError
from bench.results import store

RULE = ("CI: two-stage bootstrap ({n_boot} resamples, seed {seed}): runs of each side resampled with "
        "replacement, then requests (tasks) within each drawn run{paired}; a side's value is the mean of "
        "its runs' values. Interval of B/A - 1: log(B/A) +/- t(df) x SE, SE from the resamples (scaled "
        "by n/(n-1) for n runs), df by Welch over the run values; simultaneous {level:.0%} over the {m} "
        "metrics judged (Bonferroni: each at {each:.2%}). Verdict: regression/improvement only with >= 2 "
        "runs per side and the whole CI beyond +/-{min_effect:g}%, by the metric's direction; error_rate: "
        "Fisher's exact test on failed/all requests, p < {alpha_each:.2g}. MDE: the smallest change this "
        "rule finds 80% of the time (t quantiles, the same SE and threshold). CV: between-run spread of "
        "each side; within: mean within-run relative SE.")
ONE_RUN = ("One run per side: drift between runs is not measured, so no regression/improvement "
           "verdict is given. Repeat runs (`repetitions: N`) or pass --within-run to judge from "
           "within-run intervals only.")
WITHIN = ("--within-run: verdicts from within-run intervals only; machine drift between runs is "
          "NOT in them.")


def compare_sets(a: list[store.Run], b: list[store.Run], keys: tuple[str, ...] = stats.DEFAULT_KEYS,
                 min_effect_pct: float = stats.MIN_EFFECT_PCT, within_run: bool | None = None,
                 seed: int = 0) -> list[stats.Change]:
    """Every key both sets can resample gets a CI; summary-only keys get values and change."""
    pair_runs = runs_pair(a, b)
    if pair_runs:
        a, b = sorted(a, key=store.repetition), sorted(b, key=store.repetition)
    sa, sb = [r.samples() for r in a], [r.samples() for r in b]
    slo_a, slo_b = a[0].meta["config"].get("slo"), b[0].meta["config"].get("slo")
    out = []
    for key in keys:
        c = runsets.compare(key, sa, sb, slo_a, slo_b, min_effect_pct, seed=seed, within_run=within_run,
                            pair_runs=pair_runs)
        if c is None and all(key in r.summary for r in a + b):
            va = sum(r.summary[key] for r in a) / len(a)
            vb = sum(r.summary[key] for r in b) / len(b)
            c = stats.Change(key, va, vb, (vb / va - 1) * 100 if va else None, None, None,
                             "no CI (no per-request samples)", runs_a=len(a), runs_b=len(b))
        if c is not None:
            out.append(c)
    # m verdicts at once: each at 1 - 0.05/m, so the chance of any false verdict stays <= 5%
    m = max(1, sum(_judged(c) for c in out))
    return [runsets.finalize(c, runsets.ALPHA / m, min_effect_pct, within_run) if _judged(c) else c for c in out]


def _judged(c: stats.Change) -> bool:
    return c.se is not None or (c.p_value is not None and c.p_value == c.p_value)


def runs_pair(a: list[store.Run], b: list[store.Run]) -> bool:
    """Pair the runs of A and B that carry the same repetition index, when both sets hold the
    same distinct indices: the rounds of an interleaved A B A B design, whose two runs ran side
    by side and share the machine's drift. Decided from metadata, never from the values."""
    ra, rb = [store.repetition(r) for r in a], [store.repetition(r) for r in b]
    return len(a) >= 2 and None not in ra + rb and len(set(ra)) == len(ra) and sorted(ra) == sorted(rb)


def compare_runs(a: store.Run, b: store.Run, keys: tuple[str, ...] = stats.DEFAULT_KEYS,
                 min_effect_pct: float = stats.MIN_EFFECT_PCT, within_run: bool | None = None) -> list[stats.Change]:
    return compare_sets([a], [b], keys, min_effect_pct, within_run)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def _spread(x: float | None, y: float | None) -> str:
    return "-" if x is None and y is None else f"{_fmt(x, 2)}/{_fmt(y, 2)}%"


def _rows(changes: list[stats.Change]) -> list[list[str]]:
    rows = []
    for c in changes:
        ci = "-" if c.ci_low_pct is None else f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]"
        if c.p_value is not None:
            ci = f"p={c.p_value:.2g} ({c.note.split(',')[0]})"
        mde = "-" if c.mde_pct is None else f"{c.mde_pct:.1f}%"
        change = _pct(c.change_pct)
        if c.p_value is not None and c.a is not None and c.b is not None:    # a fraction: points
            change = f"{(c.b - c.a) * 100:+.1f} pp"
        rows.append([c.key, _fmt(c.a), _fmt(c.b), change, ci, mde,
                     _spread(c.cv_a_pct, c.cv_b_pct), _spread(c.within_a_pct, c.within_b_pct), c.verdict])
    return rows


HEADER = ["metric", "A", "B", "change", "CI of change (simultaneous 95%)", "MDE", "CV A/B", "within A/B", "verdict"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def rule(changes: list[stats.Change], min_effect_pct: float, within_run: bool | None, seed: int = 0) -> str:
    paired = " (paired: the same request ids drawn for both sides)" if any(c.paired for c in changes) else ""
    if any(c.runs_paired for c in changes):
        paired += "; runs paired by repetition (run k of A drawn with run k of B; df = pairs - 1)"
    m = max(1, sum(_judged(c) for c in changes))
    text = RULE.format(min_effect=min_effect_pct, seed=seed, paired=paired, n_boot=stats.N_BOOT, m=m,
                       level=1 - runsets.ALPHA, each=1 - runsets.ALPHA / m, alpha_each=runsets.ALPHA / m)
    one = any(min(c.runs_a, c.runs_b) < 2 for c in changes)
    return text + (" " + (WITHIN if within_run else ONE_RUN) if one else "")


def _title(runs: list[store.Run]) -> str:
    n = sum(len(r.samples()) for r in runs)
    return f"{len(runs)} run(s), {n} requests: " + ", ".join(r.run_id for r in runs[:3]) + \
        (f" ... (+{len(runs) - 3})" if len(runs) > 3 else "")


def render(a: list[store.Run], b: list[store.Run], changes: list[stats.Change], fmt: str,
           min_effect_pct: float, within_run: bool | None = None) -> str:
    text = rule(changes, min_effect_pct, within_run)
    if fmt == "json":
        return json.dumps({"a": [r.run_id for r in a], "b": [r.run_id for r in b], "rule": text,
                           "metrics": [asdict(c) for c in changes]}, indent=2)
    if fmt == "markdown":
        return (f"**A** {_title(a)}\n\n**B** {_title(b)}\n\n{markdown_table(HEADER, _rows(changes))}\n\n"
                f"_{text}_\n")
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"A {_title(a)}\nB {_title(b)}")
    for h in HEADER:
        table.add_column(h, justify="left" if h in ("metric", "verdict") else "right")
    colour = {"regression": "red", "improvement": "green"}
    for row, c in zip(_rows(changes), changes):
        table.add_row(*row[:-1], f"[{colour.get(c.verdict, 'white')}]{c.verdict}[/]")
    buf = StringIO()
    Console(file=buf, width=170, force_terminal=False).print(table)
    return buf.getvalue() + text + "\n"


def regressions_over(changes: list[stats.Change], pct: float) -> list[stats.Change]:
    """Significant regressions whose change is worse than pct percent (any for error_rate)."""
    return [c for c in changes if c.verdict == "regression"
            and (c.change_pct is None or abs(c.change_pct) >= pct)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="baseline set: run folders, folders of runs, globs, a series key or a "
                             "run_id (part), comma-separated")
    p.add_argument("b", help="candidate set, the same forms")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--format", default="table", choices=["table", "markdown", "json"])
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 when a metric regresses significantly by PCT percent or more")
    p.add_argument("--min-effect", type=float, default=5.0, metavar="PCT",
                   help="smallest change called significant (the whole CI must lie beyond it)")
    p.add_argument("--metric", action="append", help="summary key to compare (repeatable)")
    p.add_argument("--within-run", action="store_true",
                   help="with one run per side, give verdicts from within-run intervals (drift not measured)")
    p.add_argument("--force", action="store_true", help="show numbers even when the runs are not comparable")


def main(args: argparse.Namespace) -> int:
    return compare_refs(args.a, args.b, args.results_dir, args.format, args.fail_on_regression,
                        args.min_effect, args.metric, args.within_run, args.force)


def compare_refs(ref_a: str, ref_b: str, results_dir: str | Path = "results", fmt: str = "table",
                 fail_on_regression: float | None = None, min_effect_pct: float = stats.MIN_EFFECT_PCT,
                 keys: list[str] | None = None, within_run: bool = False, force: bool = False) -> int:
    if fmt not in ("table", "markdown", "json"):
        raise UserError("--format", f"{fmt!r}: allowed: table, markdown, json")
    a, b = store.resolve_set(ref_a, results_dir), store.resolve_set(ref_b, results_dir)
    diff = store.differences(a, b)
    if diff:
        print("not comparable: " + "; ".join(diff) + (" (--force: numbers shown anyway)" if force else
                                                      " (no verdicts; --force shows the numbers anyway)"))
        if not force:
            return 2
    changes = compare_sets(a, b, tuple(keys) if keys else stats.DEFAULT_KEYS, min_effect_pct, within_run or None)
    print(render(a, b, changes, fmt, min_effect_pct, within_run))
    if fail_on_regression is not None:
        bad = regressions_over(changes, fail_on_regression)
        if bad:
            print(f"FAIL: {len(bad)} regression(s) over {fail_on_regression:g}%: "
                  + ", ".join(f"{c.key} {_pct(c.change_pct)}" for c in bad), file=sys.stderr)
            return 1
    return 0
