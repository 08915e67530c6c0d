"""Pairs the runs of an A/B experiment (bench.treatments) and measures each treatment's effect,
from the run folders alone: `bench run` and `bench experiment DIR` call the same `write`.

Per experiment, load point and treatment, against the baseline at the same load point (every
repetition of both arms):
- effects: for each key of EXPERIMENT_EFFECTS (bench.metrics.views), the ratio treatment / baseline
  with its interval from the repetitions' own values, paired by round (bench.analysis.rounds), and
  for the verdict family a direction-aware verdict at a simultaneous 95% (bench.analysis.verdicts:
  regression / improvement / equivalent / inconclusive; >= 2 repetitions per arm); the other keys
  are "not judged"; `speedup` = the ratio of output_tok_s;
- spec: acceptance metrics (bench.metrics.speculative), kv: KV-cache metrics of both arms
  (bench.metrics.kv), fidelity: greedy agreement and teacher-forced metrics (bench.metrics.fidelity;
  a backend declares how: "offline" ones here, "live" ones read from the file that
  bench.experiments.live_fidelity wrote into the arm's folder while the engines were up). Each
  backend says what it can report (bench.backends.base.Backend).
- not_run: per experiment, the arms whose runs were skipped (this machine cannot run them) or
  failed, with the reason; the other arms are paired without them.

Writes `<results>/<suite id>.experiment.json` (this module is its only writer), one per suite
(the `bench run` that made the runs); run folders are only read.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import registry
from bench.metrics import fidelity, views
from bench.metrics import kv as kv_metrics
from bench.metrics import speculative as spec_metrics
from bench.analysis import compare, rounds, runsets, stats, verdicts
from bench.errors import UserError
from bench.results import store
from bench.results.files import atomic_write_json
from bench.results.run import Run, load_point, not_run_reason, suite_of
from bench.treatments import BASELINE
from bench.workloads import sent_prompts


def _arm_name(r) -> str:
    return r.spec.treatment.name if r.spec.treatment else BASELINE


def _samples(r: Run) -> list:
    return r.samples()


def _engine_sum(runs) -> dict[str, float]:
    """Counters summed over repetitions; gauges (capacity, peak usage) as their maximum."""
    out: dict[str, float] = {}
    for r in runs:
        for k, v in (r.meta.get("engine") or {}).items():
            gauge = k.endswith(("_perc", "_capacity", "_max_concurrency"))
            out[k] = max(out.get(k, v), v) if gauge else out.get(k, 0.0) + v
    return out


def judged(extra: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys an experiment judges together: the verdict family among its effects, and the
    keys its config names in `judge` (bench.treatments)."""
    return tuple(dict.fromkeys((*compare.family_of(views.EXPERIMENT_EFFECTS), *extra)))


def _extra(runs: list[Run]) -> list[str]:
    return list(runs[0].spec.treatment.judge) if runs and runs[0].spec.treatment else []


