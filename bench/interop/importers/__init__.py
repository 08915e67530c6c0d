"""The importers, one module per peer format, and how a file finds its importer.

A new format is one module with `TOOL`, `WHAT`, `sniff(doc) -> bool` (does this parsed document
look like mine) and `read(path, doc) -> Imported` (or a list: one per benchmark of a sweep), plus
one line in IMPORTERS. JSON-lines formats
set `JSONL = True` and get the list of records as `doc`.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, kind_suffix, read_json, read_jsonl, read_text

# format name (bench import --format) -> module
IMPORTERS: dict[str, str] = {
    "vllm": "bench.interop.importers.vllm_serve",
    "aiperf": "bench.interop.importers.aiperf",
    "aiperf-summary": "bench.interop.importers.aiperf_summary",
    "guidellm": "bench.interop.importers.guidellm",
    "inference-perf": "bench.interop.importers.inference_perf",
    "inference-perf-summary": "bench.interop.importers.inference_perf_summary",
    "br0.2": "bench.interop.importers.br02",
}


def module(name: str) -> ModuleType:
    return importlib.import_module(IMPORTERS[name])


def _parse(path: Path) -> tuple[Any, bool]:
    """The document (an object, or a list of records for JSON lines) and whether it was JSON lines."""
    suffix = kind_suffix(path)
    if suffix == ".jsonl":
        return read_jsonl(path, "JSON lines (one record per line)"), True
    if suffix in (".yaml", ".yml"):
        import yaml
        try:
            doc = yaml.safe_load(read_text(path, "a YAML document"))
        except yaml.YAMLError as exc:
            raise PeerFileError(path, "a YAML document", f"invalid YAML ({str(exc).splitlines()[0]})") from None
        if doc is None:
            raise PeerFileError(path, "a YAML document", "an empty file")
        return doc, False
    if suffix == ".json":
        return read_json(path, "a JSON document"), False
    raise PeerFileError(path, "a .json, .jsonl or .yaml peer result (optionally .gz)",
                        f"a {''.join(path.suffixes) or 'suffix-less'} file")


def _listed(found: Imported | list[Imported]) -> list[Imported]:
    return found if isinstance(found, list) else [found]


def read(path: Path | str, fmt: str | None = None) -> list[Imported]:
    """The file read by the importer named `fmt`, else by the first whose sniff() knows it: one
    Imported per run the file holds."""
    path = Path(path)
    if not path.is_file():
        from bench.errors import UserError
        raise UserError(str(path), "no such file")
    doc, jsonl = _parse(path)
    if fmt is not None:
        return _listed(module(fmt).read(path, doc))
    for name in IMPORTERS:
        m = module(name)
        if getattr(m, "JSONL", False) == jsonl and m.sniff(doc):
            return _listed(m.read(path, doc))
    keys = ", ".join(sorted(doc)[:6]) if isinstance(doc, dict) else \
        (", ".join(sorted(doc[0])[:6]) if doc and isinstance(doc[0], dict) else type(doc).__name__)
    tools = dict.fromkeys(module(n).TOOL for n in IMPORTERS)       # each tool once, in order
    raise PeerFileError(path, "a result of " + ", ".join(tools),
                        f"none of their shapes ({'records' if jsonl else 'keys'}: {keys or 'none'})")


def formats() -> list[str]:
    return list(IMPORTERS)


__all__ = ["IMPORTERS", "Imported", "formats", "json", "read"]
