"""hf, vllm and openai (a managed vLLM server) on the same seeded chat workload, end to end
through `runner.run_all`: identical prompts, exactly the requested outputs, the same summary."""
from __future__ import annotations

import json

import pytest

from bench import config
from bench.run import runner
from bench.models import resolve_model
from bench.workloads import make_workload
from bench.results.files import read_run, read_samples
from tests.helpers.vllm_present import skip_without_vllm


skip_without_vllm()

N = 6
DOC = {
    "name": "parity", "model": "tiny", "seed": 3,
    "workload": {"file": "chat", "scale": 0.1},
    "load": {"kind": "concurrency", "concurrency": 3, "requests": N, "warmup": 1},
    "server": {"args": ["--max-model-len", "2048", "--uvicorn-log-level", "warning"],
               "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}},
    "matrix": {"backend": [
        {"name": "hf"},
        {"name": "vllm", "options": {"max_model_len": 2048, "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}},
        {"name": "openai"},
    ]},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    specs = config.load_doc(json.loads(json.dumps(DOC)), "parity.yaml")
    assert [s.server is not None for s in specs] == [False, False, True]
    return runner.run_all(specs, tmp_path_factory.mktemp("results"))


def _wanted(spec):
    """The workload's own requests: what every backend was asked for."""
    workload = make_workload(spec.workload, resolve_model(spec.model), spec.seed)
    sessions = workload.sessions()
    return {s.request.id: s.request for s in (next(sessions) for _ in range(N))}


def test_same_prompts_and_exact_outputs_on_every_backend(results):
    assert [r.status for r in results] == ["complete"] * 3
    wanted = _wanted(results[0].spec)
    for r in results:
        samples = {s.request_id: s for s in read_samples(r.dir) if not s.warmup}
        assert samples.keys() == wanted.keys(), r.spec.backend.name
        for rid, req in wanted.items():
            s = samples[rid]
            assert s.error is None, (r.spec.backend.name, s.error)
            assert s.prompt_tokens == len(req.prompt_token_ids), r.spec.backend.name
            assert s.output_tokens == req.max_output_tokens == len(s.token_ns), r.spec.backend.name


def test_same_summary_keys(results):
    keys = [set(r.summary) for r in results]
    assert keys[0] == keys[1] == keys[2]
    assert {"ttft_ms_p50", "itl_ms_p50", "output_tok_s"} <= keys[0]


def test_engine_and_server_stats_are_run_deltas(results):
    hf, vllm, openai = (read_run(r.dir) for r in results)
    total_out = sum(r.max_output_tokens for r in _wanted(results[0].spec).values())
    warm = next(s for s in read_samples(results[1].dir) if s.warmup).output_tokens
    assert vllm["engine"]["generation_tokens"] == total_out + warm      # warm-up included
    assert openai["server_metrics"]["generation_tokens"] == total_out + warm
    assert "server_metrics" not in hf and "server_metrics" not in vllm
    # the engine's and server's own latency histograms, one observation per request
    n = len(list(read_samples(results[1].dir)))
    for lat in (vllm["engine_latency_ms"], openai["server_latency_ms"]):
        ttft = lat["time_to_first_token_ms"]
        assert ttft["n"] == n and 0 < ttft["p50"] <= ttft["p99"]
    assert "engine_latency_ms" not in hf


def test_managed_server_log_is_kept_and_server_stopped(results):
    meta = read_run(results[2].dir)
    log = (results[2].dir / meta["server"]["log"]).read_text()
    assert "vllm.entrypoints.openai.api_server" in " ".join(meta["server"]["argv"])
    assert "Starting vLLM" in log or "api_server" in log
    import httpx
    with pytest.raises(httpx.ConnectError):
        httpx.get(meta["server"]["url"] + "/health", timeout=2)
