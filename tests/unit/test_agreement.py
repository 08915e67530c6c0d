"""bench crosscheck's table: the difference of the means against twice the standard error."""
import pytest

from bench.interop.agreement import render, row, rows


def test_a_difference_inside_the_spread_is_within():
    r = row("output_tok_s", [100, 104, 96], [101, 99, 103])
    assert r.diff_pct == pytest.approx(1.0)
    assert r.band_pct == pytest.approx(2 * ((16 / 3 + 4 / 3) ** 0.5), rel=1e-9)
    assert r.within is True


def test_a_difference_beyond_the_spread_is_not():
    r = row("ttft_ms_mean", [100, 101, 99], [120, 121, 119])
    assert r.diff_pct == pytest.approx(20.0) and r.within is False


def test_one_run_a_side_makes_no_call():
    r = row("ttft_ms_mean", [100], [110])
    assert r.band_pct is None and r.within is None and r.diff_pct == pytest.approx(10.0)


def test_render_names_both_sides_and_skips_missing_keys():
    table = rows([{"output_tok_s": 10.0, "ttft_ms_mean": 5.0}] * 2, [{"output_tok_s": 11.0}] * 2)
    assert [r.key for r in table] == ["output_tok_s"]
    text = render(table, "vllm bench serve", 2, 2)
    assert "vllm bench serve (2 runs)" in text and "+10.0%" in text
