"""A set of runs as one CSV: a row per run, its provenance columns (bench.results.store.run_row)
then every summary key any of the runs has. What spreadsheets and dashboards load."""
from __future__ import annotations

from pathlib import Path

from bench.results.run import Run
from bench.results.store import runs_frame


def write(runs: list[Run], out: Path, fmt: str = "csv") -> list[Path]:
    path = out if out.suffix == ".csv" else out / "runs.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = runs_frame(runs)
    frame.insert(1, "client", [(r.meta.get("imported") or {}).get("tool", "bench") for r in runs])
    frame.to_csv(path, index=False)
    return [path]
