"""A real capacity change moves the found capacity: the HF backend's static batches of at most
1 request vs 8 (everything else equal), searched over concurrency with a TTFT SLO. With batches
of 1, a second session in flight waits a whole request for its first token; with batches of 8,
up to 8 closed-loop sessions start together."""
from __future__ import annotations

import json


from bench import config
from bench.backends.hf import HFBackend
from bench.models import resolve_model
from bench.run import capacity
from bench.run.engines import Engine
from bench.run.progress import Progress


def found(loop, tmp_path, batch: int) -> dict:
    options = {"max_batch_size": batch, "torch_threads": 1}
    (spec,) = config.load_doc({
        "name": f"cap-b{batch}", "model": "tiny", "backend": {"name": "hf", "options": options},
        "workload": {"file": "chat", "scale": 0.05, "output_tokens": {"dist": "fixed", "value": 2560}},
        "load": {"kind": "capacity", "warmup": 2,
                 "search": {"over": "concurrency", "low": 1, "high": 16, "time_cap_s": 60,
                            "min_duration_s": 2, "max_duration_s": 4, "confirm_s": 4}},
        # a request decodes 128 tokens (hundreds of ms here): waiting for one misses 150 ms
        "slo": {"ttft_ms": 150, "percentile": 90}}, "test")
    path = resolve_model("tiny")
    backend = HFBackend(path, options, seed=0)
    loop.run_until_complete(backend.start())
    try:
        results = loop.run_until_complete(capacity.search(spec, Engine(backend, path), tmp_path, Progress()))
    finally:
        loop.run_until_complete(backend.stop())
    return json.loads((tmp_path / results[0].meta["capacity_file"]).read_text())


def test_bigger_batches_raise_the_capacity(loop, tmp_path):
    one = found(loop, tmp_path / "b1", 1)
    eight = found(loop, tmp_path / "b8", 8)
    assert one["bracket_low"] is not None and eight["bracket_low"] is not None, (one, eight)
    assert eight["bracket_low"] >= one["bracket_high"], (one["probes"], eight["probes"])
