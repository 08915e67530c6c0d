"""An imported peer result -> a run folder, through the project's one writer (RunWriter).

The run's config is a RunSpec of the shape the peer ran (model, an `openai` backend at the peer's
target, a chat workload of its lengths, its load), so `bench ls`, `compare`, `trend` and `report`
read it as they read our runs. What makes it the peer's: `backend_info` names the peer as the
client (so `compare` calls it not comparable with our runs unless --force: a different client),
and `imported` holds the peer's tool, version, files, native config, the fields skipped and the
metrics kept "as reported by <tool>".
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.config import RunSpec
from bench.interop.importers.base import Imported
from bench.metrics.core import summarize
from bench.results.files import RunWriter, new_run_id
from bench.results.run import Run, read


def _dist(value: float | None, fixed: bool) -> dict[str, Any]:
    if value is None:          # the file does not say: a placeholder, and a note says so
        return {"dist": "fixed", "value": 1}
    if fixed:
        return {"dist": "fixed", "value": max(1, round(value))}
    return {"dist": "lognormal", "median": max(1.0, float(value)), "p90": max(1.0, float(value)) * 1.5}


def spec_of(imp: Imported) -> RunSpec:
    """The RunSpec closest to what the peer ran (lengths and load as its file states them)."""
    s = imp.shape
    if s.load_kind == "concurrency":
        load: dict[str, Any] = {"kind": "concurrency", "concurrency": max(1, int(s.load_value or 1))}
    else:
        load = {"kind": "rate", "rate": float(s.load_value) if s.load_value else 1e6}   # 1e6: unbounded (inf)
    load["requests"] = max(1, int(s.requests or len(imp.samples) or 1))
    base_url = (s.url or "http://127.0.0.1:8000").rstrip("/")
    options = {"base_url": base_url if base_url.endswith("/v1") else base_url + "/v1"}
    return RunSpec.model_validate({
        "name": "import", "label": imp.tool.replace(" ", "-"), "model": s.model or "unknown",
        "backend": {"name": "openai", "options": options},
        "workload": {"kind": "chat", "input_tokens": _dist(s.input_tokens, s.fixed_lengths),
                     "output_tokens": _dist(s.output_tokens, s.fixed_lengths)},
        "load": load})


def provenance(imp: Imported) -> dict[str, Any]:
    return {
        "tool": imp.tool, "tool_version": imp.tool_version or "not recorded in the file",
        "files": list(imp.files), "native_config": imp.native_config,
        "per_request": bool(imp.samples),
        "summary_from": ("our definitions over the peer's per-request records" if imp.samples else
                         "the peer's summary, converted where its definition is ours"),
        "as_reported": [{"name": r.name, "value": r.value, "unit": r.unit, "nearest": r.nearest,
                         "as_reported_by": imp.tool, **({"note": r.note} if r.note else {})}
                        for r in imp.reported],
        "skipped_fields": list(imp.skipped), "notes": list(imp.notes), "not_measured": list(imp.drop),
    }


def write(imp: Imported, results_dir: Path | str, env: dict[str, Any] | None = None) -> Run:
    """One run folder for `imp` under results_dir. `env`: the machine the peer ran on when known
    (a cross-check on this machine); else what the file says, which is nothing of the hardware."""
    spec = spec_of(imp)
    started = imp.started_at or time.time()
    writer = RunWriter(Path(results_dir), new_run_id("import", imp.tool.replace(" ", "-")), {
        "name": spec.name, "label": spec.label, "suite": f"import-{os.getpid()}-{int(started)}",
        "started_at": started, "config": spec.model_dump(mode="json"), "load_point": spec.load.point(),
        "model_path": imp.shape.model,
        "env": env or {"note": f"the machine {imp.tool} ran on is not recorded in its file"},
        "backend_info": {"backend": "openai", "version": f"client: {imp.tool} {imp.tool_version or '?'}"},
        "imported": provenance(imp)})
    for sample in imp.samples:
        writer.add(sample)
    summary = summarize(imp.samples) if imp.samples else dict(imp.summary)
    summary = {k: v for k, v in summary.items() if not k.startswith(imp.drop)} if imp.drop else summary
    notes = list(imp.notes)
    if imp.shape.input_tokens is None or imp.shape.output_tokens is None:
        notes.append("the file does not state the prompt and output lengths: the config's are placeholders")
    writer.finish("complete", summary=summary, finished_at=time.time(), warnings=notes)
    return read(writer.dir)
