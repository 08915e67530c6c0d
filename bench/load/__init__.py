"""Load kinds: one module per kind, each a pydantic model of the `load:` section that answers
what the driver needs (bench.load.base.LoadKind); built by name through bench.registry."""
from __future__ import annotations

from typing import Any

DEFAULT_KIND = "concurrency"    # a `load:` section that names no kind is a closed loop


def kind_of(section: dict[str, Any]) -> Any:
    """The kind a `load:` mapping names (DEFAULT_KIND when it names none)."""
    return section.get("kind", DEFAULT_KIND)


def parse(value: Any):
    """A `load:` mapping (as a config or a run.json holds it) as its kind's model."""
    from bench import registry

    if not isinstance(value, dict):
        return value
    return registry.load_class(kind_of(value)).model_validate(value)
