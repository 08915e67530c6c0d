"""Model names in configs: the built-in tiny models, a local path, or a hub id."""
from __future__ import annotations

from pathlib import Path

from bench.errors import UserError

TINY_NAMES = ("tiny", "tiny-draft")


def resolve_model(name: str) -> str:
    """Return a path (tiny models are built on first use) or the hub id unchanged."""
    if name in TINY_NAMES:
        from bench.models.tiny import build_tiny
        return str(build_tiny(name))
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise UserError("model", f"{name!r}: path does not exist (give a local folder, a hub id "
                                 f"like 'org/name', or one of {', '.join(TINY_NAMES)})")
    return name  # a hub id: transformers/vLLM fetch it when the machine is online
