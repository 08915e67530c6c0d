"""Reasoning on real engines with the tiny model (its tokenizer has <think> and </think>): every
request thinks and answers exactly as its workload drew, time to first answer follows TTFT, and
on vLLM with prefix caching the cached prompt tokens of keep / drop / last conversations are what
the prompts' structure predicts. The folder's shared vLLM engine (conftest.py: its deepseek_r1
reasoning parser finds the tiny model's think markers); small token counts."""
from __future__ import annotations

import asyncio

import pytest

from bench import config
from bench.run.driver import measure, now_ns
from bench.types import Request, Sample
from bench.workloads.chat import ChatWorkload
from bench.workloads.chat_multiturn import ChatMultiturnWorkload
from bench.workloads.thinking import ThinkMarkers, cached_prefix_tokens
from tests.helpers.vllm_present import skip_without_vllm

CHAT = {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 8, "high": 40},
        "output_tokens": {"dist": "uniform", "low": 1, "high": 6},
        "thinking_tokens": {"dist": "uniform", "low": 0, "high": 24}}


def chat_requests(tokenizer, n: int, seed: int) -> list[Request]:
    w = ChatWorkload(config.resolve_workload(CHAT, "test"), tokenizer, seed)
    return [w.session(i).request for i in range(n)]


def check_thinking(s: Sample, r: Request, end_id: int) -> None:
    assert s.ok, s.error
    assert (s.reasoning_tokens, s.answer_tokens) == (r.thinking_tokens, r.answer_tokens)
    assert s.output_token_ids[r.thinking_tokens] == end_id          # the forced </think>, exactly there
    assert end_id not in s.output_token_ids[r.thinking_tokens + 1:]
    ttft, ttfa = s.token_ns[0] - s.sent_ns, s.first_answer_ns - s.sent_ns
    assert ttfa >= ttft and s.first_answer_ns == s.token_ns[r.thinking_tokens + 1]


async def gather(backend, reqs):
    return await asyncio.gather(*(measure(backend, r, now_ns()) for r in reqs))


def test_hf_forces_thinking_and_answer_lengths(tiny_path, tiny_tokenizer):
    from bench.backends.hf import HFBackend

    end = ThinkMarkers.of(tiny_tokenizer).end[0]
    reqs = chat_requests(tiny_tokenizer, 6, seed=1)
    reqs[0] = Request(**{**{f: getattr(reqs[0], f) for f in Request.__slots__}, "thinking_tokens": 0,
                         "max_output_tokens": 1 + reqs[0].answer_tokens})    # a thought closed at once
    backend = HFBackend(tiny_path, {"max_batch_size": 3, "batch_wait_ms": 50, "torch_threads": 1})
    asyncio.run(backend.start())
    try:
        samples = asyncio.run(gather(backend, reqs))     # static batches mixing thinking lengths
    finally:
        asyncio.run(backend.stop())
    for s, r in zip(samples, reqs):
        check_thinking(s, r, end)


skip_without_vllm()


def test_vllm_forces_thinking_and_answer_lengths(engine, loop, tiny_tokenizer):
    end = ThinkMarkers.of(tiny_tokenizer).end[0]
    reqs = chat_requests(tiny_tokenizer, 8, seed=2)
    assert 0 < min(r.thinking_tokens for r in reqs) < max(r.thinking_tokens for r in reqs)
    for s, r in zip(loop.run_until_complete(gather(engine, reqs)), reqs):
        check_thinking(s, r, end)


# Lengths that put the keep and drop predictions in different 128-token blocks of vLLM's CPU cache.
MULTI = {"kind": "chat_multiturn", "turns": {"dist": "fixed", "value": 3}, "system_tokens": 100,
         "first_message_tokens": {"dist": "fixed", "value": 150},
         "user_message_tokens": {"dist": "fixed", "value": 40},
         "output_tokens": {"dist": "fixed", "value": 12}, "thinking_tokens": {"dist": "fixed", "value": 60}}


@pytest.mark.parametrize("policy", ["keep", "drop", "last"])
def test_vllm_prefix_cache_follows_the_history_policy(engine, loop, tiny_tokenizer, policy):
    seed = {"keep": 11, "drop": 12, "last": 13}[policy]     # own system prompt: no cache shared across tests
    w = ChatMultiturnWorkload(config.resolve_workload({**MULTI, "thinking_history": policy}, "test"),
                              tiny_tokenizer, seed)
    sent: list[tuple[Request, Sample]] = []

    async def send(req, scheduled=None):
        s = await measure(engine, req, now_ns())
        sent.append((req, s))
        return s
    loop.run_until_complete(w.session(0).run(send))
    assert len(sent) == 3 and all(s.ok for _, s in sent)
    held: list[tuple[int, ...]] = []       # what the cache holds: each earlier prompt and its output
    measured, predicted = [], []
    for req, s in sent:
        predicted.append(max((cached_prefix_tokens(h, req.prompt_token_ids, 128) for h in held), default=0))
        measured.append(s.cached_prompt_tokens)
        held.append(req.prompt_token_ids + s.output_token_ids)
    assert measured == predicted, (policy, measured, predicted)
    # keep reuses its whole past; drop loses each earlier thought and what followed it
    assert predicted[1] == {"keep": 256, "drop": 128, "last": 256}[policy]
