"""The parts of a config file that make several runs of one document, before any run is
validated: `runs:` (a suite of overrides), `matrix:` (dotted keys x listed values, each run
labelled distinctly) and, through bench.treatments, A/B arms and repetitions."""
from __future__ import annotations

import copy
import itertools
from typing import Any

from bench import load as loads
from bench.errors import UserError
from bench.treatments import deep_merge


def _inherited_load(base: Any, kind: Any) -> Any:
    """The inherited `load:` keys a run keeps when it names another load kind: only those that
    kind has. A capacity search under a closed loop's section must not inherit its
    `concurrency` (a cap on every open-loop probe nobody asked for)."""
    from bench import registry

    if not isinstance(base, dict) or not isinstance(kind, str) or kind not in registry.LOADS \
            or kind == loads.kind_of(base):
        return base
    fields = registry.load_class(kind).model_fields
    return {k: v for k, v in base.items() if k in fields}


def _set_path(doc: dict, dotted: str, value: Any, where: str) -> None:
    if dotted == "load.kind" and isinstance(doc.get("load"), dict):
        doc["load"] = _inherited_load(doc["load"], value)
    keys = dotted.split(".")
    node = doc
    for i, key in enumerate(keys[:-1]):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise UserError(where, f"matrix: {dotted}: {'.'.join(keys[:i + 1])} is {node!r}, not a mapping")
    node[keys[-1]] = value


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", value.get("kind", value.get("file", "?"))))
    return str(value)


def _drop_other_kinds_keys(run: dict, swept: list[str]) -> None:
    """A matrix over `load.kind` and a key of one kind (`load.rate`) sets that key on every run;
    the runs of the other kinds do not take it."""
    from bench import registry

    load = run.get("load")
    kind = loads.kind_of(load) if isinstance(load, dict) else None
    if not isinstance(kind, str) or kind not in registry.LOADS or "load.kind" not in swept:
        return
    fields = registry.load_class(kind).model_fields
    for key in swept:
        name = key.split(".", 1)[1]
        if "." not in name and name not in fields:
            load.pop(name, None)


def _labels(key: str, values: list) -> list[str]:
    """`key=value` for each matrix value; values with the same short name (two `hf` backends
    with different options) are numbered so every run's label is distinct."""
    short = [_short(v) for v in values]
    dup = {s for s in short if short.count(s) > 1}
    seen: dict[str, int] = {}
    out = []
    for s in short:
        if s in dup:
            seen[s] = seen.get(s, 0) + 1
            s = f"{s}#{seen[s]}"
        out.append(f"{key.split('.')[-1]}={s}")
    return out


def expand(doc: dict, where: str) -> list[dict]:
    """The matrix section: each key (a dotted path) takes each of its listed values."""
    matrix = doc.pop("matrix", None)
    matrix = {} if matrix is None else matrix
    if not isinstance(matrix, dict) or any(not isinstance(k, str) or not k or not isinstance(v, list) or not v
                                           for k, v in matrix.items()):
        raise UserError(where, "matrix: expected a mapping of dotted key -> non-empty list")
    runs = []
    names = {key: _labels(key, values) for key, values in matrix.items()}
    for combo in itertools.product(*(range(len(v)) for v in matrix.values())):
        run = copy.deepcopy(doc)
        labels = []
        for key, i in zip(matrix, combo):
            _set_path(run, key, copy.deepcopy(matrix[key][i]), where)
            labels.append(names[key][i])
        _drop_other_kinds_keys(run, [k for k in matrix if k.startswith("load.")])
        run.setdefault("label", ",".join(labels))
        runs.append(run)
    return runs


def split_runs(doc: dict, where: str) -> list[dict]:
    """The `runs` section: a list of overrides, each deep-merged over the rest of the file
    (a suite of different workloads, each with its own load), each then matrix-expanded."""
    runs = doc.pop("runs", None)
    if runs is None:
        return [doc]
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise UserError(where, "runs: expected a non-empty list of mappings (overrides of this file)")
    out = []
    for r in runs:
        over = r.get("load")
        base = doc
        if isinstance(over, dict) and "kind" in over:
            base = {**doc, "load": _inherited_load(doc.get("load"), over["kind"])}
        out.append(deep_merge(base, r))
    return out


def _check_outline(run: dict, where: str) -> None:
    """The keys the expansion (runs, matrix, treatments) reads before RunSpec validates the whole
    run: checked first, so a mapping where a name belongs is a one-line error there too."""
    backend = run.get("backend", "hf")
    if not isinstance(backend, (str, dict)):
        raise UserError(where, f"backend: expected a backend name or a mapping {{name, options}}, got {backend!r}")
    backend = backend if isinstance(backend, dict) else {}
    for key, value, kind in (("name", run.get("name", ""), "string"), ("label", run.get("label", ""), "string"),
                             ("backend.name", backend.get("name", ""), "string"),
                             ("backend.options", backend.get("options", {}), "dictionary")):
        if not isinstance(value, str if kind == "string" else dict):
            raise UserError(where, f"{key}: Input should be a valid {kind}, got {value!r}")


def _check_judge(keys: list[str], where: str) -> None:
    """An experiment's `judge` keys: each must have an interval from the runs' values and a better
    direction, else no verdict could come of it."""
    from bench.metrics.definitions import metric_for, resampled

    for i, key in enumerate(keys):
        m = metric_for(key)
        if key != "error_rate" and (resampled(key) is None or m is None or m.higher_is_better is None):
            why = ("neither direction is better" if resampled(key) is not None else
                   "not a summary key with per-request or per-task values")
            raise UserError(where, f"judge[{i}]: {key!r} cannot be judged ({why}); allowed: error_rate, a rate "
                                   "or a statistic (_mean, _p50, _p99 ...) of a latency or per-task metric, e.g. "
                                   "task_latency_ms_p50, ttfa_ms_p50, reasoning_tokens_per_task_mean, tasks_s")


def expanded(doc: dict, where: str) -> list[dict]:
    """runs -> matrix -> treatments: each part's load points, each with its A/B arms."""
    from bench import treatments

    out = []
    for i, part in enumerate(split_runs(doc, where)):
        _check_outline(part, where)
        arms, reps, judge = treatments.parse_treatments(part, where)
        _check_judge(judge, where)
        points = expand(part, where)
        for point in points:
            _check_outline(point, where)
        out += treatments.expand(points, arms, reps, f"{doc['name']}#{i}", judge)
    return out
