"""The chat workload: exact token lengths, deterministic for a seed."""
import numpy as np
import pytest

from bench import config
from bench.workloads.chat import ChatWorkload

PARAMS = {"file": "chat", "scale": 0.1}


def make(tokenizer, seed):
    params = config.resolve_workload(PARAMS, "test")
    return ChatWorkload(params, tokenizer, seed)


def first(workload, n):
    it = workload.sessions()
    return [next(it).request for _ in range(n)]


def test_same_seed_same_token_ids(tiny_tokenizer):
    a, b = first(make(tiny_tokenizer, 3), 20), first(make(tiny_tokenizer, 3), 20)
    assert [r.prompt_token_ids for r in a] == [r.prompt_token_ids for r in b]
    assert [r.max_output_tokens for r in a] == [r.max_output_tokens for r in b]
    c = first(make(tiny_tokenizer, 4), 20)
    assert [r.prompt_token_ids for r in a] != [r.prompt_token_ids for r in c]


def test_lengths_follow_the_scaled_distribution(tiny_tokenizer):
    reqs = first(make(tiny_tokenizer, 0), 400)
    lens = np.array([len(r.prompt_token_ids) for r in reqs])
    outs = np.array([r.max_output_tokens for r in reqs])
    # lognormal median 1020 and 129 scaled by 0.1 -> about 102 and 13
    assert np.median(lens) == pytest.approx(102, rel=0.15)
    assert np.median(outs) == pytest.approx(13, rel=0.2)
    vocab = len(tiny_tokenizer)
    special = set(tiny_tokenizer.all_special_ids)
    assert all(0 <= t < vocab and t not in special for r in reqs[:50] for t in r.prompt_token_ids)


def test_prompt_tokens_decode_to_corpus_text(tiny_tokenizer):
    req = first(make(tiny_tokenizer, 0), 1)[0]
    text = tiny_tokenizer.decode(list(req.prompt_token_ids))
    assert len(text.split()) > len(req.prompt_token_ids) / 4  # real words, not byte noise
