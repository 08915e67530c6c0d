"""Trace-replay defects found against full public traces (issue 15), each pinned by a test.

- Azure timestamps are wall-clock without a zone: read as the machine's local time, two rows an
  hour apart across a daylight-saving change came out 2 s apart. They are read as naive offsets.
- Prompt tokens the trace does not share must never be shared: two different Mooncake hash ids
  got the same block tokens (a random pool slice starting at the same offset) and Azure rows
  shared prefixes by chance. Every block / row now starts with its own id spelled in tokens.
- A CSV saved with a UTF-8 byte-order mark was refused with "header needs columns ...".
- Scaled lengths round with Python's round(), which rounds halves to even: 2.5 -> 2, 3.5 -> 4.
"""
import time

import pytest

from bench.logs import azure
from bench.workloads.trace import TraceParams, TraceWorkload, read_trace
from tests.helpers.paths import SHARED_TRACES

SHARED = SHARED_TRACES   # ../shared beside the checkout
NO_TRACE = "the full public trace (../shared/traces beside the checkout) is not on this machine"
HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def workload(tokenizer, path, fmt, **over):
    read_trace.cache_clear()
    return TraceWorkload(TraceParams(format=fmt, path=str(path), **over), tokenizer, 0)


@pytest.mark.parametrize("a,b", [("2023-03-12 01:59:59", "2023-03-12 03:00:01"),   # spring forward
                                 ("2023-11-05 00:59:59", "2023-11-05 02:00:01")])  # fall back
def test_azure_timestamps_ignore_daylight_saving(tmp_path, monkeypatch, a, b):
    # 3,602 s apart on the trace's clock; as New York local time they were 2 s and 7,202 s apart.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        p = tmp_path / "dst.csv"
        p.write_text(HEAD + f"{a}.0000000,10,2\n{b}.5000000,10,2\n")
        assert [r.t_s for r in azure.read(p)] == [0.0, 3602.5]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_azure_csv_with_a_byte_order_mark_is_read(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(("\ufeff" + HEAD + "2023-11-16 18:15:46.6805900,374,44\n"
                   "2023-11-16 18:15:50.9951690,396,109\n").encode("utf-8"))
    rows = azure.read(p)
    assert [(r.input_tokens, r.output_tokens) for r in rows] == [(374, 44), (396, 109)]


def _blocks(w, rows):
    """hash id -> its block's tokens, over every full block of the rows' prompts."""
    seen = {}
    for i, r in enumerate(rows):
        prompt = w.prompt(r, i)
        for k, h in enumerate(r.hash_ids):
            block = prompt[k * w.block:(k + 1) * w.block]
            if len(block) == w.block:
                seen.setdefault(h, block)
    return seen


def test_scaled_lengths_round_halves_to_even(tiny_tokenizer, tmp_path):
    # Documented in bench/workloads/trace.py: round(n x scale), Python's round (halves to even).
    p = tmp_path / "t.jsonl"
    p.write_text('{"timestamp": 0, "input_length": 5, "output_length": 5, "hash_ids": [1]}\n'
                 '{"timestamp": 1, "input_length": 7, "output_length": 7, "hash_ids": [2]}\n')
    w = workload(tiny_tokenizer, p, "mooncake", scale=0.5, block_tokens=4)
    reqs = [w.request(0), w.request(1)]
    assert [len(r.prompt_token_ids) for r in reqs] == [2, 4]   # 2.5 -> 2, 3.5 -> 4
    assert [r.max_output_tokens for r in reqs] == [2, 4]
    assert w.block == 2                                       # 4 x 0.5
