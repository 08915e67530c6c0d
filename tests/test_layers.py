"""The import layers the docs promise (docs/README.md, "Where the code is"): the readers of
recorded traffic sit below the workloads and the profile, and the config below the run path."""
import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _imports(path: Path) -> set[str]:
    """Every bench module a file imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m == "bench" or m.startswith("bench.")}


def _within(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def _offenders(files, forbidden) -> dict[str, list[str]]:
    out = {}
    for path in files:
        bad = sorted(m for m in _imports(path) if forbidden(m))
        if bad:
            out[str(path.relative_to(BENCH.parent))] = bad
    return out


def test_logs_import_only_errors_types_and_themselves():
    allowed = ("bench.errors", "bench.types", "bench.logs")
    assert (BENCH / "logs" / "__init__.py").is_file()
    assert _offenders((BENCH / "logs").glob("*.py"), lambda m: not _within(m, allowed)) == {}


def test_workloads_never_import_the_profile():
    assert _offenders((BENCH / "workloads").glob("*.py"), lambda m: _within(m, ("bench.profile",))) == {}


def test_config_never_imports_the_run_path():
    assert _offenders(BENCH.glob("config*.py"), lambda m: _within(m, ("bench.run",))) == {}
