"""The facts of this machine a backend's preflight rule may ask (`Machine`) and a rule's answers
(`Problem`, `Replacement`); bench.backends.preflight applies the rules to a plan. Facts are read
cheaply (/proc/cpuinfo, importlib.util.find_spec, NVML or an already imported torch): torch and
vLLM are never imported just to check. Tests build a `Machine` of their own.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Machine:
    """What a rule may ask of this machine. `cpu_flags` None: unknown (no /proc/cpuinfo), and a
    rule then assumes the flag is there; `packages` None: ask importlib (a test fixes the set)."""
    arch: str = ""
    cpu_flags: frozenset[str] | None = None
    cuda: bool = False
    cuda_memory_mb: tuple[float, ...] = ()
    packages: frozenset[str] | None = None

    def has_flag(self, *flags: str) -> bool:
        """Whether the CPU has any of `flags` (True when the flags are unknown)."""
        return self.cpu_flags is None or any(f in self.cpu_flags for f in flags)

    def has_package(self, module: str) -> bool:
        if self.packages is not None:
            return module in self.packages
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):     # a parent package missing, or a broken one
            return False

    @classmethod
    def here(cls) -> Machine:
        cuda_mb = _cuda_memory_mb()
        return cls(arch=platform.machine(), cpu_flags=_cpu_flags(), cuda=bool(cuda_mb), cuda_memory_mb=cuda_mb)


def _cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):     # x86, arm
            return frozenset(value.split())
    return None


def _cuda_memory_mb() -> tuple[float, ...]:
    """Memory of each visible CUDA device, from NVML (cheap, and it initialises no CUDA context
    in this process); from torch only when NVML is absent and torch is imported already. () without
    a GPU, or with CUDA_VISIBLE_DEVICES hiding them all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return ()
    from bench.telemetry.env import gpu_info

    info = gpu_info()
    if info is not None:
        mb = tuple(info.get("memory_mb") or ())
        n = len([v for v in visible.split(",") if v.strip()]) if visible is not None else len(mb)
        return mb[:n]
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return tuple(torch.cuda.get_device_properties(i).total_memory / 2**20
                         for i in range(torch.cuda.device_count()))
    except Exception:
        pass
    return ()


@dataclass(frozen=True)
class Problem:
    """This machine cannot run it; `reason` says why, in one line."""
    reason: str


@dataclass(frozen=True)
class Replacement:
    """This machine cannot run the options as written, but these (deep-merged over them) are an
    equivalent that it can; `reason` says what changed and why."""
    options: dict[str, Any]
    reason: str
