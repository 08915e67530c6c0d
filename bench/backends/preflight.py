"""Can this machine run it? Each run (and A/B arm) checked before anything runs, by its backend's
own rules (`Backend.preflight`) against the facts of this machine (`Machine`): CPU flags, CUDA and
its memory, installed packages, and the model's config.json (dtype, head size) when it is on disk.

A rule answers None (fine), a `Problem` (cannot run here: the run is skipped, with its reason) or
a `Replacement` (an equivalent that can run here: those options instead, and why). Facts are read
cheaply (/proc/cpuinfo, importlib.util.find_spec, NVML): torch and vLLM are never imported just to
check, so `bench validate` stays fast. Tests pass a `Machine` of their own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import registry
from bench.backends.machine import Machine, Problem, Replacement
from bench.config import RunSpec
from bench.treatments import deep_merge

__all__ = ["Checked", "Machine", "Problem", "Replacement", "check", "lines", "model_config", "plan"]


@dataclass(frozen=True)
class Checked:
    """One run of the plan: the spec to run (replaced options applied) and what preflight found."""
    spec: RunSpec
    found: Problem | Replacement | None = None
    original: RunSpec | None = field(default=None, compare=False)   # before a replacement

    @property
    def runs(self) -> bool:
        return not isinstance(self.found, Problem)

    def line(self) -> str | None:
        """One line for the user, None when the run is fine as written."""
        if self.found is None:
            return None
        if isinstance(self.found, Problem):
            return f"cannot run here: {name(self.spec)}: {self.found.reason}; skipped"
        return f"replaced here: {name(self.spec)}: {self.found.reason}"


def name(spec: RunSpec) -> str:
    """An A/B arm by its experiment's name and treatment (its repetitions and load points are one
    arm), any other run by its name and label."""
    if spec.treatment:
        return f"{spec.name} arm {spec.treatment.name}"
    return f"{spec.name} {spec.label}".strip()


def model_config(name: str) -> dict[str, Any]:
    """The model's config.json when it is on disk already (nothing is built or fetched), else {}."""
    from bench.models import TINY_NAMES

    path = Path(name).expanduser()
    if name in TINY_NAMES:
        from bench.models.tiny import TINY_SPECS, cache_root

        spec = TINY_SPECS[name]
        path = cache_root() / f"{spec.name}-s{spec.seed}"
    try:
        return json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def check(spec: RunSpec, machine: Machine) -> Checked:
    backend = registry.backend_class(spec.backend.name)
    options = dict(spec.backend.options)
    rule = getattr(backend, "preflight", None)      # a backend not built on Backend has no rules
    model_cfg = model_config(spec.model)
    found = rule(options, machine, model_cfg) if rule is not None else None
    if found is None and spec.server is not None:
        found = _server(spec, machine, model_cfg)
    if isinstance(found, Replacement):
        merged = deep_merge(options, found.options)
        new = spec.model_copy(update={"backend": spec.backend.model_copy(update={"options": merged})})
        return Checked(new, found, spec)
    return Checked(spec, found)


def _server(spec: RunSpec, machine: Machine, model_cfg: dict[str, Any]) -> Problem | None:
    """A managed server started by the default command is vLLM's OpenAI server (bench.config_server):
    its engine flags obey the vLLM engine's rules. Only a Problem counts: flags are not rewritten."""
    if spec.server.command is not None:
        return None
    from bench.backends.vllm_engine import VLLMBackend, options_from_cli

    found = VLLMBackend.preflight(options_from_cli(spec.server.args), machine, model_cfg)
    return Problem(f"its server: {found.reason}") if isinstance(found, Problem) else None


def plan(specs: list[RunSpec], machine: Machine) -> list[Checked]:
    """Every spec checked, in order; runs sharing settings are asked once."""
    seen: dict[str, Checked] = {}
    out = []
    for spec in specs:
        key = f"{spec.model}|{spec.backend.model_dump_json()}|{spec.server.model_dump_json() if spec.server else ''}"
        if key not in seen:
            seen[key] = check(spec, machine)
        first = seen[key]
        out.append(first if first.spec is spec or first.original is spec else _same(spec, first))
    return out


def _same(spec: RunSpec, first: Checked) -> Checked:
    """What was found for an earlier spec of the same settings, applied to this one."""
    if isinstance(first.found, Replacement):
        return Checked(spec.model_copy(update={"backend": first.spec.backend}), first.found, spec)
    return Checked(spec, first.found)


def lines(checked: list[Checked]) -> list[str]:
    """One line per run or arm that cannot run here as written (an arm's repetitions and load
    points said once, with their count)."""
    counts: dict[str, int] = {}
    for c in checked:
        if (line := c.line()) is not None:
            counts[line] = counts.get(line, 0) + 1
    return [line + (f" ({n} runs)" if n > 1 else "") for line, n in counts.items()]
