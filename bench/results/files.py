"""results/<run_id>/{run.json, samples.jsonl}: written atomically, never overwritten.

run.json is written (temp file + rename) when the run starts and when it finishes, by the run's
RunWriter only: nothing is added to it afterwards. What is derived after a run (token inflation,
an experiment's effects) is computed when results are read, or lives in a file of its own.
samples.jsonl is appended and flushed as each request completes, so a crash loses nothing
that was measured.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import msgspec

from bench.types import Sample

# msgspec encodes the Sample dataclass directly, with the same keys in the same order as
# dataclasses.asdict + json.dumps, in a few microseconds instead of about a millisecond (asdict
# deep-copies every tuple and dict): this runs once per request in the client's loop. Values JSON
# has no type for are written as str().
_encode_sample = msgspec.json.Encoder(enc_hook=str).encode

SCHEMA_VERSION = 2


def atomic_write_json(path: Path, data: Any) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)   # only left if the write failed


def new_run_id(name: str, label: str = "") -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "-", f"{name}-{label}" if label else name).strip("-")[:80]
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


class RunWriter:
    """Owns one run folder for the duration of a run."""

    def __init__(self, results_dir: Path, run_id: str, meta: dict[str, Any]):
        self.dir = Path(results_dir) / run_id
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir(exist_ok=False)  # an existing run is never overwritten
        self.meta = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "partial", **meta}
        self._samples = open(self.dir / "samples.jsonl", "ab")
        self.n_samples = 0
        self.write_meta()

    def write_meta(self) -> None:
        atomic_write_json(self.dir / "run.json", self.meta)

    def add(self, sample: Sample) -> None:
        self._samples.write(_encode_sample(sample) + b"\n")
        self._samples.flush()
        self.n_samples += 1

    def finish(self, status: str, **fields: Any) -> None:
        self.meta.update(fields, status=status, n_samples=self.n_samples)
        self._samples.close()
        self.write_meta()


def copy_into(run_dir: Path | str, src: Path | str, name: str) -> None:
    """Keep a file beside run.json (e.g. a managed server's log), under `name`."""
    shutil.copyfile(src, Path(run_dir) / name)


def read_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "run.json").read_text())


def read_samples(run_dir: Path) -> Iterator[Sample]:
    """Samples as written; a truncated last line (a crash mid-write) is skipped."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.exists():
        return
    fields = {f.name for f in dataclasses.fields(Sample)}
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            for key in ("token_ns", "chunk_ns", "output_token_ids"):
                d[key] = tuple(d.get(key, ()))
            yield Sample(**{k: v for k, v in d.items() if k in fields})
