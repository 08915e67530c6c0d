"""The import layers of bench/ (docs/README.md, "Where the code is"): the stages in the order data
takes, each importing only itself and the stages below it, at the top of a file or inside a
function. No upward import means no cycle between stages. A new top-level module or package
must be placed in STAGES, on purpose."""
import ast
from pathlib import Path
from tests.helpers.paths import ROOT

BENCH = ROOT / "bench"

# Bottom first: the shared vocabulary, the readers and models that need nothing of the run, the
# metric math, then the config, the engines, the results writer, the run path, and what reads
# results or drives the run from above.
STAGES = ("types", "errors", "registry", "logs", "models", "treatments", "load", "config_errors",
          "metrics", "telemetry", "workloads", "config", "backends", "results", "run", "experiments",
          "analysis", "selftest", "profile", "interop", "commands", "cli", "__main__")
# Modules that belong to another stage's name (the config's parts).
PART_OF = {"config_expand": "config", "config_server": "config", "__init__": "registry"}


def stage_of(module: str) -> str:
    """bench.run.driver -> run; bench.config_expand -> config; bench -> registry (its __init__)."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "__init__"
    return PART_OF.get(name, name)


def imports(path: Path) -> set[str]:
    """Every bench module a file imports (`from bench import x` names bench.x)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "bench" else [node.module]
            out |= set(names)
    return {m for m in out if m.startswith("bench.")}


def violations(root: Path = BENCH) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        mod = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        here = stage_of(mod)
        if here not in STAGES:
            out.append(f"{mod}: stage {here!r} is not in STAGES (place it)")
            continue
        for target in sorted(imports(path)):
            there = stage_of(target)
            if there not in STAGES:
                out.append(f"{mod} imports {target}: stage {there!r} is not in STAGES")
            elif STAGES.index(there) > STAGES.index(here):
                out.append(f"{mod} imports {target}: {here} may not import {there} (it sits above)")
    return out


def test_no_stage_imports_a_stage_above_it():
    assert violations() == []


def test_the_check_finds_an_upward_import(tmp_path):
    """The two upward imports the layering once had (workloads -> profile, config -> run) fail."""
    pkg = tmp_path / "bench"
    for name, text in {"workloads/agent.py": "def f():\n    from bench.profile import otel\n",
                       "config.py": "from bench.run.server import ServerSpec\n",
                       "run/driver.py": "from bench.config import RunSpec\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    assert violations(pkg) == ["bench.config imports bench.run.server: config may not import run (it sits above)",
                               "bench.workloads.agent imports bench.profile: workloads may not import "
                               "profile (it sits above)"]
