"""A real capacity change moves the found capacity: the HF backend's static batches of at most
1 request vs 8 (everything else equal), searched over concurrency with a TTFT SLO. With batches
of 1, a second session in flight waits a whole request for its first token; with batches of 8,
up to 8 closed-loop sessions start together. The TTFT bound is a quarter of one request's decode
D, measured on this machine first (a fixed 150 ms assumed D in the hundreds of ms: a CPU several
times faster or slower moves D across it)."""
from __future__ import annotations

import json

import pytest

from bench import config
from bench.backends.hf import HFBackend
from bench.models import resolve_model
from bench.run import capacity
from bench.run.engines import Engine
from bench.run.progress import Progress
from bench.run.run_one import run_one

pytestmark = pytest.mark.timed   # the capacity it finds rests on this machine's timings (`make test` runs it alone)


def spec_of(batch: int, ttft_ms: float):
    options = {"max_batch_size": batch, "torch_threads": 1}
    (spec,) = config.load_doc({
        "name": f"cap-b{batch}", "model": "tiny", "backend": {"name": "hf", "options": options},
        "workload": {"file": "chat", "scale": 0.05, "output_tokens": {"dist": "fixed", "value": 2560}},
        "load": {"kind": "capacity", "warmup": 2,
                 # precision 100%: the bracket may end a doubling apart ([8, 16]); what the test
                 # compares is which side of the other's bracket each lies, not its width
                 "search": {"over": "concurrency", "low": 1, "high": 16, "time_cap_s": 60, "precision_pct": 100,
                            "min_duration_s": 2, "max_duration_s": 4, "confirm_s": 4}},
        # a request decodes 128 tokens (D): waiting for one misses D/4, a batched start meets it.
        # The 80th percentile: a verdict of "met" needs half the units of the 90th (12 vs 24,
        # bench.metrics.slo.units_needed), so the probes at low loads end in half the time.
        "slo": {"ttft_ms": ttft_ms, "percentile": 80}}, "test")
    return spec


def found(loop, tmp_path, batch: int, ttft_ms: float | None = None) -> dict | float:
    """The capacity search's file; with no bound given, D (ms) measured first at concurrency 1."""
    spec = spec_of(batch, ttft_ms or 1000.0)
    path = resolve_model("tiny")
    backend = HFBackend(path, dict(spec.backend.options), seed=0)
    loop.run_until_complete(backend.start())
    try:
        engine = Engine(backend, path)
        if ttft_ms is None:
            r = loop.run_until_complete(run_one(capacity.probe_spec(spec, 1, 3, True), engine, tmp_path, Progress()))
            assert r.status == "complete" and r.summary["e2e_ms_p50"] > 0, r.summary
            return r.summary["e2e_ms_p50"]
        results = loop.run_until_complete(capacity.search(spec, engine, tmp_path, Progress()))
    finally:
        loop.run_until_complete(backend.stop())
    return json.loads((tmp_path / results[0].meta["capacity_file"]).read_text())


def test_bigger_batches_raise_the_capacity(loop, tmp_path):
    bound = found(loop, tmp_path / "d", 1) / 4
    one = found(loop, tmp_path / "b1", 1, bound)
    eight = found(loop, tmp_path / "b8", 8, bound)
    assert one["bracket_low"] is not None and eight["bracket_low"] is not None, (one, eight)
    assert eight["bracket_low"] >= one["bracket_high"], (bound, one["probes"], eight["probes"])
