"""`bench compare A B`: two sets of runs, per metric both values, the change, its interval from
the runs' own values, the minimum detectable effect, the between-run spread and a verdict for the
short family judged at once (bench.metrics.views.VERDICT_FAMILY, or the metrics named).

A and B are each a set (bench.results.store.resolve_set): one run, several, a folder, a glob or
a series. Statistics: bench.analysis.runsets (docs/statistics.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.analysis import rounds, runsets, stats, verdicts
from bench.errors import UserError
from bench.metrics import views
from bench.results import store

RULE = ("Rule: the run is the unit. Interval of B/A - 1 from the runs' own values: {method}; no request "
        "is resampled (a run's value already holds its within-run noise). Judged together: {family} at a "
        "simultaneous {level:.0%} (Bonferroni: each at {each:.2%}); other rows show their own 95% interval and "
        "are not judged. Verdict: regression/improvement when the interval excludes 0 and the change is beyond "
        "+/-{min_effect:g}% in the metric's bad/good direction; equivalent when the whole interval lies inside "
        "+/-{min_effect:g}%; otherwise inconclusive, with the MDE (exp((t_(1-a/2) + t_0.8) x SE) - 1: the change "
        "found 80% of the time) and the runs per side whose MDE would reach {min_effect:g}% at the runs' observed "
        "spread. error_rate: each run's rate is one value (k of n runs had errors), a permutation test over "
        "runs. n: {runs} runs and {requests} requests.")
ONE_RUN = ("One run per side: drift between runs is not measured, so no verdict is given. Repeat runs "
           "(`repetitions: N`, 5 or more) or pass --within-run to judge from within-run intervals only.")
WITHIN = ("--within-run: one run per side, intervals from within the runs only (requests resampled; rates: "
          "blocks of time); machine drift between runs is NOT in them.")


def family_of(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys judged together: the verdict family among `keys`, or all of them when the caller
    named none of it (the user's own metrics)."""
    return tuple(k for k in keys if k in views.VERDICT_FAMILY) or tuple(keys)


def compare_sets(a: list[store.Run], b: list[store.Run], keys: tuple[str, ...] = stats.DEFAULT_KEYS,
                 min_effect_pct: float = stats.MIN_EFFECT_PCT, within_run: bool | None = None,
                 seed: int = 0, family: tuple[str, ...] | None = None) -> list[stats.Change]:
    """Every key both sets have, B against A with the run as the unit; the family (default:
    family_of(keys)) judged at a simultaneous 95%, the other keys shown, not judged. Runs are
    paired by round (bench.analysis.rounds), never by position. Sets that did not alternate in
    time are judged with a drift allowance (verdicts.DRIFT_ALLOWANCE_PCT)."""
    r = rounds.match(a, b)
    sa, sb = [x.samples() for x in r.a], [x.samples() for x in r.b]
    slo_a, slo_b = r.a[0].meta["config"].get("slo"), r.b[0].meta["config"].get("slo")
    allowance = verdicts.DRIFT_ALLOWANCE_PCT if rounds.interleaved(a, b) is False else 0.0
    if all(sa) and all(sb):
        found = runsets.compare_family(tuple(keys), sa, sb, slo_a, slo_b, family or family_of(tuple(keys)),
                                       min_effect_pct, within_run, r.paired, seed, allowance)
    else:       # a run with a summary and no samples (a peer's summary imported): its values only
        found = dict.fromkeys(keys)
    out = []
    for key, c in found.items():
        if c is None and all(key in x.summary for x in r.a + r.b):
            va = sum(x.summary[key] for x in r.a) / len(r.a)
            vb = sum(x.summary[key] for x in r.b) / len(r.b)
            c = stats.Change(key, va, vb, (vb / va - 1) * 100 if va else None, None, None,
                             "no CI (no per-request samples)", runs_a=len(r.a), runs_b=len(r.b))
        if c is not None:
            out.append(c)
    return out


def _judged(c: stats.Change) -> bool:
    return c.ci_level is not None and c.verdict != runsets.NOT_JUDGED


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
        if c.key == "error_rate" and c.note:
            ci = c.note.split(" (")[0] + (f", p={c.p_value:.2g}" if c.p_value == c.p_value and
                                          c.p_value is not None else "")
        mde = "-" if c.mde_pct is None else f"{c.mde_pct:.1f}%"
        change = _pct(c.change_pct)
        if c.key == "error_rate" and c.a is not None and c.b is not None:    # a fraction: points
            change = f"{(c.b - c.a) * 100:+.1f} pp"
        rows.append([c.key, _fmt(c.a), _fmt(c.b), change, ci, mde,
                     _spread(c.cv_a_pct, c.cv_b_pct), _spread(c.within_a_pct, c.within_b_pct), _verdict(c)])
    return rows


def _verdict(c: stats.Change) -> str:
    if c.verdict != "inconclusive" or c.runs_needed is None:
        return c.verdict
    need = f"> {c.runs_needed - 1}" if c.runs_needed > verdicts.RUNS_NEEDED_MAX else f"~{c.runs_needed}"
    return f"inconclusive (needs {need} runs/side)"


HEADER = ["metric", "A", "B", "change", "CI of change", "MDE", "CV A/B", "within A/B", "verdict"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def rule(changes: list[stats.Change], min_effect_pct: float, within_run: bool | None, seed: int = 0,
         a: list[store.Run] | None = None, b: list[store.Run] | None = None) -> str:
    judged = [c for c in changes if _judged(c)]
    methods = sorted({c.method for c in changes if c.method and c.key != "error_rate"}) or ["-"]
    each = min((c.ci_level for c in judged), default=1 - runsets.ALPHA)
    runs = "/".join(str(max((getattr(c, f"runs_{s}") for c in changes), default=0)) for s in "ab")
    requests = ("/".join(str(sum(len(r.samples()) for r in x)) for x in (a, b)) if a and b else
                "/".join(str(max((getattr(c, f"n_{s}") for c in changes), default=0)) for s in "ab"))
    text = RULE.format(method="; ".join(methods), family=", ".join(c.key for c in judged) or "none",
                       level=1 - runsets.ALPHA, each=each, min_effect=min_effect_pct,
                       runs=runs, requests=requests)
    if any(c.runs_paired for c in changes):
        text += " Runs paired by round (the same suite and repetition ran side by side)."
    if a and b and (drift := rounds.drift_line(a, b)):
        text += " " + drift
    one = any(max(c.runs_a, c.runs_b) < 2 for c in changes)
    return text + (" " + (WITHIN if within_run else ONE_RUN) if one else "")


def _title(runs: list[store.Run]) -> str:
    n = sum(len(r.samples()) for r in runs)
    return f"{len(runs)} run(s), {n} requests: " + ", ".join(r.run_id for r in runs[:3]) + \
        (f" ... (+{len(runs) - 3})" if len(runs) > 3 else "")


def render(a: list[store.Run], b: list[store.Run], changes: list[stats.Change], fmt: str,
           min_effect_pct: float, within_run: bool | None = None) -> str:
    text = rule(changes, min_effect_pct, within_run, a=a, b=b)
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
    colour = {"regression": "red", "improvement": "green", "equivalent": "cyan"}
    for row, c in zip(_rows(changes), changes):
        table.add_row(*row[:-1], f"[{colour.get(c.verdict, 'white')}]{row[-1]}[/]")
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
    p.add_argument("--metric", action="append",
                   help="summary key to compare and judge (repeatable); default: the headline keys, of which "
                        + ", ".join(views.VERDICT_FAMILY) + " are judged")
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
