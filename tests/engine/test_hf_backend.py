"""The HF backend on the real tiny model: exact token counts, streaming, batching."""
import asyncio

import pytest

from bench.backends.hf import HFBackend
from bench.run.driver import measure, now_ns
from bench.types import Request


@pytest.fixture(scope="module")
def backend(tiny_path):
    b = HFBackend(tiny_path, {"max_batch_size": 4, "batch_wait_ms": 20})
    asyncio.run(b.start())
    yield b
    asyncio.run(b.stop())


def req(i, n_prompt, n_out, **kw):
    return Request(id=f"r{i}", prompt_token_ids=tuple(range(10, 10 + n_prompt)), max_output_tokens=n_out, **kw)


async def gather(backend, reqs):
    return await asyncio.gather(*(measure(backend, r, now_ns()) for r in reqs))


def test_exact_output_tokens_and_monotonic_stamps(backend):
    reqs = [req(0, 7, 1), req(1, 30, 17), req(2, 3, 40), req(3, 12, 5)]
    samples = asyncio.run(gather(backend, reqs))
    for r, s in zip(reqs, samples):
        assert s.ok, s.error
        assert s.output_tokens == r.max_output_tokens == len(s.output_token_ids)
        assert s.prompt_tokens == len(r.prompt_token_ids)
        assert list(s.token_ns) == sorted(s.token_ns) and s.token_ns[0] > s.sent_ns
        assert len(s.chunk_ns) == s.output_tokens  # one chunk per decode step here


def test_batched_output_matches_unbatched(backend):
    """Left padding must not change greedy outputs: batch of 4 == one at a time."""
    reqs = [req(i, 5 + 3 * i, 8) for i in range(4)]
    before = len(backend.batch_sizes)
    batched = asyncio.run(gather(backend, reqs))
    # they really were batched: sent together, they ran in batches larger than one
    assert max(backend.batch_sizes[before:]) > 1
    assert sum(backend.batch_sizes[before:]) == 4
    alone = [asyncio.run(gather(backend, [r]))[0] for r in reqs]
    assert [s.output_token_ids for s in batched] == [s.output_token_ids for s in alone]


def test_honours_eos_when_asked(backend, tiny_tokenizer):
    eos = tiny_tokenizer.eos_token_id
    forced = asyncio.run(gather(backend, [req(0, 8, 30)]))[0]
    assert forced.output_tokens == 30
    natural = asyncio.run(gather(backend, [req(0, 8, 30, ignore_eos=False)]))[0]
    ids = list(natural.output_token_ids)
    # random weights rarely emit EOS; either it stopped right after EOS or ran to the cap
    assert (ids[-1] == eos and eos not in ids[:-1]) or (len(ids) == 30 and eos not in ids)
