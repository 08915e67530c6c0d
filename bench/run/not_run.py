"""A run that never measured anything still has its folder: a run.json with status `skipped`
(this machine cannot run it: preflight said so before the suite started) or `failed` (its engine
failed to start), and `reason`, written by the one writer. Readers then list it with its reason,
and the suite goes on without it."""
from __future__ import annotations

import time
from pathlib import Path

from bench.config import RunSpec
from bench.results.files import RunWriter, new_run_id
from bench.results.run import Run
from bench.telemetry import env as envinfo


def record(spec: RunSpec, results_dir: Path, suite: str, status: str, reason: str) -> Run:
    """The run folder of `spec`, never run: `status` skipped or failed, with `reason`."""
    now = time.time()
    writer = RunWriter(results_dir, new_run_id(spec.name, spec.label), {
        "name": spec.name, "label": spec.label, "suite": suite, "started_at": now,
        "config": spec.model_dump(mode="json"), "load_point": spec.load.point(), "model_path": spec.model,
        "env": envinfo.collect(), "backend_info": {"backend": spec.backend.name}})
    error = {"error": reason} if status == "failed" else {}
    writer.finish(status, reason=reason, **error, finished_at=now)
    return Run.made(writer.dir, spec)


def engine_failed(exc: BaseException) -> str:
    """The reason of a run whose engine did not start: the exception, on one line."""
    text = " ".join(str(exc).split())
    return f"engine failed to start: {type(exc).__name__}: {text[:500]}"
