"""The results store: run folders -> pandas DataFrames, comparable-run groups, run look-up.

Layout and schema are documented in results/README.md; one run folder is a
bench.results.run.Run (read and upgraded there).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import pandas as pd

from bench.errors import UserError
from bench.results.run import Run, load_point, read, upgrade  # noqa: F401  (the store's readers' vocabulary)


def _version_dists(name: str | None) -> tuple[str, ...]:
    """Which installed distributions are "the backend's version" (the backend declares them)."""
    from bench import registry

    try:
        return tuple(registry.backend_class(name).version_dists)
    except (KeyError, ImportError, TypeError):   # a backend this bench no longer has
        return ()


def find_runs(paths: Iterable[Path | str]) -> list[Run]:
    """Each path is a run folder or a folder of run folders (searched recursively)."""
    runs: dict[Path, Run] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise UserError(str(p), "no such run folder or results folder")
        dirs = [p] if (p / "run.json").exists() else sorted(x.parent for x in p.rglob("run.json"))
        for d in dirs:
            runs.setdefault(d.resolve(), read(d))
    return sorted(runs.values(), key=lambda r: (r.meta.get("started_at") or 0, r.run_id))


def resolve(ref: str, results_dir: Path | str = "results") -> Run:
    """A run by folder path, by run_id, or by a unique part of its run_id under results_dir."""
    if (Path(ref) / "run.json").exists():
        return read(ref)
    root = Path(results_dir)
    hits = [r for r in (find_runs([root]) if root.exists() else []) if ref in r.run_id]
    exact = [r for r in hits if r.run_id == ref]
    if len(exact) == 1 or len(hits) == 1:
        return (exact or hits)[0]
    if not hits:
        raise UserError(ref, f"no run folder or run_id matching it under {root}")
    raise UserError(ref, f"matches {len(hits)} runs under {root}: {', '.join(r.run_id for r in hits[:4])} ...")


def resolve_set(ref: str, results_dir: Path | str = "results") -> list[Run]:
    """A set of runs: comma-separated parts, each a run folder, a folder of runs (its complete
    runs), a glob of those, a series key (as `bench ls` prints it) or a run_id (part)."""
    out: dict[Path, Run] = {}
    for part in (p.strip() for p in ref.split(",") if p.strip()):
        if any(c in part for c in "*?["):
            paths = sorted(glob.glob(part))
            if not paths:
                raise UserError(part, "the pattern matches no run folder")
            runs = [r for r in find_runs(paths) if r.meta.get("status") == "complete"]
        elif (Path(part) / "run.json").exists():
            runs = [read(part)]
        elif Path(part).is_dir():
            runs = [r for r in find_runs([part]) if r.meta.get("status") == "complete"]
            if not runs:
                raise UserError(part, "no complete runs under this folder")
        else:
            root = Path(results_dir)
            every = find_runs([root]) if root.exists() else []
            runs = [r for r in every if keys(r.meta)["series"] == part] or [resolve(part, results_dir)]
        for r in runs:
            out.setdefault(r.dir.resolve(), r)
    if not out:
        raise UserError(ref, "names no runs")
    return sorted(out.values(), key=lambda r: (r.meta.get("started_at") or 0, r.run_id))


# What makes two runs measure the same thing; compare refuses verdicts when any differs.
def comparable_fields(meta: dict[str, Any]) -> dict[str, str]:
    cfg = meta["config"]
    backend = cfg.get("backend") or {}
    load = cfg.get("load") or {}
    return {"model": str(cfg.get("model")), "hardware": hardware(meta["env"]),
            "backend": str(backend.get("name")), "backend version": str(backend_version(meta)),
            "workload": f"{(cfg.get('workload') or {}).get('kind')} #{_digest(cfg.get('workload'))}",
            "seed": str(cfg.get("seed")),
            "load": f"{load.get('kind')} {load_point(meta)} x{load.get('requests') or load.get('duration_s')}"}


def differences(a: list[Run], b: list[Run]) -> list[str]:
    """What differs between (or inside) two sets of runs, one phrase per field; [] = comparable."""
    out = []
    for field in comparable_fields(a[0].meta):
        va = sorted({comparable_fields(r.meta)[field] for r in a})
        vb = sorted({comparable_fields(r.meta)[field] for r in b})
        if va == vb and len(va) == 1:
            continue
        out.append(f"{field} {' | '.join(va)} vs {' | '.join(vb)}")
    return out


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def backend_version(meta: dict[str, Any]) -> str | None:
    info, versions = meta["backend_info"], meta["env"].get("versions") or {}
    name = (meta["config"].get("backend") or {}).get("name") or info.get("backend")
    if info.get("version"):
        return str(info["version"])
    for dist in _version_dists(name):
        if info.get(dist) or versions.get(dist):
            return f"{dist} {info.get(dist) or versions.get(dist)}"
    return None


def hardware(env: dict[str, Any]) -> str:
    gpu = env.get("gpu") or {}
    if gpu.get("names"):
        return f"{gpu.get('count', len(gpu['names']))}x {gpu['names'][0]} (driver {gpu.get('driver')})"
    return f"{env.get('cpu') or '?'} x{env.get('cpu_count') or '?'} (no GPU)"


def treatment_name(meta: dict[str, Any]) -> str | None:
    """A run's treatment, when the runs carry one (run.json or config `treatment`)."""
    t = meta.get("treatment", meta["config"].get("treatment"))
    if isinstance(t, dict):
        t = t.get("name")
    return None if t in (None, "", "baseline") else str(t)


