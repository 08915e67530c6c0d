"""A pydantic ValidationError as the one-line error users get (bench.errors.UserError): the key
path as they wrote it (union tags dropped), what is wrong, and the keys allowed where one is
unknown. bench.config raises these at load, before any run starts."""
from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from bench.errors import UserError


def _members(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field can hold (through Optional, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _members(arg)]


def _walk(model: type[BaseModel] | None, loc: tuple) -> tuple[str, list[str] | None]:
    """The error's key path as the user wrote it (union tags dropped) and the keys allowed at its
    last level, when the models along the path are known."""
    path: list[str] = []
    models = [model] if model else []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if models and not last and isinstance(part, str) and not any(part in m.model_fields for m in models):
            # a discriminated union's tag (e.g. `fixed` of a distribution): pick that member
            tagged = [m for m in models if any(part in str(f.annotation) for f in m.model_fields.values())]
            if tagged:
                models = tagged[:1]
                continue
        path.append(str(part))
        if not last:
            fields = [m.model_fields[part] for m in models if isinstance(part, str) and part in m.model_fields]
            models = [c for f in fields for c in _members(f.annotation)]
    allowed = sorted({k for m in models for k in m.model_fields}) if models else None
    return ".".join(path), allowed


def one_line(where: str, err: ValidationError, model: type[BaseModel] | None = None) -> UserError:
    """The first error of a validation as one line: the key path, what is wrong, and the keys
    allowed there when the key is unknown."""
    e = err.errors()[0]
    path, allowed = _walk(model, tuple(e["loc"]))
    if e["type"] == "extra_forbidden":
        return UserError(where, f"{path}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
    if e["type"] == "union_tag_invalid":
        ctx = e["ctx"]
        return UserError(where, f"{path}: unknown {ctx['discriminator'].strip(chr(39))} {ctx['tag']!r}; "
                                f"allowed: {ctx['expected_tags']}")
    msg = e["msg"].removeprefix("Value error, ")
    return UserError(where, f"{path}: {msg}" if path else msg)
