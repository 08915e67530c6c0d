"""Forced output lengths: a model that really emits EOS early still streams exactly
max_output_tokens on hf, and the driver turns any other count into a `length_mismatch` error."""
from __future__ import annotations

import asyncio


from bench.metrics import core
from bench.run.driver import measure, now_ns
from bench.types import Request
from tests.helpers.fake_backend import FakeBackend


def req(i: int, n_out: int, **kw) -> Request:
    return Request(id=f"r{i}", prompt_token_ids=tuple(range(10, 18 + i)), max_output_tokens=n_out, **kw)


async def gather(backend, reqs):
    return await asyncio.gather(*(measure(backend, r, now_ns()) for r in reqs))


def test_driver_flags_a_short_forced_stream_as_length_mismatch():
    s_forced, s_free = asyncio.run(gather(FakeBackend(short_by=1), [req(0, 5), req(1, 5, ignore_eos=False)]))
    assert s_forced.error.startswith("length_mismatch") and "4 of 5" in s_forced.error
    assert not s_forced.ok and s_forced.output_tokens == 4
    assert s_free.ok                      # a request that honours EOS may stop early
    assert core.error_reasons([s_forced, s_free]) == {"length_mismatch": 1}


