"""`bench trend`: one series of comparable runs over commit order; step changes found in it.

A series is the same config (name, label and repetition aside) on the same hardware
(store.keys); engine versions and project commits may change along it, which is what a trend
follows. Every run is one point (repetitions of a commit are neighbouring points).
History: per metric, change points of the run values by E-divisive means with a permutation
test (bench.analysis.changepoints: where, how big, how sure); they describe the series and fail
nothing. The gate (`gate`): the newest commit's runs (>= 3) against the segment before them (the
earlier runs since their last change point), judged by the one comparison rule of `bench compare`
(compare.compare_sets); only a regression there fails, so an old step never fails a later commit.
"""
from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis import changepoints, compare, stats
from bench.metrics import views
from bench.results import store
from bench.errors import UserError

DEFAULT_METRICS = views.TREND
MIN_NEWEST_RUNS = 3     # a commit's own spread needs runs of its own: fewer give no gate verdict
RULE = ("rule: history: per metric, change points of the per-run values (series order) by "
        f"E-divisive means, each confirmed by a permutation test ({changepoints.PERMUTATIONS} seeded "
        f"shuffles, p < {changepoints.ALPHA:g}; >= {changepoints.MIN_SIZE} runs on each side of a step); they "
        "describe the series and fail nothing. GATE: the newest commit's runs (>= "
        f"{MIN_NEWEST_RUNS}) against the segment before them (the earlier runs since the last change "
        "point among them, of any metric judged), by the rule of `bench compare` (the run as the unit; "
        "interval and family as it states); REGRESSION: its verdict is regression, i.e. its interval "
        "excludes no change and the change is worse than {min_effect:g}% in the metric's bad direction "
        "(error_rate: its own test). --fail-on-regression exits 1 only then. Bars: each run's "
        "own 95% bootstrap CI (within-run spread).")
DRIFT_NOTE = ("The commits' runs were not interleaved: a drift of the machine between sessions is in "
              "no interval")


def commit_rank(cwd: Path | str = ".") -> dict[str, int]:
    """Position of each commit of HEAD's history, oldest first ({} outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-list", "--topo-order", "--reverse", "HEAD"], cwd=cwd,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {sha: i for i, sha in enumerate(out.stdout.split())} if out.returncode == 0 else {}


def order(runs: list[store.Run], rank: dict[str, int]) -> list[store.Run]:
    """Commit order when every run's commit is in this checkout's history, else start time."""
    shas = [r.meta["env"].get("git_sha") for r in runs]
    by_commit = rank and all(s in rank for s in shas)
    return sorted(runs, key=lambda r: ((rank[r.meta["env"]["git_sha"]] if by_commit else 0),
                                       r.meta.get("started_at") or 0))


def series(runs: list[store.Run], rank: dict[str, int] | None = None) -> list[list[store.Run]]:
    """Complete runs split into series, each ordered; the series with the most runs first."""
    groups: dict[str, list[store.Run]] = {}
    for r in runs:
        if r.meta.get("status") == "complete":
            groups.setdefault(store.keys(r.meta)["series"], []).append(r)
    rank = commit_rank() if rank is None else rank
    return sorted((order(g, rank) for g in groups.values()), key=len, reverse=True)


def table(runs: list[store.Run], metrics: tuple[str, ...]) -> pd.DataFrame:
    """Rows in order; columns: provenance then each metric's value, with CI from its own samples."""
    rows = []
    for r in runs:
        samples = r.samples()
        row = {"run_id": r.run_id, "git_sha": (r.meta["env"].get("git_sha") or "")[:8],
               "backend_version": store.backend_version(r.meta)}
        for key in metrics:
            ci = stats.interval(key, samples, r.meta["config"].get("slo"))
            row[key] = ci[0] if ci else r.summary.get(key)
            row[f"{key}_lo"], row[f"{key}_hi"] = (ci[1], ci[2]) if ci else (None, None)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Gate:
    """The newest commit's runs judged against the segment before them (`gate`)."""
    how: str                             # which runs were judged, and why those
    newest: tuple[str, ...]              # run_ids judged (series order)
    before: tuple[str, ...] = ()         # run_ids of the segment before them
    since: str = ""                      # where that segment starts, and why there
    changes: tuple[stats.Change, ...] = ()
    note: str = ""                       # why there is no gate verdict (empty when there is one)

    @property
    def regressions(self) -> list[stats.Change]:
        return [c for c in self.changes if c.verdict == "regression"]


def newest_runs(runs: list[store.Run], newest: int | None = None) -> tuple[list[int], str]:
    """Positions (series order) of the runs the gate judges, and how they were chosen: the runs
    of the newest run's commit (env.git_sha); with `newest`, or when commits do not tell the
    runs apart (no sha, or one sha for the whole series), the newest `newest` (default 3) runs."""
    shas = [r.meta["env"].get("git_sha") or None for r in runs]
    if newest is None and shas[-1] and any(s != shas[-1] for s in shas):
        idx = [i for i, s in enumerate(shas) if s == shas[-1]]
        return idx, f"the newest commit {shas[-1][:8]}: its {len(idx)} run(s)"
    n = newest or MIN_NEWEST_RUNS
    why = (f"--newest {n}" if newest else
           f"commits unknown ({'no git_sha' if not shas[-1] else 'every run has the same git_sha'}), so "
           f"the newest {n} runs (--newest N to choose)")
    return list(range(max(0, len(runs) - n), len(runs))), f"{why}: {min(n, len(runs))} run(s)"


