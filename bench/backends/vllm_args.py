"""vLLM's engine arguments (the fields of `AsyncEngineArgs`) and their annotations, read from
vLLM's source files instead of importing vLLM: the import costs about 19 s (torch, transformers,
the platform probe), and `bench validate` only needs the names and the plain types.

An annotation built of builtins, `None`, `Any`, Literals, unions, lists and dicts becomes that
type; a name that aliases one (`CacheDType = Literal[...]`) is followed through vLLM's
`from vllm... import` lines. Anything else (a config class, `torch.dtype`, a Callable) is None:
the value passes through and vLLM checks it when the engine starts, as it did when the
annotation was read from the imported class.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import typing
from pathlib import Path
from typing import Any, Literal

CLASSES = ("EngineArgs", "AsyncEngineArgs")   # AsyncEngineArgs adds its fields to EngineArgs'
_BUILTIN = {"str": str, "int": int, "float": float, "bool": bool, "Any": Any, "None": type(None)}
_NO = object()   # an annotation this reader does not turn into a type


def vllm_root() -> Path | None:
    """vLLM's package folder, found without importing it (find_spec of a top-level name runs
    nothing of the package)."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def engine_args() -> dict[str, Any] | None:
    """Field name -> type (None where not plain); None when vLLM is not installed."""
    root = vllm_root()
    return read_engine_args(root) if root is not None else None


def read_engine_args(root: Path) -> dict[str, Any] | None:
    """engine_args() of the vLLM package at `root`."""
    if not (root / "engine" / "arg_utils.py").is_file():
        return None
    reader = _Reader(root)
    mod = reader.module("vllm.engine.arg_utils")
    fields: dict[str, Any] = {}
    for node in mod["classes"]:
        if node.name not in CLASSES:
            continue
        for st in node.body:
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and not _is_classvar(st.annotation):
                tp = reader.resolve(st.annotation, "vllm.engine.arg_utils", 0)
                fields[st.target.id] = None if tp is _NO else tp
    return fields or None


def _is_classvar(node: ast.expr) -> bool:
    base = node.value if isinstance(node, ast.Subscript) else node
    return isinstance(base, ast.Name) and base.id == "ClassVar"


class _Reader:
    """vLLM's modules parsed on demand: their top-level imports, assignments and classes."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[str, dict[str, Any] | None] = {}

    def module(self, dotted: str) -> dict[str, Any] | None:
        if dotted in self.cache:
            return self.cache[dotted]
        rel = Path(*dotted.split(".")[1:])
        path = next((p for p in (self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py")
                     if p.is_file()), None)
        mod = None
        if path is not None:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            mod = {"imports": {}, "assigns": {}, "classes": []}
            self._read(tree.body, mod)
        self.cache[dotted] = mod
        return mod

    def _read(self, body: list[ast.stmt], mod: dict[str, Any]) -> None:
        """Top-level statements as they run: of `if TYPE_CHECKING: ... else: ...` the else."""
        for st in body:
            if isinstance(st, ast.If) and isinstance(st.test, ast.Name) and st.test.id == "TYPE_CHECKING":
                self._read(st.orelse, mod)
            elif isinstance(st, ast.ImportFrom) and st.module and st.level == 0:
                for a in st.names:
                    mod["assigns"].pop(a.asname or a.name, None)       # the later statement wins
                    mod["imports"][a.asname or a.name] = (st.module, a.name)
            elif isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                mod["imports"].pop(st.targets[0].id, None)
                mod["assigns"][st.targets[0].id] = st.value
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None:
                mod["imports"].pop(st.target.id, None)
                mod["assigns"][st.target.id] = st.value     # X: TypeAlias = Literal[...]
            elif isinstance(st, ast.ClassDef):
                mod["classes"].append(st)

    def resolve(self, node: ast.expr, where: str, depth: int) -> Any:
        if depth > 20:
            return _NO
        if isinstance(node, ast.Constant):
            if node.value is None:
                return type(None)
            if isinstance(node.value, str):   # a quoted annotation
                try:
                    return self.resolve(ast.parse(node.value, mode="eval").body, where, depth + 1)
                except SyntaxError:
                    return _NO
            return _NO
        if isinstance(node, ast.Name):
            return self._name(node.id, where, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [self.resolve(n, where, depth + 1) for n in (node.left, node.right)]
            return _NO if _NO in parts else typing.Union[tuple(parts)]   # noqa: UP007 (built at runtime)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return self._subscript(node.value.id, node.slice, where, depth)
        return _NO

    def _name(self, name: str, where: str, depth: int) -> Any:
        mod = self.module(where)
        if mod is not None and name in mod["assigns"]:
            return self.resolve(mod["assigns"][name], where, depth + 1)
        if mod is not None and name in mod["imports"]:
            source, original = mod["imports"][name]
            if source.split(".")[0] == "vllm":
                return self._name(original, source, depth + 1)
            if source in ("typing", "typing_extensions") and original in _BUILTIN:
                return _BUILTIN[original]
            return _NO
        return _BUILTIN.get(name, _NO)

    def _subscript(self, base: str, index: ast.expr, where: str, depth: int) -> Any:
        items = list(index.elts) if isinstance(index, ast.Tuple) else [index]
        if base == "Literal":   # its values, and those of a Literal it names (Literal["auto", Kind])
            values: list[Any] = []
            for i in items:
                inner = None if isinstance(i, ast.Constant) else self.resolve(i, where, depth + 1)
                if inner is None:
                    values.append(i.value)
                elif typing.get_origin(inner) is Literal:
                    values += typing.get_args(inner)
                else:
                    return _NO
            return Literal[tuple(values)]
        args = [self.resolve(i, where, depth + 1) for i in items]
        if _NO in args:
            return _NO
        if base == "Optional" and len(args) == 1:
            return typing.Optional[args[0]]   # noqa: UP045 (built at runtime)
        if base == "Union":
            return typing.Union[tuple(args)]   # noqa: UP007 (built at runtime)
        if base in ("list", "List") and len(args) == 1:
            return list[args[0]]
        if base in ("dict", "Dict") and len(args) == 2:
            return dict[args[0], args[1]]
        return _NO
