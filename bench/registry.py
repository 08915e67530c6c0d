"""Name -> class, imported lazily so `import bench` never imports vLLM or an HTTP stack."""
from __future__ import annotations

import importlib
from typing import Any

BACKENDS: dict[str, str] = {
    "hf": "bench.backends.hf:HFBackend",
    "vllm": "bench.backends.vllm_engine:VLLMBackend",
    "openai": "bench.backends.openai_http:OpenAIBackend",
}

WORKLOADS: dict[str, str] = {
    "chat": "bench.workloads.chat:ChatWorkload",
    "chat_multiturn": "bench.workloads.chat_multiturn:ChatMultiturnWorkload",
    "rag": "bench.workloads.rag:RagWorkload",
    "agentic": "bench.workloads.agentic:AgenticWorkload",
    "trace": "bench.workloads.trace:TraceWorkload",
    "agent_replay": "bench.workloads.agent_replay:AgentReplayWorkload",
}


# Load kinds (bench.load): each a model of the `load:` section answering what the driver needs.
LOADS: dict[str, str] = {
    "offline": "bench.load.offline:Offline",
    "concurrency": "bench.load.concurrency:Concurrency",
    "rate": "bench.load.rate:Rate",
    "capacity": "bench.load.capacity:Capacity",
}


def _load(table: dict[str, str], kind: str, name: str) -> Any:
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; allowed: {', '.join(sorted(table))}")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)


def register_backend(name: str, target: str) -> None:
    """Add a backend by name: `target` is "module:Class", imported when first used. A backend
    outside this package (a plugin, a test) is its file plus this one line; what it can report
    it declares itself (bench.backends.base.Backend)."""
    BACKENDS[name] = target


def backend_class(name: str) -> Any:
    return _load(BACKENDS, "backend", name)


def workload_class(name: str) -> Any:
    return _load(WORKLOADS, "workload", name)


def register_load(name: str, target: str) -> None:
    """Add a load kind by name: `target` is "module:Class", a bench.load.base.LoadKind whose
    `kind` is Literal[name]. A new kind is its file plus this one line."""
    LOADS[name] = target


def load_class(name: str) -> Any:
    return _load(LOADS, "load kind", name)
