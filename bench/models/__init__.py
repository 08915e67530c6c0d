"""Model names in configs: the built-in tiny models, `preset:<name>` (a real architecture with
dummy weights, see presets.py), a local path, or a hub id."""
from __future__ import annotations

from pathlib import Path

from bench.errors import UserError

TINY_NAMES = ("tiny", "tiny-draft", "tiny-s1")


def resolve_model(name: str) -> str:
    """Return a path (tiny models are built on first use) or the hub id unchanged."""
    if name in TINY_NAMES:
        from bench.models.tiny import build_tiny
        return str(build_tiny(name))
    if name.startswith("preset:"):
        from bench.models.presets import PRESETS, build_preset, preset_name
        preset = preset_name(name)
        if preset not in PRESETS:
            raise UserError("model", f"{name!r}: unknown preset; allowed: "
                                     f"{', '.join('preset:' + p for p in PRESETS)}")
        return str(build_preset(preset))
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise UserError("model", f"{name!r}: path does not exist (give a local folder, a hub id "
                                 f"like 'org/name', or one of {', '.join(TINY_NAMES)})")
    return name  # a hub id: transformers/vLLM fetch it when the machine is online
