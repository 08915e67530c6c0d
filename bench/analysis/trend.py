"""`bench trend`: one series of comparable runs over commit order; step changes found in it.

A series is the same config (name, label and repetition aside) on the same hardware
(store.keys); engine versions and project commits may change along it, which is what a trend
follows. Every run is one point (repetitions of a commit are neighbouring points).
Rule: per metric, change points of the run values by E-divisive means with a permutation test
(bench.analysis.changepoints: where, how big, how sure). A regression is a step whose newest
segment is worse than the one before by at least min_effect (error_rate: any rise): a step
change, never one bad run (each side of a step holds >= 2 runs).
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pandas as pd

from bench.analysis import changepoints, runsets, stats
from bench.metrics import views
from bench.results import store
from bench.errors import UserError

DEFAULT_METRICS = views.TREND
RULE = ("rule: per metric, change points of the per-run values (oldest first) by E-divisive means, "
        f"each confirmed by a permutation test ({changepoints.PERMUTATIONS} seeded shuffles, p < "
        f"{changepoints.ALPHA:g}; >= {changepoints.MIN_SIZE} runs on each side of a step, so one bad run is "
        "not a change). REGRESSION: the newest segment is worse than the one before by at least "
        "{min_effect:g}% in the metric's bad direction (error_rate: any rise); --fail-on-regression "
        "exits 1 only then. Bars: each run's own 95% bootstrap CI (within-run spread).")


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


def check_newest(runs: list[store.Run], metrics: tuple[str, ...],
                 min_effect_pct: float = stats.MIN_EFFECT_PCT) -> list[stats.Change]:
    """The newest run against the earlier runs of its series, the run as the unit. One newest
    run measures no drift of its own, so its verdicts rest on within-run intervals."""
    earlier = [r.samples() for r in runs[:-1]]
    slo = runs[-1].meta["config"].get("slo")
    newest = [runs[-1].samples()]
    out = []
    for key in metrics:
        c = runsets.compare(key, earlier, newest, slo, slo, min_effect_pct, within_run=True)
        if c is not None and c.change_pct is not None:
            out.append(c)
    return out


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
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when the newest step of a metric is a regression")


def main(args: argparse.Namespace) -> int:
    return trend(args.paths, args.metric, args.out, args.min_effect, args.fail_on_regression)


def trend(paths: list[str], metrics: list[str] | None = None, out: str | None = None,
          min_effect_pct: float = stats.MIN_EFFECT_PCT, fail_on_regression: bool = False) -> int:
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
        flags = {k: cps[-1][1] for k, cps in found.items() if cps}   # the newest step decides
        print(f"series {store.keys(runs[-1].meta)['series']}: {runs[-1].meta.get('name')} "
              f"{runs[-1].meta.get('label') or ''} ({len(runs)} runs)")
        print(df[["run_id", "git_sha", "backend_version", *keys_here]].to_string(index=False, float_format="%.4g"))
        for key, cps in found.items():
            for cp, how in cps:
                mark = "REGRESSION" if how == "regression" and cp is cps[-1][0] else how
                print(f"  change point in {key} after run {cp.index} (new level from {df['run_id'][cp.index]}): "
                      f"{cp.before:.4g} -> {cp.after:.4g} ({cp.change_pct:+.1f}%, p={cp.p_value:.3g}) -> {mark}")
        if not any(found.values()):
            print("  no change point in any metric")
        flagged += sum(v == "regression" for v in flags.values())
        if out:
            target = Path(out) if len(all_series) == 1 else Path(out).with_stem(f"{Path(out).stem}-{i}")
            print(f"  plot: {plot(runs, df, keys_here, flags, target, found)}")
        print()
    print(RULE.format(min_effect=min_effect_pct))
    return 1 if fail_on_regression and flagged else 0
