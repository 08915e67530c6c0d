"""One run folder as the harness sees it after the run: its run.json (upgraded to the current
schema) and where it lives; samples load on demand. The runner returns these, and every reader
(compare, trend, report, experiments) takes them: one type for a run.

Older run.json schemas are upgraded on read (`upgrade`), so readers only ever see the current one.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.results.files import SCHEMA_VERSION, read_samples
from bench.types import Sample


def _load_point(load: Any) -> dict[str, Any] | None:
    """The load point of a `config.load` mapping, as the run would have recorded it."""
    from bench import load as loads
    from bench import registry

    if not isinstance(load, dict):
        return None
    try:
        cls = registry.load_class(loads.kind_of(load))
    except KeyError:          # a kind this bench no longer has: no point, not a refusal
        return None
    try:
        return cls.model_validate(load).point()
    except ValueError:        # a section written by hand or by an older bench: read as it is
        return cls.model_construct(**{k: v for k, v in load.items() if k in cls.model_fields}).point()


def _normal_load(load: Any) -> Any:
    """A flat v1 `load` section (every kind's keys, unused ones null) cut to its kind's keys."""
    from bench import load as loads
    from bench import registry

    if not isinstance(load, dict):
        return load
    try:
        fields = registry.load_class(loads.kind_of(load)).model_fields
    except KeyError:
        return load
    return {k: v for k, v in load.items() if k in fields}


def upgrade(meta: dict[str, Any]) -> dict[str, Any]:
    """Bring a run.json of any known schema version to the current one (pure; returns a copy).

    Version 0 (no `schema_version`, pre-release): `summary` was called `metrics`, `env.git_sha`
    was `env.git` and there was no `status` (a run that has a summary finished).
    Version 1: `config.load` held every load kind's keys (unused ones null) and there was no
    `load_point`; it is cut to its kind's keys and the point is derived from it.
    """
    meta = json.loads(json.dumps(meta))
    version = meta.get("schema_version", 0)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"schema_version {version!r} is newer than this bench reads ({SCHEMA_VERSION})")
    if version == 0:
        if "metrics" in meta and "summary" not in meta:
            meta["summary"] = meta.pop("metrics")
        env = meta.setdefault("env", {})
        if "git" in env and "git_sha" not in env:
            env["git_sha"] = env.pop("git")
        meta.setdefault("status", "complete" if meta.get("summary") else "partial")
        version = 1
    for key, default in (("summary", {}), ("config", {}), ("env", {}), ("backend_info", {})):
        if not isinstance(meta.get(key), dict):
            meta[key] = default
    if version == 1 and "load" in meta["config"]:
        meta["config"]["load"] = _normal_load(meta["config"]["load"])
    if "load_point" not in meta:      # v1, or a run.json written by hand
        meta["load_point"] = _load_point(meta["config"].get("load"))
    meta["schema_version"] = SCHEMA_VERSION
    return meta


def load_point(meta: dict[str, Any]) -> float | None:
    """The load a run offered, as it recorded when it started: sessions per second or sessions
    in flight (`load_point.per_second` says which)."""
    return (meta.get("load_point") or {}).get("value")


@dataclass(frozen=True)
class Run:
    """One run folder: its upgraded run.json and where it lives."""
    dir: Path
    meta: dict[str, Any]

    @classmethod
    def made(cls, run_dir: Path, spec: Any) -> Run:
        """The run this process just wrote, read back, with the spec it ran (not re-validated)."""
        run = read(run_dir)
        run.__dict__["spec"] = spec        # the cached_property's slot
        return run

    @property
    def run_id(self) -> str:
        return self.meta.get("run_id") or self.dir.name

    @property
    def status(self) -> str:
        return self.meta.get("status", "partial")

    @property
    def summary(self) -> dict[str, float]:
        return self.meta["summary"]

    @functools.cached_property
    def spec(self):
        """The run's bench.config.RunSpec, validated from its stored config."""
        from bench.config import RunSpec

        return RunSpec.model_validate(self.meta["config"], strict=False)   # JSON made int keys strings

    def samples(self, include_warmup: bool = False) -> list[Sample]:
        return [s for s in read_samples(self.dir) if include_warmup or not s.warmup]


def not_run_reason(meta: dict[str, Any]) -> str | None:
    """Why a run never measured anything (status `skipped`: this machine cannot run it; `failed`
    with a reason: its engine did not start), else None."""
    return meta.get("reason") if meta.get("status") in ("skipped", "failed") else None


def cut_by_time_cap(meta: dict[str, Any]) -> bool:
    """A capacity probe that its search's time cap stopped: part of a finished search."""
    return (meta.get("capacity_probe") or {}).get("stop") == "time_cap"


def counts_as_failed(meta: dict[str, Any]) -> bool:
    """A run that makes a suite fail (exit 1): failed, or cut short (`partial`) other than by its
    capacity search's time cap. `complete` and `skipped` (cannot run here, said why) do not."""
    status = meta.get("status", "partial")
    return status == "failed" or (status == "partial" and not cut_by_time_cap(meta))


def is_plain(run: Run) -> bool:
    """Neither a capacity probe nor an A/B arm: a run of the suite's own workloads."""
    cfg = run.meta["config"]
    return not run.meta.get("capacity_probe") and not cfg.get("treatment") and not run.meta.get("treatment")


def suite_of(run: Run) -> str:
    """The `bench run` a run belongs to (runs before suites were recorded: their config name)."""
    return run.meta.get("suite") or run.meta.get("name") or "?"


def read(run_dir: Path | str) -> Run:
    run_dir = Path(run_dir)
    path = run_dir / "run.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(str(path), "not a run folder (no run.json)") from None
    except json.JSONDecodeError as exc:
        raise UserError(str(path), f"invalid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return Run(run_dir, upgrade(meta))
    except ValueError as exc:
        raise UserError(str(path), str(exc)) from None