def repetition(run: Run) -> int | None:
    """Which repetition of its config a run is (config `repetition`, else its treatment's)."""
    cfg = run.meta["config"]
    if isinstance(cfg.get("repetition"), int):
        return cfg["repetition"]
    t = cfg.get("treatment") or run.meta.get("treatment")
    return t.get("repetition") if isinstance(t, dict) else None


def keys(meta: dict[str, Any]) -> dict[str, str]:
    """`group`: runs one may compare (same model, backend and version, hardware, workload and
    seed), across load points and treatments. `series`: the same measurement repeated over
    time: same config apart from name/label and same hardware; versions and commits may differ
    (that is what a trend follows)."""
    cfg = meta["config"]
    backend = cfg.get("backend") or {}
    group = [cfg.get("model"), backend.get("name"), backend_version(meta), hardware(meta["env"]),
             cfg.get("workload"), cfg.get("seed")]
    series_cfg = {k: v for k, v in cfg.items() if k not in ("name", "label", "repetition", "treatment")}
    return {"group": _digest(group), "series": _digest([series_cfg, hardware(meta["env"]),
                                                        treatment_name(meta)])}


def run_row(run: Run) -> dict[str, Any]:
    m, cfg = run.meta, run.meta["config"]
    env, load = m["env"], cfg.get("load") or {}
    workload = cfg.get("workload") or {}
    gpu = env.get("gpu") or {}
    row = {
        "run_id": run.run_id, "dir": str(run.dir), "name": m.get("name"), "label": m.get("label"),
        "status": m.get("status"), "schema_version": m.get("schema_version"),
        "started_at": pd.to_datetime(m.get("started_at"), unit="s", utc=True) if m.get("started_at") else pd.NaT,
        "git_sha": env.get("git_sha"), "git_dirty": env.get("git_dirty"),
        "model": cfg.get("model"), "backend": (cfg.get("backend") or {}).get("name"),
        "backend_version": backend_version(m), "hardware": hardware(env), "cpu": env.get("cpu"),
        "gpu": (gpu.get("names") or [None])[0], "gpu_driver": gpu.get("driver"),
        "workload": workload.get("kind"), "workload_digest": _digest(workload), "seed": cfg.get("seed"),
        "load_kind": load.get("kind"), "concurrency": load.get("concurrency"), "rate": load.get("rate"),
        "load_point": load_point(m), "treatment": treatment_name(m),
        **keys(m),
    }
    return row | {k: v for k, v in m["summary"].items() if k not in row}


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: provenance columns, then every summary metric as its own column."""
    return pd.DataFrame([run_row(r) for r in runs])


def samples_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per measured request (warm-up excluded) with its per-request metrics (the scalar
    metrics of bench.metrics.definitions; None where the request did not complete)."""
    from bench.metrics.definitions import METRICS
    from bench.metrics.sample_values import completed

    per_request = [m for m in METRICS.values() if m.kind == "scalar"]
    rows = []
    for run in runs:
        for s in run.samples():
            ok = completed(s)
            rows.append({
                "run_id": run.run_id, "request_id": s.request_id, "task_id": s.task_id, "ok": ok,
                "error": s.error, "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens,
                "cached_prompt_tokens": s.cached_prompt_tokens, "sent_ns": s.sent_ns, "end_ns": s.end_ns,
                **{m.name: m.per_sample(s) if ok else None for m in per_request},
            })
    return pd.DataFrame(rows)


LS_COLUMNS = ["run_id", "status", "model", "backend", "backend_version", "workload", "load_kind",
              "load_point", "treatment", "git_sha", "group", "series"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["results"])


def main(args: argparse.Namespace) -> int:
    """`bench ls`: one line per run, oldest first, with the keys that group comparable runs."""
    paths = args.paths
    runs = find_runs(paths)
    if not runs:
        print(f"no runs under {', '.join(paths)}")
        return 0
    df = runs_frame(runs)
    df["git_sha"] = df["git_sha"].fillna("").str[:8]
    cols = [c for c in LS_COLUMNS if c in df] + [k for k in ("request_s", "output_tok_s", "ttft_ms_p50") if k in df]
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(df[cols].to_string(index=False, float_format="%.4g"))
    print(f"{len(df)} run(s); group = model, backend + version, hardware, workload + seed; "
          "series = same config on the same hardware")
    return 0
