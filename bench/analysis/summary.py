"""`bench summary`: what a suite found, in plain text: the workloads side by side, token
inflation and cost per unit of work, capacity at SLO, treatment verdicts, and the comparison with
a baseline (earlier runs of the same series, e.g. the committed results/ of this hardware).

Reads results only (run folders, *.capacity.json, *.experiment.json).
"""
from __future__ import annotations

import argparse
import json
import math
import textwrap
from pathlib import Path
from typing import Any

from bench.analysis import runsets, verdicts
from bench.errors import UserError
from bench.metrics import inflation as token_inflation
from bench.metrics import views
from bench.metrics.definitions import column_for
from bench.results import store
from bench.results.run import counts_as_failed, is_plain, not_run_reason, suite_of
from bench.results import capacity_file
from bench.results.capacity_file import describe as capacity_line

PRICE_PER_HOUR = 2.0   # an illustrative price per GPU-hour for the cost column; forecast takes yours


def _plain(runs: list[store.Run]) -> list[store.Run]:
    """Runs that are neither capacity probes nor treatment arms, and ran."""
    return [r for r in runs if is_plain(r) and not_run_reason(r.meta) is None]


def not_run(runs: list[store.Run]) -> list[str]:
    """Runs and arms that were skipped (this machine cannot run them) or whose engine did not
    start, with the reason: one line per arm or run and reason."""
    from bench.backends.preflight import name

    counts: dict[str, int] = {}
    for r in runs:
        if (why := not_run_reason(r.meta)) is not None:
            line = f"  {r.status}: {name(r.spec)}: {why}"
            counts[line] = counts.get(line, 0) + 1
    lines = [line + (f" ({n} runs)" if n > 1 else "") for line, n in counts.items()]
    return ["not run (skipped: this machine cannot run it; failed: its engine did not start):", *lines] \
        if lines else []


WIDTH = 100   # a table wider than this goes on below itself, the first column repeated


def _table(header: list[str], rows: list[list[str]], width: int = WIDTH) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    groups: list[list[int]] = [[]]
    used = widths[0]
    for i in range(1, len(header)):
        if groups[-1] and used + 2 + widths[i] > width:
            groups.append([])
            used = widths[0]
        groups[-1].append(i)
        used += 2 + widths[i]
    def fmt(row: list[str], cols: list[int]) -> str:
        return "  ".join(str(row[i]).rjust(widths[i]) if i else str(row[i]).ljust(widths[i]) for i in (0, *cols))

    out: list[str] = []
    for n, cols in enumerate(groups):
        out += ([""] if n else []) + [fmt(row, cols) for row in (header, *rows)]
    return out


def workloads(runs: list[store.Run]) -> list[str]:
    if not runs:
        return []
    keys = [k for k in views.SUITE_TABLE if any(k in r.summary for r in runs)]
    cols = [column_for(k, narrow=True) for k in keys]
    rows = [[r.meta.get("label") or r.meta.get("name"), r.meta["config"]["workload"]["kind"], r.meta["status"],
             *[c.fmt.format(r.summary[k]) if k in r.summary else "-" for k, c in zip(keys, cols)]] for r in runs]
    header = ["run", "workload", "status", *[c.title for c in cols]]
    return ["workloads (closed loop as configured):", *_table(header, rows)]