def before_start(values: dict[str, list[float]], n_earlier: int) -> tuple[int, str | None]:
    """Where the segment before the newest runs starts (an index into the earlier runs, which
    come first in `values`, the newest runs after them), and the metric whose change point put it
    there (None: no change point, all earlier runs): the last change point that falls among the
    earlier runs, of any metric. It is searched in the earlier runs alone
    and in the whole series: a step a few runs before the newest commit has too few runs after it
    among the earlier ones for the permutation test (3 of 9 runs: p >= 1/42), and the newest
    runs, at the same level, confirm it; a change point at the newest runs themselves is what the
    gate judges, so it does not cut the segment."""
    start, by = 0, None
    for key, v in values.items():
        for cp in changepoints.detect(v[:n_earlier]) + changepoints.detect(v):
            if start < cp.index <= n_earlier - changepoints.MIN_SIZE:
                start, by = cp.index, key
    return start, by


def gate(runs: list[store.Run], values: dict[str, list[float]], keys: tuple[str, ...],
         min_effect_pct: float = stats.MIN_EFFECT_PCT, newest: int | None = None) -> Gate:
    """Judge the newest commit of a series (runs and each key's per-run values, series order):
    its runs against the segment before them, by compare.compare_sets (the project's one rule
    for two sets of runs). No verdict with fewer than MIN_NEWEST_RUNS newest runs or fewer than
    MIN_SIZE earlier ones."""
    idx, how = newest_runs(runs, newest)
    new = [runs[i] for i in idx]
    rest = [i for i in range(len(runs)) if i not in set(idx)]
    ids = tuple(r.run_id for r in new)
    if len(new) < MIN_NEWEST_RUNS:
        return Gate(how, ids, note=f"{len(new)} run(s) at the newest commit; a gate verdict needs "
                                   f">= {MIN_NEWEST_RUNS}: none given")
    if len(rest) < changepoints.MIN_SIZE:
        return Gate(how, ids, note=f"{len(rest)} earlier run(s); a gate verdict needs >= "
                                   f"{changepoints.MIN_SIZE} before the newest: none given")
    start, by = before_start({k: [values[k][i] for i in rest + idx] for k in keys}, len(rest))
    before = [runs[i] for i in rest[start:]]
    since = (f"since the change point in {by} at {before[0].run_id} (after run {rest[start]})" if by else
             "no change point among the earlier runs: all of them")
    changes = compare.compare_sets(before, new, keys, min_effect_pct)
    return Gate(how, ids, tuple(r.run_id for r in before), since, tuple(changes))


def steps(df: pd.DataFrame, key: str) -> list[changepoints.ChangePoint]:
    """Change points of one metric's run values (rows in series order)."""
    return changepoints.detect(df[key].astype(float).tolist())


def judge(key: str, cp: changepoints.ChangePoint, min_effect_pct: float) -> str:
    """regression / improvement / change (too small or no direction) for one step."""
    hib = stats.higher_is_better(key)
    if hib is None or cp.after == cp.before:
        return "change"
    worse = cp.after < cp.before if hib else cp.after > cp.before
    big = key == "error_rate" or abs(cp.change_pct) >= min_effect_pct
    return ("regression" if worse else "improvement") if big else "change"


