"""Mutated configs: each is refused at load with one line naming the file and the key, or it
loads into specs whose workloads generate their first sessions. Never a traceback, never a
failure left for the middle of a run.

The mutations go into every key of every committed config (configs/*.yaml) and of a config per
workload file (workloads/*.yaml, inline so that its own keys are reachable): a mapping or a list
where a scalar is, a negative number, zero, a huge number, a wrong string, an empty string, null,
and an unknown key in every mapping.
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
import yaml

from bench import config, registry
from bench.results import store
from bench.errors import UserError
from tests.helpers.paths import ROOT

MUTATIONS: list[tuple[str, Any]] = [("mapping", {"x": 1}), ("list", [1, 2]), ("negative", -3), ("zero", 0),
                                    ("huge", 10**12), ("huge_float", 1e300), ("string", "xyz"),
                                    ("empty", ""), ("null", None)]
SESSIONS = 3            # pulled from each loaded workload


def _workload_doc(path: Path) -> dict:
    """A config around a workload file's own keys, shrunk (scale) for the tiny tokenizer."""
    workload = yaml.safe_load(path.read_text())
    workload["scale"] = 0.01
    return {"name": path.stem, "model": "tiny", "workload": workload,
            "load": {"kind": "concurrency", "concurrency": 2, "requests": 4}}


DOCS = {**{f"configs/{p.name}": yaml.safe_load(p.read_text()) for p in sorted((ROOT / "configs").glob("*.yaml"))},
        **{f"workloads/{p.name}": _workload_doc(p) for p in sorted((ROOT / "workloads").glob("*.yaml"))}}


def _paths(node: Any, at: tuple = ()) -> Iterator[tuple]:
    """Every key path below the root (mappings' keys and lists' indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield at + (key,)
        yield from _paths(value, at + (key,))


def _mappings(node: Any, at: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        yield at
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _mappings(value, at + (key,))


def _set(doc: Any, path: tuple, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutants(doc: dict) -> Iterator[tuple[str, dict, tuple]]:
    for path in _paths(doc):
        for name, value in MUTATIONS:
            if _get(doc, path) != value:
                yield name, _set(doc, path, copy.deepcopy(value)), path
    for path in _mappings(doc):
        yield "unknown_key", _set(doc, path + ("zz_unknown",), 1), path + ("zz_unknown",)


def _generate(spec, tokenizer) -> None:
    """Build the workload as a run does and draw its first sessions (agent tasks are planned,
    not driven: their plans are drawn in full when the session is made)."""
    workload = registry.workload_class(spec.workload.kind)(spec.workload, tokenizer, spec.seed)
    for _, session in zip(range(SESSIONS), workload.sessions()):
        assert session.id


def _key_named(err: UserError, path: tuple) -> bool:
    """The message names the mutated key (or one above it), or starts with the key path the
    mutation made wrong elsewhere (dropping `matrix` leaves `load.concurrency` unset)."""
    names = [str(p) for p in path if isinstance(p, str)]
    return any(part in err.message for name in names for part in name.split(".")) or \
        re.match(r"[A-Za-z_][\w.\[\]]*: ", err.message) is not None


@pytest.mark.parametrize("where", sorted(DOCS))
def test_every_mutation_is_refused_in_one_line_or_generates(where, tiny_tokenizer, monkeypatch):
    monkeypatch.chdir(ROOT)                   # trace paths in the workload files are repo-relative
    checked: set[str] = set()                 # (workload, seed) already generated
    refused = loaded = 0
    for name, doc, path in mutants(DOCS[where]):
        label = f"{where} {name} at {'.'.join(map(str, path))}"
        try:
            specs = config.load_doc(doc, where)
        except UserError as err:
            text = str(err)
            assert "\n" not in text and text.startswith(err.where), label + ": " + text
            assert where in text or "workloads/" in text or "traces/" in text, label + ": " + text
            assert _key_named(err, path), label + ": " + text
            refused += 1
            continue
        loaded += 1
        for spec in specs:
            key = spec.workload.model_dump_json() + f"|{spec.seed}"
            if key not in checked:
                try:
                    _generate(spec, tiny_tokenizer)
                except Exception as exc:      # the failure a run would meet halfway
                    pytest.fail(f"{label}: loaded, then generating failed: {type(exc).__name__}: {exc}")
                checked.add(key)
    assert refused and loaded                 # both outcomes occur: the mutations reach real keys


@pytest.mark.parametrize("mutation, expected", [
    ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
    ({"workload": {"file": "chat", "scale": 0.25, "kind": {"x": 1}}}, "workload.kind: {'x': 1} is not a workload"),
    ({"backend": {"name": {"x": 1}}}, "backend.name: Input should be a valid string"),
])
def test_cli_validate_refuses_mutations_with_one_line(tmp_path, mutation, expected):
    doc = yaml.safe_load((ROOT / "configs/hf-sweep.yaml").read_text()) | mutation
    cfg = tmp_path / "mutant.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    out = subprocess.run([sys.executable, "-m", "bench", "validate", str(cfg)], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert str(cfg) in out.stderr and expected in out.stderr


def test_run_json_config_keeps_its_shape():
    """Committed results still read: their config, upgraded to the current schema on read,
    validates into a RunSpec that dumps back to the same JSON, and a treatment run's spec dumps
    the same {name, options, experiment, repetition} the untyped dict had."""
    def known(dumped: dict, stored: dict) -> dict:
        """The dump restricted to the keys the stored config has (fields added since, such as
        `repetition` or `load.workers`, come with defaults and are absent from older runs)."""
        return {k: known(v, stored[k]) if isinstance(v, dict) and isinstance(stored.get(k), dict) else v
                for k, v in dumped.items() if k in stored}

    for path in sorted((ROOT / "results").glob("*/run.json")):
        cfg = store.read(path.parent).meta["config"]
        assert known(config.RunSpec.model_validate_json(json.dumps(cfg)).model_dump(mode="json"), cfg) == cfg
    doc = yaml.safe_load((ROOT / "configs/treatments-cpu.yaml").read_text())
    spec = config.load_doc(doc, "treatments-cpu.yaml")[1]
    dumped = spec.model_dump(mode="json")
    assert dumped["treatment"] == {"name": "kv-fp8", "options": {"kv_cache_dtype": "fp8"},
                                   "experiment": "treatments-cpu#0", "repetition": 0}
    assert config.RunSpec.model_validate_json(json.dumps(dumped)) == spec