def inflation(runs: list[store.Run]) -> list[str]:
    """Tokens per unit of work, its ratio to a chat turn, and what a unit costs on one replica at
    the measured rate (1 / units per second of the run, at PRICE_PER_HOUR): over the plain runs
    of the first suite among `runs`."""
    suites: dict[str, list[store.Run]] = {}
    for r in runs:
        suites.setdefault(suite_of(r), []).append(r)
    data = next((d for d in (token_inflation.table(token_inflation.of_runs(rs)) for rs in suites.values())
                 if d["rows"]), None)
    if data is None:
        return []
    by_label = {(r.meta.get("label") or r.meta.get("name")): r for r in runs}
    # A reasoning run's output splits into thoughts and answer (the think markers are the rest).
    thinks = any(row.get("reasoning_tokens") is not None for row in data["rows"])
    rows = []
    for row in data["rows"]:
        r = by_label.get(row["run"])
        if r is None:
            continue
        rate = r.summary.get("tasks_s" if row["unit"] == "task" else "request_s") or 0
        split = [("-" if row.get(k) is None else f"{row[k]:.0f}") for k in ("reasoning_tokens", "answer_tokens")]
        cached = "-" if row.get("cached_prompt_tokens") is None else f"{row['cached_prompt_tokens']:.0f}"
        rows.append([row["run"], row["unit"], f"{row['calls']:.1f}", f"{row['prompt_tokens']:.0f}", cached,
                     f"{row['output_tokens']:.0f}", *(split if thinks else []), f"{row['total_tokens']:.0f}",
                     f"{row['vs_baseline']:.1f}x", f"{1 / rate:.3g}" if rate else "-",
                     f"${1000 * PRICE_PER_HOUR / 3600 / rate:.3g}" if rate else "-"])
    head = ["run", "per", "calls", "prompt", "cached", "output", *(["thought", "answer"] if thinks else []),
            "total", "x", "replica-s", "$/1k"]
    return ["tokens and cost per unit of work (tokens per unit; x = total / "
            f"{data['baseline']}'s total; replica-s = 1 / units/s;",
            f"  $/1k: 1,000 units at ${PRICE_PER_HOUR:g} per replica-hour):", *_table(head, rows)]


def capacity_files(folder: Path) -> list[dict[str, Any]]:
    return [capacity_file.read(p) | {"file": p.name} for p in sorted(folder.glob("*.capacity.json"))]


def capacities(folder: Path) -> list[str]:
    docs = capacity_files(folder)
    return ["capacity at SLO (search; a confirmed load, bracket = [last load meeting, first missing]):",
            *[textwrap.indent(capacity_line(d), "  ") for d in docs]] if docs else []


def treatments(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.glob("*.experiment.json")):
        for exp in json.loads(path.read_text()).get("experiments", []):
            out += [_arm_line(arm) for arm in exp.get("arms", []) if arm.get("effects") is not None]
            out += [f"  {row['treatment']} @ load {row.get('load')}: {row['status']}: {row['reason']}"
                    for row in exp.get("not_run") or []]
    return ["treatments (A/B vs the baseline: ratio and its interval from the repetitions' values; regression or "
            "improvement when the interval excludes 1 and the ratio is beyond +/-5%; docs/statistics.md says how "
            "many repetitions a change of a given size needs):",
            *out] if out else []


