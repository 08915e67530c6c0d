"""Prompt tokens the full public traces do not share are never shared (issue 15): two different
Mooncake hash ids never get the same block tokens, and no two Azure rows start alike. Reads the
full traces in ../shared beside the checkout, where they are (else the tests skip, saying so)."""
import pytest

from tests.helpers.paths import SHARED_TRACES as SHARED
from tests.unit.test_trace_defects import NO_TRACE, _blocks, workload


@pytest.mark.skipif(not (SHARED / "mooncake_synthetic_trace.jsonl").exists(),
                    reason=NO_TRACE)
def test_different_mooncake_hash_ids_never_get_the_same_block(tiny_tokenizer):
    w = workload(tiny_tokenizer, SHARED / "mooncake_synthetic_trace.jsonl", "mooncake", count=1500)
    blocks = _blocks(w, w.rows)
    assert len(blocks) > 10_000
    assert len(set(blocks.values())) == len(blocks)    # one token sequence per id, never two ids


@pytest.mark.skipif(not (SHARED / "azure_llm_2023_code.csv").exists(), reason=NO_TRACE)
def test_azure_rows_share_no_prefix_block(tiny_tokenizer):
    # Azure rows have no hash ids: the trace shares nothing, so no two prompts may start alike.
    w = workload(tiny_tokenizer, SHARED / "azure_llm_2023_code.csv", "azure", count=4000, scale=0.25)
    firsts = [w.prompt(r, i)[:16] for i, r in enumerate(w.rows) if r.input_tokens * 0.25 >= 16]
    assert len(firsts) > 1000
    assert len(set(firsts)) == len(firsts)
