"""Names a reader can tell apart: every run and every plotted line gets a distinct label, and
every point a hover text with its run id and key config.

A run's label is its name, then its config label (a matrix writes its values there, e.g.
`concurrency=4,backend=hf#2`), then its treatment. Where two runs still read the same (two
configs with the same name, repetitions), the config values that differ between them are added,
and repetitions of one config get the end of their run id.
"""
from __future__ import annotations

import html
from typing import Any
from collections.abc import Callable

from bench.results import store

IGNORED = ("name", "label")                       # what a label already says, not what differs
LOAD_KEYS = ("load.concurrency", "load.rate")     # what a sweep line varies along


def flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= flat(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def _short(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 24 else s[:21] + "..."


def differing(configs: list[dict[str, Any]], ignore: tuple[str, ...] = IGNORED) -> list[str]:
    """Flat config keys whose values are not the same in all `configs` (shortest keys first)."""
    flats = [flat(c) for c in configs]
    keys = dict.fromkeys(k for f in flats for k in f)
    out = [k for k in keys if not k.startswith(ignore) and len({repr(f.get(k)) for f in flats}) > 1]
    return sorted(out, key=lambda k: (k.count("."), len(k)))


def _separating(flats: list[dict[str, Any]], keys: list[str], max_keys: int = 3) -> list[str]:
    """The first few of `keys` that, each adding a distinction, tell the configs apart."""
    chosen: list[str] = []
    for k in keys:
        before = len({tuple(repr(f.get(c)) for c in chosen) for f in flats})
        if len({tuple(repr(f.get(c)) for c in chosen + [k]) for f in flats}) > before:
            chosen.append(k)
        if len(chosen) == max_keys or len({tuple(repr(f.get(c)) for c in chosen) for f in flats}) == len(flats):
            break
    return chosen


def distinct(bases: list[str], configs: list[dict[str, Any]], tails: list[str],
             ignore: tuple[str, ...] = IGNORED) -> list[str]:
    """`bases` made unique: each group of equal bases gets the config keys that differ inside it,
    then, where configs are the same too, its `tails` (e.g. the end of the run id)."""
    out = list(bases)
    groups: dict[str, list[int]] = {}
    for i, b in enumerate(bases):
        groups.setdefault(b, []).append(i)
    for b, idx in groups.items():
        if len(idx) < 2:
            continue
        keys = _separating([flat(configs[i]) for i in idx], differing([configs[i] for i in idx], ignore))
        for i in idx:
            f = flat(configs[i])
            extra = " ".join(f"{k.split('.')[-1] if k.count('.') > 1 else k}={_short(f.get(k))}"
                             for k in keys if f.get(k) is not None)     # "rate=None" says nothing
            out[i] = f"{b} {extra}".strip()
    if len(set(out)) < len(out):
        seen: dict[str, int] = {}
        for s in out:
            seen[s] = seen.get(s, 0) + 1
        out = [f"{s} #{t}" if seen[s] > 1 else s for s, t in zip(out, tails)]
    return out


def base_label(meta: dict[str, Any], drop: Callable[[str], bool] = lambda part: False) -> str:
    """name + config label (minus the parts `drop` says) + [treatment] when the label lacks it."""
    parts = [p for p in str(meta.get("label") or "").split(",") if p and not drop(p)]
    label = " ".join(x for x in (str(meta.get("name") or "run"), ",".join(parts)) if x)
    t = store.treatment_name(meta)
    return f"{label} [{t}]" if t and t not in label else label


def run_labels(runs: list[store.Run]) -> dict[str, str]:
    """run_id -> a label no other run in `runs` has."""
    labels = distinct([base_label(r.meta) for r in runs], [r.meta["config"] for r in runs],
                      [r.run_id[-4:] for r in runs])
    return {r.run_id: lab for r, lab in zip(runs, labels)}


def _is_load_part(part: str) -> bool:
    return part.split("=")[0] in tuple(k.split(".")[-1] for k in LOAD_KEYS)


def line_labels(lines: list[list[store.Run]]) -> list[str]:
    """A label per line of runs that differ only by load point (a sweep, a capacity search)."""
    firsts = [g[0] for g in lines]
    return distinct([base_label(r.meta, _is_load_part) for r in firsts], [r.meta["config"] for r in firsts],
                    [r.run_id[-4:] for r in firsts], IGNORED + LOAD_KEYS)


def hover(run: store.Run, label: str, extra: dict[str, Any] | None = None) -> str:
    """Plotly hover text (HTML): run id, label, key config, then `extra` values."""
    m, cfg = run.meta, run.meta["config"]
    load = cfg.get("load") or {}
    backend = (cfg.get("backend") or {}).get("name")
    lines = [f"<b>{html.escape(label)}</b>", html.escape(run.run_id),
             f"model {cfg.get('model')} · {backend} {store.backend_version(m) or ''}".strip(),
             f"workload {(cfg.get('workload') or {}).get('kind')} · load {load.get('kind')} "
             f"{_fmt(store.load_point(m))} · seed {cfg.get('seed')}",
             f"commit {(m['env'].get('git_sha') or '-')[:8]} · {m.get('status', '?')}"]
    t = store.treatment_name(m)
    if t:
        lines.insert(2, f"treatment {html.escape(t)}")
    lines += [f"{html.escape(str(k))}: {_fmt(v)}" for k, v in (extra or {}).items()]
    return "<br>".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)
