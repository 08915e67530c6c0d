"""The exporters: a run (or a set of runs) in a format other tools read. One module per format,
one line in EXPORTERS; each has `write(runs, out) -> list[Path]`."""
from __future__ import annotations

EXPORTERS: dict[str, str] = {
    "br0.2": "bench.interop.exporters.br02",
    "csv": "bench.interop.exporters.csv_runs",
}
