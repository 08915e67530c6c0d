"""Reasoning through a real vLLM OpenAI server on loopback, started with a reasoning parser (one
server for the module): the openai backend forces each call's thought and answer lengths through
the server's thinking budget, splits the stream exactly, and checks the server's usage, whose
disagreements (vLLM 0.32's own counts, see docs/reasoning.md) are error samples, never crashes."""
from __future__ import annotations

import asyncio

import pytest

from bench.backends.openai_http import OpenAIBackend
from bench.config_server import ServerSpec
from bench.run.driver import measure, now_ns
from bench.run.server import ManagedServer
from bench.types import Request
from tests.engine.vllm_tiny.test_reasoning import check_thinking
from tests.engine.test_server import PLAIN_TEMPLATE
from tests.helpers.vllm_present import skip_without_vllm

PROMPT = tuple(range(300, 340)) + (2048,)          # ends with the tiny model's <think>
CASES = ((0, 2), (5, 3), (12, 4), (30, 6))         # (thought, answer) tokens


@pytest.fixture(scope="module")
def server(loop, tmp_path_factory, tiny_path):
    skip_without_vllm()
    template = tmp_path_factory.mktemp("chat") / "plain.jinja"
    template.write_text(PLAIN_TEMPLATE)
    spec = ServerSpec(args=["--max-model-len", "512", "--chat-template", str(template),
                            "--reasoning-parser", "qwen3", "--uvicorn-log-level", "warning"],
                      env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    srv = ManagedServer(spec, tiny_path)
    loop.run_until_complete(srv.start())
    yield srv
    loop.run_until_complete(srv.stop())


def run(loop, server, tiny_path, **options):
    async def go():
        backend = OpenAIBackend(tiny_path, {"base_url": server.url + "/v1", "endpoint": "chat", **options})
        await backend.start()
        reqs = [Request(f"r{t}", PROMPT, t + 1 + a, thinking_tokens=t, answer_tokens=a) for t, a in CASES]
        try:
            return reqs, await asyncio.gather(*(measure(backend, r, now_ns()) for r in reqs))
        finally:
            await backend.stop()
    return loop.run_until_complete(go())


def test_server_forces_thinking_and_the_stream_splits_exactly(server, loop, tiny_path, tiny_tokenizer):
    reqs, samples = run(loop, server, tiny_path, check_reasoning_usage=False)
    end = tiny_tokenizer.convert_tokens_to_ids("</think>")
    for s, r in zip(samples, reqs):
        check_thinking(s, r, end)


def test_usage_disagreements_are_error_samples(server, loop, tiny_path):
    """vLLM's usage counts thought tokens from their text: where it agrees the sample is ok,
    where it does not (a token whose text the detokenizer held back) the sample says so."""
    reqs, samples = run(loop, server, tiny_path)
    assert all(s.ok or s.error.startswith("reasoning_usage_mismatch: the stream carried") for s in samples)
    assert any(s.ok for s, r in zip(samples, reqs) if r.thinking_tokens > 0)     # agreement is seen
