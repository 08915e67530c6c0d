"""Workloads: one module per kind, built by name through bench.registry."""
from __future__ import annotations

from typing import Any


def make_workload(params: Any, model_path: str, seed: int):
    """The workload a run's `workload` settings describe (its validated Params, as RunSpec carries
    them, or their JSON as run.json stores them), with the model's own tokenizer (prompt lengths
    are exact token counts of that model)."""
    from bench import registry
    from bench.workloads.tokenizer import load_tokenizer

    kind = params["kind"] if isinstance(params, dict) else params.kind
    cls = registry.workload_class(kind)
    if isinstance(params, dict):
        params = cls.Params.model_validate(params)
    return cls(params, load_tokenizer(model_path), seed)


def single_prompts(workload, n: int) -> dict[str, tuple[int, ...]]:
    """Prompt token ids by request id of the first `n` sessions, regenerated from the seeded
    workload; {} when its sessions are not single requests (a multi-turn prompt depends on the
    model's earlier answers)."""
    out = {}
    for _, session in zip(range(n), workload.sessions()):
        req = getattr(session, "request", None)
        if req is None:
            return {}
        out[req.id] = req.prompt_token_ids
    return out


def sent_prompts(run) -> dict[str, tuple[int, ...]]:
    """The prompts a run sent (bench.results.run.Run), by request id, regenerated from its seeded
    workload: as many as its config asked for, else as many as it measured (single-request
    sessions only; {} otherwise)."""
    spec = run.spec
    n = getattr(spec.load, "requests", None) or len(run.samples())
    return single_prompts(make_workload(spec.workload, run.meta["model_path"], spec.seed), n)
