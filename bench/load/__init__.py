"""Load kinds: one module per kind, each a pydantic model of the `load:` section that answers
what the driver needs (bench.load.base.LoadKind); built by name through bench.registry."""
from __future__ import annotations

from typing import Any


def parse(value: Any):
    """A `load:` mapping (as a config or a run.json holds it) as its kind's model; a missing kind
    is a closed loop (`concurrency`), as configs have always defaulted."""
    from bench import registry

    if not isinstance(value, dict):
        return value
    return registry.load_class(value.get("kind", "concurrency")).model_validate(value)
