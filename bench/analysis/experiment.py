"""Pairs the runs of an A/B experiment (bench.treatments) and measures each treatment's effect.

Per experiment, load point and treatment, against the baseline at the same load point (every
repetition of both arms):
- effects: for each key of EXPERIMENT_EFFECTS (bench.metrics.views), the ratio treatment / baseline
  with a 95% seeded bootstrap CI and a direction-aware verdict (bench.analysis.runsets.compare, the
  run as the unit, repetitions paired by round: improvement / regression only with >= 2
  repetitions per arm and the whole CI beyond +/- MIN_EFFECT_PCT); `speedup` = the ratio of output_tok_s;
- spec: acceptance metrics (bench.metrics.speculative), kv: KV-cache metrics of both arms
  (bench.metrics.kv), fidelity: greedy agreement and teacher-forced metrics (bench.metrics.fidelity;
  a backend declares how: "offline" ones here, "live" ones by bench.run.live_fidelity while the
  engines are up). Each backend says what it can report (bench.backends.base.Backend).

Writes `<results>/<first run's stamp>-<name>.experiment.json`, and into each run's run.json:
`treatment` (its arm), `experiment_file`, its own `spec` / `kv` / `fidelity` values, and in the
first repetition of each treatment arm `treatment_effects` (rows bench.analysis.report renders).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import registry
from bench.metrics import fidelity, views
from bench.metrics import kv as kv_metrics
from bench.metrics import speculative as spec_metrics
from bench.analysis import runsets, stats
from bench.results import store
from bench.results.files import atomic_write_json, read_samples, update_run
from bench.run.live_fidelity import TF_META, prompts_of
from bench.treatments import BASELINE


def _arm_name(r) -> str:
    return r.spec.treatment.name if r.spec.treatment else BASELINE


def _load(r) -> float | None:
    return store.load_point(r.meta["config"])


def _samples(r) -> list:
    return [s for s in read_samples(r.dir) if not s.warmup]


def _engine_sum(runs) -> dict[str, float]:
    """Counters summed over repetitions; gauges (capacity, peak usage) as their maximum."""
    out: dict[str, float] = {}
    for r in runs:
        for k, v in (r.meta.get("engine") or {}).items():
            gauge = k.endswith(("_perc", "_capacity", "_max_concurrency"))
            out[k] = max(out.get(k, v), v) if gauge else out.get(k, 0.0) + v
    return out


def _effects(name: str, load: float | None, base: list[list], treat: list[list], slo: dict) -> list[dict]:
    rows = []
    for key in views.EXPERIMENT_EFFECTS:
        # The arms run in rounds (A B A B): run k of each arm is one round. With one repetition
        # the interval holds within-run spread only and compare gives no verdict (NO_DRIFT).
        c = runsets.compare(key, base, treat, slo, slo, within_run=False, pair_runs=len(base) == len(treat))
        if c is None or c.change_pct is None:
            continue
        ci = c.ci_low_pct is not None
        rows.append({"treatment": name, "load": load, "metric": key, "baseline": c.a, "value": c.b,
                     "ratio": 1 + c.change_pct / 100, "ci_low": 1 + c.ci_low_pct / 100 if ci else None,
                     "ci_high": 1 + c.ci_high_pct / 100 if ci else None, "verdict": c.verdict,
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
    # repetition i against repetition i, pairs of all repetitions pooled
    out = fidelity.greedy_of([p for b, t in zip(base_s, treat_s) for p in fidelity.pairs(b, t)])
    bopts, topts = base_runs[0].spec.backend.options, treat_runs[0].spec.backend.options
    # a speculative arm's tokens are verified by the target model: the same distribution
    if backend.teacher_forced == "offline" and not backend.is_speculative(topts):
        out |= backend.teacher_forced_offline(base_runs[0].meta["model_path"], bopts, topts, base_s[0],
                                              prompts_of(base_runs[0], len(base_s[0])))
    return out | treat_runs[0].meta.get(TF_META, {})    # "live" backends: bench.run.live_fidelity


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
        effects = _effects(name, load, base_s, treat_s, slo)
        speed = next((e for e in effects if e["metric"] == "output_tok_s"), None)
        out.append({"treatment": name, "load": load, "runs": [r.run_id for r in runs],
                    "options": runs[0].spec.treatment.options, "effects": effects,
                    "speedup": speed and {k: speed[k] for k in ("ratio", "ci_low", "ci_high", "verdict")},
                    **_arm_metrics(backend, runs, treat_s),
                    "fidelity": _fidelity(backend, base_runs, runs, base_s, treat_s)})
    return out


def analyze(results: list) -> list[dict[str, Any]]:
    """One summary per experiment in `results` (RunResults of bench.run.runner)."""
    groups: dict[str, dict[Any, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in results:
        if r.spec.treatment and r.status != "failed":
            groups[r.spec.treatment.experiment][_load(r)][_arm_name(r)].append(r)
    out = []
    for exp, points in groups.items():
        first = next(iter(next(iter(points.values())).values()))[0]
        arms = [a for load, p in points.items() if BASELINE in p for a in _point(load, p)]
        out.append({"experiment": exp, "name": first.spec.name, "backend": first.spec.backend.name,
                    "model": first.spec.model, "rule": stats_rule(), "arms": arms})
    return out


def stats_rule() -> str:
    return (f"ratio = treatment / baseline; {stats.CI_LEVEL:.0%} percentile bootstrap CI ({stats.N_BOOT} "
            f"resamples, seeded): with >= 2 repetitions two-stage (repetitions, then requests within "
            f"them, paired by request id); with 1 repetition the CI holds within-run spread only and no "
            f"verdict is given (drift not measured); verdict improvement/regression only when the whole CI lies beyond "
            f"+/-{stats.MIN_EFFECT_PCT:g}%, by the metric's direction")


def _annotate(results: list, exps: list[dict[str, Any]], path: Path) -> None:
    by_id = {r.run_id: r for r in results}
    for exp in exps:
        for arm in exp["arms"]:
            for i, run_id in enumerate(arm["runs"]):
                r = by_id[run_id]
                extra = {"treatment": r.spec.treatment.model_dump(mode="json"), "experiment_file": path.name,
                         "spec": arm.get("spec"), "kv": arm.get("kv")}
                if arm["treatment"] != BASELINE:
                    extra["fidelity"] = arm.get("fidelity")
                    if i == 0:   # once per arm, so a report over all runs shows each row once
                        extra["treatment_effects"] = arm["effects"]
                r.meta.update(extra)
                update_run(r.dir, extra)


def finish(results: list, results_dir: Path | str) -> Path | None:
    """Analyse the experiments among `results`, write the summary file and annotate run.json."""
    exps = analyze(results)
    if not exps:
        return None
    first = results[0]
    path = Path(results_dir) / f"{first.run_id.split('-')[0]}-{first.spec.name}.experiment.json"
    atomic_write_json(path, {"experiments": exps})
    _annotate(results, exps, path)
    return path


def _f(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


ARM_COLUMNS = [("accept\nrate", "spec", "spec_acceptance_rate"), ("accept\nlen", "spec", "spec_mean_accept_len"),
               ("token\nagree", "fidelity", "fid_token_agreement"), ("prefix\nagree", "fidelity", "fid_prefix_agreement"),
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
    for h in header:
        t.add_column(h, justify="left" if h in ("treatment", "metric", "verdict") else "right")
    return t


def render(exps: list[dict[str, Any]], width: int = 150) -> str:
    """Per experiment: effects (ratio, 95% CI, verdict) and, per arm, acceptance, fidelity, KV."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    con = Console(file=buf, width=width, force_terminal=False)
    for exp in exps:
        where = f"{exp['name']} [{exp['backend']}, {exp['model']}]"
        effects = _table(f"{where}: treatment / baseline", ["treatment", "load", "metric", "baseline",
                                                             "treatment value", "ratio", "95% CI", "verdict"])
        for arm in (a for a in exp["arms"] if a["treatment"] != BASELINE):
            for e in (e for e in arm["effects"] if e["metric"] in views.EXPERIMENT_PRINTED):
                ci = "-" if e["ci_low"] is None else f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
                effects.add_row(arm["treatment"], _f(arm["load"]), e["metric"], _f(e["baseline"]),
                                _f(e["value"]), f"{e['ratio']:.3f}", ci, e["verdict"])
        con.print(effects)
        arms = _table(f"{where}: acceptance, fidelity against the baseline, KV cache",
                      ["treatment", "load", *[c[0] for c in ARM_COLUMNS[:2]], "accept\nby pos",
                       *[c[0] for c in ARM_COLUMNS[2:]]])
        for arm in exp["arms"]:
            arms.add_row(arm["treatment"], _f(arm["load"]), *[_f((arm.get(sec) or {}).get(key)) for _, sec, key
                                                            in ARM_COLUMNS[:2]], _by_pos(arm.get("spec") or {}),
                         *[_f((arm.get(sec) or {}).get(key)) for _, sec, key in ARM_COLUMNS[2:]])
        con.print(arms)
    con.print(stats_rule() + ". '-': not measured for that arm (README: Treatments and A/B experiments).")
    return buf.getvalue()


def render_file(path: Path | str) -> str:
    return render(json.loads(Path(path).read_text())["experiments"])