def plot(runs: list[store.Run], df: pd.DataFrame, metrics: tuple[str, ...], flags: dict[str, str],
         out: Path | str, found: dict[str, list] | None = None) -> Path:
    """One panel per metric: value and its CI per run; change points as dashed lines (red: a
    regression) with their size and p-value; the newest run red when flagged."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in metrics if df[k].notna().any()]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.2 * len(keys) + 0.6), sharex=True, squeeze=False)
    x = list(range(len(df)))
    for ax, key in zip(axes[:, 0], keys):
        y, lo, hi = df[key].astype(float), df[f"{key}_lo"].astype(float), df[f"{key}_hi"].astype(float)
        ax.errorbar(x, y, yerr=[(y - lo).fillna(0), (hi - y).fillna(0)], fmt="o-", capsize=3, color="C0")
        for cp, how in (found or {}).get(key, []):
            ax.axvline(cp.index - 0.5, ls="--", color="red" if how == "regression" else "grey")
            ax.annotate(f"{cp.change_pct:+.0f}% p={cp.p_value:.2g}", (cp.index - 0.45, 1), fontsize=7,
                        xycoords=("data", "axes fraction"), va="top")
        if flags.get(key) == "regression":
            ax.plot(x[-1], y.iloc[-1], "o", color="red", markersize=11, label="regression")
            ax.legend(loc="best", fontsize=8)
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    labels = [f"{i}\n{sha or '-'}" for i, sha in zip(x, df["git_sha"])]
    axes[-1, 0].set_xticks(x, labels, fontsize=7)
    axes[-1, 0].set_xlabel("run (oldest -> newest; commit)")
    fig.suptitle(f"trend: {runs[-1].meta.get('name')} ({len(runs)} runs; bars: 95% bootstrap CI; "
                 "dashed: change points)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["results"],
                   help="results folders, run folders, globs, series keys or run_ids")
    p.add_argument("--metric", action="append", help="summary key (repeatable)")
    p.add_argument("--out", help="PNG plot path")
    p.add_argument("--min-effect", type=float, default=5.0, metavar="PCT")
    p.add_argument("--newest", type=int, metavar="N",
                   help="judge the newest N runs (default: the runs of the newest commit; the newest "
                        f"{MIN_NEWEST_RUNS} when commits do not tell runs apart)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when the gate judges the newest commit's runs a regression against "
                        "the segment before them (an old step never fails)")


def main(args: argparse.Namespace) -> int:
    return trend(args.paths, args.metric, args.out, args.min_effect, args.fail_on_regression, args.newest)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def describe(g: Gate, min_effect_pct: float) -> list[str]:
    """The gate's lines: which runs against which, each metric's verdict, the outcome."""
    lines = [f"  gate: judged {g.how}: {', '.join(g.newest)}"]
    if g.note:
        return lines + [f"  gate: {g.note}"]
    lines.append(f"  gate: against the segment before ({g.since}): {len(g.before)} run(s): {', '.join(g.before)}")
    for c in g.changes:
        ci = "" if c.ci_low_pct is None else f" CI [{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]"
        p = "" if c.p_value is None else f" p={c.p_value:.2g}"
        change = "" if c.change_pct is None else f" ({c.change_pct:+.1f}%)"
        lines.append(f"    {c.key}: {_fmt(c.a)} -> {_fmt(c.b)}{change}{ci}{p}, runs {c.runs_a} vs {c.runs_b}, "
                     f"requests {c.n_a} vs {c.n_b}: {c.verdict}")
    bad = g.regressions
    lines.append("  GATE: REGRESSION at the newest commit: " + ", ".join(
        f"{c.key} {c.change_pct:+.1f}%" if c.change_pct is not None else c.key for c in bad) if bad else
        f"  gate: no regression at the newest commit (threshold {min_effect_pct:g}%)")
    lines.append(f"  gate rule: {compare.rule(list(g.changes), min_effect_pct, None)} {DRIFT_NOTE}.")
    return lines


def trend(paths: list[str], metrics: list[str] | None = None, out: str | None = None,
          min_effect_pct: float = stats.MIN_EFFECT_PCT, fail_on_regression: bool = False,
          newest: int | None = None) -> int:
    keys = tuple(metrics) if metrics else DEFAULT_METRICS
    # each path: a results folder, run folder, glob, series key or run_id (store.resolve_set)
    runs = {r.dir.resolve(): r for p in (paths or ["results"]) for r in store.resolve_set(p)}
    all_series = [s for s in series(list(runs.values())) if len(s) >= 2]
    if not all_series:
        raise UserError(", ".join(paths or ["results"]), "no series with 2 or more complete comparable runs")
    flagged = 0
    for i, runs in enumerate(all_series):
        df = table(runs, keys)
        keys_here = tuple(k for k in keys if df[k].notna().any())
        found = {k: [(cp, judge(k, cp, min_effect_pct)) for cp in steps(df, k)] for k in keys_here}
        print(f"series {store.keys(runs[-1].meta)['series']}: {runs[-1].meta.get('name')} "
              f"{runs[-1].meta.get('label') or ''} ({len(runs)} runs)")
        print(df[["run_id", "git_sha", "backend_version", *keys_here]].to_string(index=False, float_format="%.4g"))
        for key, cps in found.items():
            for cp, how in cps:
                print(f"  history: change point in {key} after run {cp.index} (new level from "
                      f"{df['run_id'][cp.index]}): {cp.before:.4g} -> {cp.after:.4g} ({cp.change_pct:+.1f}%, "
                      f"p={cp.p_value:.3g}): {how}")
        if not any(found.values()):
            print("  history: no change point in any metric")
        g = gate(runs, {k: df[k].astype(float).tolist() for k in keys_here}, keys_here, min_effect_pct, newest)
        print("\n".join(describe(g, min_effect_pct)))
        flagged += bool(g.regressions)
        if out:
            flags = {c.key: c.verdict for c in g.changes}
            target = Path(out) if len(all_series) == 1 else Path(out).with_stem(f"{Path(out).stem}-{i}")
            print(f"  plot: {plot(runs, df, keys_here, flags, target, found)}")
        print()
    print(RULE.format(min_effect=min_effect_pct))
    return 1 if fail_on_regression and flagged else 0
