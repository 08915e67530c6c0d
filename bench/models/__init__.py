"""Model names in configs: the built-in tiny models, `preset:<name>` (a real architecture with
dummy weights, see presets.py), a local path, or a hub id."""
from __future__ import annotations

from pathlib import Path

from bench.errors import UserError

TINY_NAMES = ("tiny", "tiny-draft", "tiny-s1")


def model_problem(name: str) -> str | None:
    """What is wrong with a model name, without building or loading anything; None if fine."""
    if name in TINY_NAMES:
        return None
    if name.startswith("preset:"):
        from bench.models.presets import PRESETS, preset_name
        if preset_name(name) not in PRESETS:
            return f"{name!r}: unknown preset; allowed: {', '.join('preset:' + p for p in PRESETS)}"
        return None
    if Path(name).expanduser().exists():
        return None
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        return (f"{name!r}: path does not exist (give a local folder, a hub id like 'org/name', "
                f"or one of {', '.join(TINY_NAMES)})")
    return None  # a hub id: transformers/vLLM fetch it when the machine is online


def resolve_model(name: str) -> str:
    """Return a path (tiny models are built on first use) or the hub id unchanged."""
    problem = model_problem(name)
    if problem:
        raise UserError("model", problem)
    if name in TINY_NAMES:
        from bench.models.tiny import build_tiny
        return str(build_tiny(name))
    if name.startswith("preset:"):
        from bench.models.presets import build_preset, preset_name
        return str(build_preset(preset_name(name)))
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name
