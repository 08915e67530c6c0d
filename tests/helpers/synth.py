"""Hand-built run folders for analysis tests: samples whose metrics are known by construction."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.results.files import RunWriter
from bench.types import Sample

MS = 1_000_000


def sample(i: int, sent_ns: int, ttft_ms: float, end_ns: int, prompt: int = 98, output: int = 2,
           task_id: str | None = None) -> Sample:
    first = sent_ns + int(ttft_ms * MS)
    assert end_ns > first, "first token must come before the last"
    tokens = (first,) + tuple(first + (end_ns - first) * (k + 1) // (output - 1) for k in range(output - 1))
    return Sample(f"r{i}", task_id, sent_ns, sent_ns, tokens, tokens, prompt, None, output)


def write_run(root: Path, run_id: str, samples: list[Sample], *, load: dict | None = None,
              slo: dict | None = None, extra: dict[str, Any] | None = None,
              summary_extra: dict[str, float] | None = None, started_at: float = 0.0,
              workload: str = "chat") -> Path:
    from bench.metrics import core as metrics

    cfg = {"name": "synth", "label": "", "model": "tiny", "backend": {"name": "hf", "options": {}},
           "workload": {"kind": workload, "scale": 1.0}, "seed": 0,
           "load": load or {"kind": "concurrency", "concurrency": 1, "requests": len(samples)},
           "slo": slo or {}}
    env = {"git_sha": "0" * 40, "cpu": "Test CPU", "cpu_count": 2, "gpu": None,
           "versions": {"transformers": "5.19.0"}}
    w = RunWriter(root, run_id, {"name": "synth", "label": "", "started_at": started_at, "config": cfg,
                                 "env": env, "backend_info": {"backend": "hf"}, **(extra or {})})
    for s in samples:
        w.add(s)
    summary = metrics.summarize(samples, cfg["slo"]) | (summary_extra or {})
    w.finish("complete", summary=summary)
    return w.dir


def even_sweep_point(n: int, rate_s: float, ttft_high_ms: float, t0_ns: int = 10**12) -> list[Sample]:
    """n requests all sent at t0, completions exactly 1/rate apart (so request_s == rate). The
    first half have TTFT 1 ms, the second half TTFT `ttft_high_ms` (so ttft_ms_p99 == it)."""
    out = []
    for i in range(n):
        end = t0_ns + int((i + 1) * 1e9 / rate_s)
        out.append(sample(i, t0_ns, 1.0 if i < n // 2 else ttft_high_ms, end))
    return out
