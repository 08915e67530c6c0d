"""Shared bits of the tests that drive real vLLM (engine or server): prompts and checks."""
from __future__ import annotations

import asyncio

from bench.run.driver import measure, now_ns
from bench.types import Request, Sample

# vLLM's CPU KV-cache blocks hold 128 tokens and only whole blocks are cached: 300 shared tokens
# give 2 cacheable blocks (256 tokens) per later request.
PREFIX = tuple(10 + (i * 7) % 1900 for i in range(300))
BLOCK = 128


def request(rid: str, prompt: tuple[int, ...], n_out: int) -> Request:
    return Request(id=rid, prompt_token_ids=prompt, max_output_tokens=n_out)


def distinct_prompts(n: int, length: int, salt: int) -> list[tuple[int, ...]]:
    """Prompts that share no first block with each other or with PREFIX."""
    return [tuple(3 + (salt * 101 + i * 31 + j * 13) % 2000 for j in range(length)) for i in range(n)]


def run(loop: asyncio.AbstractEventLoop, backend, reqs: list[Request]) -> list[Sample]:
    async def go():
        return await asyncio.gather(*[measure(backend, r, now_ns()) for r in reqs])
    return loop.run_until_complete(go())


def check_stream(sample: Sample, req: Request) -> None:
    """Exactly the requested tokens, one timestamp each, never going back in time."""
    assert sample.error is None, sample.error
    assert sample.output_tokens == req.max_output_tokens
    assert len(sample.token_ns) == sample.output_tokens
    assert list(sample.token_ns) == sorted(sample.token_ns)
    assert list(sample.chunk_ns) == sorted(sample.chunk_ns)
    assert sample.sent_ns <= sample.token_ns[0]
    assert sample.prompt_tokens == len(req.prompt_token_ids)