def _arm_line(arm: dict[str, Any]) -> str:
    effects = {e["metric"]: e for e in arm["effects"]}
    parts = []
    for key in ("output_tok_s", "tpot_ms_p50", "ttft_ms_p50"):
        if (e := effects.get(key)) is not None:
            ci = f" [{e['ci_low']:.2f}, {e['ci_high']:.2f}]" if e.get("ci_low") is not None else ""
            parts.append(f"{key} x{e['ratio']:.2f}{ci} {e['verdict']}")
    spec, kv, fid = arm.get("spec") or {}, arm.get("kv") or {}, arm.get("fidelity") or {}
    if spec.get("spec_acceptance_rate") is not None:
        parts.append(f"acceptance {spec['spec_acceptance_rate']:.0%}")
    if kv.get("kv_bytes_per_token") is not None:
        parts.append(f"KV {kv['kv_bytes_per_token']:.0f} B/token")
    for k in ("fid_token_agreement", "tf_top1_agreement", "tf_kl_mean"):
        if fid.get(k) is not None:
            parts.append(f"{k} {fid[k]:.3g}")
    return f"  {arm['treatment']} @ load {arm.get('load')}: " + "; ".join(parts)


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def baseline(runs: list[store.Run], base_runs: list[store.Run], folder: Path, base_dir: Path) -> list[str]:
    """Each run against the baseline runs of its series (same config and hardware), and each
    capacity search against the baseline's search of the same name and label."""
    by_series: dict[str, list[store.Run]] = {}
    for r in base_runs:
        if r.meta.get("status") == "complete":
            by_series.setdefault(store.keys(r.meta)["series"], []).append(r)
    lines = []
    for r in runs:
        old = by_series.get(store.keys(r.meta)["series"])
        label = r.meta.get("label") or r.meta.get("name")
        if not old:
            lines.append(f"  {label}: no baseline run of this config on this hardware")
            continue
        slo = r.meta["config"].get("slo")
        parts: list[tuple[str, str]] = []
        for key in views.SUITE_BASELINE:
            # the run is the unit: one new run is judged against the baseline runs' own spread (>= 2
            # of them); the baseline ran in another session, so the drift allowance applies
            c = runsets.compare(key, [o.samples() for o in old], [r.samples()], slo, slo, within_run=False,
                                drift_allowance_pct=verdicts.DRIFT_ALLOWANCE_PCT)
            if c is not None and c.change_pct is not None:
                parts.append((f"{key} {c.change_pct:+.0f}%", c.verdict))
        lines.append(f"  {label} vs {len(old)} baseline run{'s' if len(old) > 1 else ''}: " + _changes(parts))
    new_hw = {store.hardware(r.meta["env"]) for r in runs}
    old_caps = {(d["name"], d["label"]): d for d in capacity_files(base_dir) if d.get("hardware") in new_hw}
    for d in capacity_files(folder):
        o = old_caps.get((d["name"], d["label"]))
        verdict = None if o is None else capacity_file.compare(d, o)
        if verdict is None:
            lines.append(f"  capacity {d['label'] or d['name']}: no comparable baseline search")
            continue
        # different only when the spans are disjoint: each is where its search's answer lies
        # (an upper side only not shown met bounds nothing: capacity_file.span)
        if verdict == "within":
            verdict = "within the baseline's bracket"
        soft = any(_soft(x) for x in (d, o))
        lines.append(f"  capacity {d['label'] or d['name']}: {_g(d['capacity'])} in {_bracket(d)} vs baseline "
                     f"{_g(o['capacity'])} in {_bracket(o)} {d['unit']}: {verdict}"
                     + (" (?: not shown to miss, no bound)" if soft else ""))
    return [f"against the baseline in {base_dir} (the run as the unit, against the baseline runs' spread: "
            "docs/statistics.md;",
            f"  a verdict needs >= 2 baseline runs, its interval clear of +/-{verdicts.DRIFT_ALLOWANCE_PCT:g}% "
            "(another session) and a change beyond +/-5%):", *lines]


def _soft(d: dict[str, Any]) -> bool:
    """The search's upper side was only not shown met: it bounds nothing (capacity_file.span)."""
    return d["bracket_high"] is not None and capacity_file.span(d)[1] == math.inf


def _bracket(d: dict[str, Any]) -> str:
    return f"[{_g(d['bracket_low'])}, {_g(d['bracket_high'])}{'?' if _soft(d) else ''}]"


def _changes(parts: list[tuple[str, str]]) -> str:
    """Each metric's change with its verdict, the verdict said once when they all share it."""
    if len({v for _, v in parts}) == 1:
        return ", ".join(p for p, _ in parts) + f" ({parts[0][1]})"
    return ", ".join(f"{p} ({v})" for p, v in parts)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="the suite's results folder (e.g. out/bench)")
    p.add_argument("--baseline", metavar="FOLDER", help="earlier runs to compare with (e.g. results)")
    p.add_argument("--brief", action="store_true",
                   help="leave out what `bench run` printed just before (its tables, capacities, "
                        "treatments and runs not run): the cost per unit of work and the baseline remain")


def main(args: argparse.Namespace) -> int:
    return summarize(args.folder, args.baseline, args.brief)


def summarize(folder: str, base: str | None = None, brief: bool = False) -> int:
    path = Path(folder)
    runs = [r for r in store.find_runs([path])] if path.exists() else []
    if not runs:
        raise UserError(folder, "no runs here")
    plain = _plain(runs)
    sections = ([inflation(plain)] if brief else
                [workloads(plain), inflation(plain), capacities(path), treatments(path), not_run(runs)])
    if base:
        base_path = Path(base)
        base_runs = store.find_runs([base_path]) if base_path.exists() else []
        sections.append(baseline(plain, base_runs, path, base_path))
    print("\n\n".join("\n".join(s) for s in sections if s))
    # 1 when a run failed or was cut short, other than a probe its capacity search's time cap
    # stopped (part of a finished search); skipped runs said why: README, exit codes
    return 1 if any(counts_as_failed(r.meta) for r in runs) else 0