def _effects(name: str, load: float | None, base: list[list], treat: list[list], slo: dict,
             paired: bool = False, extra: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """Each effect key (and each key of `extra`), treatment against baseline, the run as the unit;
    the verdict family and `extra` judged together at a simultaneous 95%, the others shown and not
    judged. paired: run k of each arm is one round (bench.analysis.rounds). With one repetition no
    verdict (NO_DRIFT)."""
    keys = tuple(dict.fromkeys((*views.EXPERIMENT_EFFECTS, *extra)))
    found = runsets.compare_family(keys, base, treat, slo, slo, judged(extra), within_run=False, pair_runs=paired)
    rows = []
    for key, c in found.items():
        if c is None or c.change_pct is None:
            continue
        ci = c.ci_low_pct is not None
        rows.append({"treatment": name, "load": load, "metric": key, "baseline": c.a, "value": c.b,
                     "ratio": 1 + c.change_pct / 100, "ci_low": 1 + c.ci_low_pct / 100 if ci else None,
                     "ci_high": 1 + c.ci_high_pct / 100 if ci else None, "verdict": c.verdict,
                     "ci_level": c.ci_level, "mde_pct": c.mde_pct, "runs_needed": c.runs_needed,
                     "runs_baseline": c.runs_a, "runs_treatment": c.runs_b, "paired": c.runs_paired,
                     "n_baseline": c.n_a, "n_treatment": c.n_b})
    return rows


def _arm_metrics(backend, runs, samples: list[list]) -> dict[str, Any]:
    r0 = runs[0]
    options = r0.spec.backend.options
    engine = _engine_sum(runs)
    pooled = [s for ss in samples for s in ss]
    return {"spec": spec_metrics.for_run(backend, options, engine, pooled),
            "kv": kv_metrics.for_run(r0.meta["model_path"], backend, options, engine, r0.summary)}


def _fidelity(backend, base_runs, treat_runs, base_s: list[list], treat_s: list[list]) -> dict:
    if treat_runs[0].spec.treatment.workload:
        return {}     # the arm asked the model for other work (a thinking budget): no agreement to measure
    # repetition i against repetition i, pairs of all repetitions pooled
    out = fidelity.greedy_of([p for b, t in zip(base_s, treat_s) for p in fidelity.pairs(b, t)])
    bopts, topts = base_runs[0].spec.backend.options, treat_runs[0].spec.backend.options
    # a speculative arm's tokens are verified by the target model: the same distribution
    if backend.teacher_forced == "offline" and not backend.is_speculative(topts):
        out |= backend.teacher_forced_offline(base_runs[0].meta["model_path"], bopts, topts, base_s[0],
                                              sent_prompts(base_runs[0]))
    live = treat_runs[0].dir / fidelity.TEACHER_FORCED_FILE     # "live" backends, measured in the run
    return out | (json.loads(live.read_text()) if live.exists() else {})


def _point(load: float | None, arms: dict[str, list]) -> list[dict[str, Any]]:
    base_runs = arms[BASELINE]
    backend = registry.backend_class(base_runs[0].spec.backend.name)
    slo = base_runs[0].spec.slo.model_dump()
    base_s = [_samples(r) for r in base_runs]
    out = [{"treatment": BASELINE, "load": load, "runs": [r.run_id for r in base_runs],
            **_arm_metrics(backend, base_runs, base_s)}]
    for name, runs in arms.items():
        if name == BASELINE:
            continue
        treat_s = [_samples(r) for r in runs]
        rnd = rounds.match(base_runs, runs)       # the arms ran in rounds (A B A B): pair by round
        effects = _effects(name, load, [_samples(r) for r in rnd.a], [_samples(r) for r in rnd.b], slo,
                           rnd.paired, _extra(base_runs))
        speed = next((e for e in effects if e["metric"] == "output_tok_s"), None)
        out.append({"treatment": name, "load": load, "runs": [r.run_id for r in runs],
                    "options": runs[0].spec.treatment.options, "effects": effects,
                    "speedup": speed and {k: speed[k] for k in ("ratio", "ci_low", "ci_high", "verdict")},
                    **_arm_metrics(backend, runs, treat_s),
                    "fidelity": _fidelity(backend, base_runs, runs, base_s, treat_s)})
    return out


def analyze(runs: list[Run]) -> list[dict[str, Any]]:
    """One summary per experiment among `runs` (in the order the runs ran)."""
    groups: dict[str, dict[Any, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    members: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        if r.meta["config"].get("treatment"):
            members[r.spec.treatment.experiment].append(r)
            if r.status not in ("failed", "skipped"):
                groups[r.spec.treatment.experiment][load_point(r.meta)][_arm_name(r)].append(r)
    out = []
    for exp, rs in members.items():
        points = groups.get(exp, {})
        first = rs[0]
        arms = [a for load, p in points.items() if BASELINE in p for a in _point(load, p)]
        extra = _extra(rs)
        out.append({"experiment": exp, "name": first.spec.name, "backend": first.spec.backend.name,
                    "model": first.spec.model, "rule": stats_rule(extra), "judged": list(judged(extra)),
                    "arms": arms, "not_run": not_run(rs)})
    return out


def not_run(runs: list[Run]) -> list[dict[str, Any]]:
    """The arms (per load point) with runs that were skipped (this machine cannot run them) or
    failed (their engine did not start, or every request failed), with the reason."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in runs:
        if r.status not in ("failed", "skipped"):
            continue
        reason = not_run_reason(r.meta) or r.meta.get("error") or "failed"
        row = out.setdefault((_arm_name(r), load_point(r.meta), r.status, reason), {
            "treatment": _arm_name(r), "load": load_point(r.meta), "status": r.status, "reason": reason, "runs": []})
        row["runs"].append(r.run_id)
    return list(out.values())


def stats_rule(extra: list[str] | tuple[str, ...] = ()) -> str:
    family = ", ".join(judged(extra))
    return (f"ratio = treatment / baseline, the run (repetition) as the unit (bench.analysis.verdicts): interval "
            f"of log(ratio) from the runs' own values, a paired t over rounds (the same suite and repetition "
            f"ran side by side; Welch t on log run values when rounds do not match), no request resampled; "
            f"{family} judged at a simultaneous {stats.CI_LEVEL:.0%} (Bonferroni), the other metrics shown "
            f"with their own {stats.CI_LEVEL:.0%} interval and not judged; regression/improvement when the "
            f"interval excludes 1 and the ratio is beyond +/-{stats.MIN_EFFECT_PCT:g}% in the metric's bad/good "
            f"direction, equivalent when the whole interval lies inside +/-{stats.MIN_EFFECT_PCT:g}%, else "
            f"inconclusive (with the MDE and the repetitions needed); with 1 repetition: "
            f"'{verdicts.NO_DRIFT}'")


def file_name(runs: list[Run]) -> str:
    """`<suite id>.experiment.json`; runs made before suites were recorded: `<stamp>-<name>`."""
    first = runs[0]
    suite = first.meta.get("suite")
    return f"{suite or first.run_id.split('-')[0] + '-' + first.spec.name}.experiment.json"


def write(runs: list[Run], results_dir: Path | str) -> list[Path]:
    """Analyse the experiments among `runs` and write one file per suite that has any."""
    suites: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        if r.meta["config"].get("treatment"):
            suites[suite_of(r)].append(r)
    paths = []
    for members in suites.values():
        exps = analyze(members)
        if exps:
            path = Path(results_dir) / file_name(members)
            atomic_write_json(path, {"experiments": exps})
            paths.append(path)
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a results folder (e.g. out/bench)")


def main(args: argparse.Namespace) -> int:
    """`bench experiment DIR`: every experiment file of DIR recomputed from its run folders."""
    folder = args.folder
    path = Path(folder)
    if not path.is_dir():
        raise UserError(folder, "no such results folder")
    paths = write(store.find_runs([path]), path)
    if not paths:
        print(f"no A/B experiment runs under {folder}")
    for p in paths:
        print(render_file(p))
        print(f"experiment summary: {p}")
    return 0


def _f(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


ARM_COLUMNS = [("accept\nrate", "spec", "spec_acceptance_rate"), ("accept\nlen", "spec", "spec_mean_accept_len"),
               ("token\nagree", "fidelity", "fid_token_agreement"),
               ("prefix\nagree", "fidelity", "fid_prefix_agreement"),
               ("1st\ndiv", "fidelity", "fid_first_divergence_mean"), ("TF\ntop1", "fidelity", "tf_top1_agreement"),
               ("TF KL\nnats", "fidelity", "tf_kl_mean"), ("KV\nB/token", "kv", "kv_bytes_per_token"),
               ("KV cap\ntokens", "kv", "kv_cache_tokens_capacity"), ("max\nconc", "kv", "kv_cache_max_concurrency"),
               ("pre-\nempt", "kv", "num_preemptions"), ("peak\nRSS MB", "kv", "peak_rss_mb")]


def _by_pos(spec: dict[str, float]) -> str:
    pos = sorted((int(k.removeprefix("spec_accept_rate_pos")), v) for k, v in spec.items()
                 if k.startswith("spec_accept_rate_pos"))
    return "/".join(f"{v:.2f}" for _, v in pos) or "-"


def _table(title: str, header: list[str]):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for h in header:   # a verdict reads whole ("no significant change")
        t.add_column(h, justify="left" if h in ("treatment", "metric", "verdict") else "right", no_wrap=h == "verdict")
    return t


def _lead(arm: dict[str, Any], one_load: bool) -> list[str]:
    return [arm["treatment"]] if one_load else [arm["treatment"], _f(arm["load"])]


def render(exps: list[dict[str, Any]], width: int = 100, brief: bool = False, folder: str | None = None) -> str:
    """Per experiment: effects (ratio, 95% CI, verdict) and, per arm, acceptance and fidelity,
    then the KV cache: two tables, so each fits 100 columns with whole headers. `brief`: the
    effects only (bench run's terminal; `bench experiment` and the report have the rest)."""
    from io import StringIO

    from rich.console import Console
    from rich.markup import escape

    buf = StringIO()
    con = Console(file=buf, width=width, force_terminal=False)
    for exp in exps:
        # one load (the usual A/B): named in the titles, not a column of its own
        loads = {_f(a["load"]) for a in exp["arms"]}
        one = len(loads) == 1
        where = escape(f"{exp['name']} [{exp['backend']}, {exp['model']}]")
        where += f" at load {next(iter(loads))}" if one else ""
        lead = ["treatment"] if one else ["treatment", "load"]
        effects = _table(f"{where}: treatment / baseline", [*lead, "metric", "baseline", "value", "ratio",
                                                             "interval", "verdict"])
        for arm in (a for a in exp["arms"] if a["treatment"] != BASELINE):
            printed = (*views.EXPERIMENT_PRINTED, *exp.get("judged", ()))
            for e in (e for e in arm["effects"] if e["metric"] in printed):
                ci = "-" if e["ci_low"] is None else f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
                effects.add_row(*_lead(arm, one), e["metric"], _f(e["baseline"]),
                                _f(e["value"]), f"{e['ratio']:.3f}", ci, e["verdict"])
        con.print(effects)
        for row in exp.get("not_run") or []:
            con.print(f"{row['treatment']} @ load {_f(row['load'])}: {row['status']} ({len(row['runs'])} run(s)): "
                      f"{row['reason']}", highlight=False, soft_wrap=True)
        if brief:
            continue
        split = next(i for i, c in enumerate(ARM_COLUMNS) if c[1] == "kv")
        for title, cols, by_pos in ((f"{where}: acceptance and fidelity against the baseline",
                                     ARM_COLUMNS[:split], True),
                                    (f"{where}: KV cache and memory", ARM_COLUMNS[split:], False)):
            heads = [c[0] for c in cols]
            if by_pos:
                heads.insert(2, "accept\nby pos")
            arms = _table(title, [*lead, *heads])
            for arm in exp["arms"]:
                cells = [_f((arm.get(sec) or {}).get(key)) for _, sec, key in cols]
                if by_pos:
                    cells.insert(2, _by_pos(arm.get("spec") or {}))
                arms.add_row(*_lead(arm, one), *cells)
            con.print(arms)
    if brief:
        con.print("ratio = treatment / baseline; acceptance, fidelity, KV cache per arm: "
                  f"bench experiment {folder or 'DIR'}", highlight=False, soft_wrap=True)
    else:
        rules = list(dict.fromkeys(exp.get("rule") or stats_rule() for exp in exps)) or [stats_rule()]
        con.print(" ".join(rules) + ". '-': not measured for that arm (README: Treatments and A/B experiments).")
    return buf.getvalue()


def run_ids(path: Path | str) -> set[str]:
    """The runs an experiment file pairs."""
    try:
        exps = json.loads(Path(path).read_text()).get("experiments") or []
    except (OSError, ValueError, AttributeError):
        return set()
    return {run for exp in exps for arm in exp.get("arms") or [] for run in arm.get("runs") or []}


def render_file(path: Path | str, brief: bool = False) -> str:
    return render(json.loads(Path(path).read_text())["experiments"], brief=brief, folder=str(Path(path).parent))
