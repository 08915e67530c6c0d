"""Metric math on samples small enough to check by hand (times in ns, 1 ms = 1_000_000)."""
import pytest

from bench.metrics import core as metrics
from bench.metrics import sample_values as values
from bench.metrics.definitions import metric_for
from bench.types import Sample

MS = 1_000_000


def sample(token_ms, chunk_ms=None, sent_ms=100, scheduled_ms=None, error=None, warmup=False, rid="r"):
    token_ns = tuple(int(t * MS) for t in token_ms)
    chunk_ms = sorted(set(token_ms)) if chunk_ms is None else chunk_ms
    return Sample(request_id=rid, task_id=None,
                  scheduled_ns=int((sent_ms if scheduled_ms is None else scheduled_ms) * MS),
                  sent_ns=int(sent_ms * MS), token_ns=token_ns,
                  chunk_ns=tuple(int(t * MS) for t in chunk_ms), prompt_tokens=10,
                  cached_prompt_tokens=None, output_tokens=len(token_ns), error=error, warmup=warmup)


def test_ttft_e2e_tpot_by_hand():
    # sent at 100 ms, tokens at 110, 120, 140 ms: TTFT 10, E2E 40, TPOT (40-10)/2 = 15
    s = sample([110, 120, 140], scheduled_ms=95)
    assert values.ttft_ms(s) == pytest.approx(10)
    assert values.ttft_from_scheduled_ms(s) == pytest.approx(15)
    assert values.e2e_ms(s) == pytest.approx(40)
    assert values.tpot_ms(s) == pytest.approx(15)
    assert values.send_lag_ms(s) == pytest.approx(5)


def test_itl_expands_multi_token_chunks():
    # chunk at 110 ms with 1 token, chunk at 130 ms with 3 tokens, chunk at 150 ms with 1 token
    s = sample([110, 130, 130, 130, 150], chunk_ms=[110, 130, 150])
    assert values.itl_ms(s) == pytest.approx([20, 0, 0, 20])
    assert values.chunk_gap_ms(s) == pytest.approx([20, 20])
    # TPOT and the mean token gap agree: (150 - 110) / 4 = 10
    assert values.tpot_ms(s) == pytest.approx(10)
    assert sum(values.itl_ms(s)) / len(values.itl_ms(s)) == pytest.approx(10)


def test_tpot_needs_two_tokens():
    assert values.tpot_ms(sample([110])) is None


def test_summary_throughput_goodput_and_errors():
    a = sample([110, 120], sent_ms=100, rid="a")          # ttft 10, tpot 10
    b = sample([260, 300], sent_ms=200, rid="b")          # ttft 60, tpot 40
    bad = sample([], sent_ms=150, error="BackendError: boom", rid="c")
    warm = sample([10, 20], sent_ms=0, warmup=True, rid="w")
    out = metrics.summarize([a, b, bad, warm], slo={"ttft_ms": 50, "tpot_ms": None})
    assert out["requests"] == 3 and out["completed"] == 2 and out["errors"] == 1
    assert out["error_rate"] == pytest.approx(1 / 3)
    # duration: first send (100 ms) to last completion (300 ms) = 0.2 s; warm-up excluded
    assert out["duration_s"] == pytest.approx(0.2)
    assert out["request_s"] == pytest.approx(10)
    assert out["output_tok_s"] == pytest.approx(4 / 0.2)
    assert out["total_tok_s"] == pytest.approx((4 + 20) / 0.2)
    # only `a` meets TTFT <= 50 ms
    assert out["goodput_request_s"] == pytest.approx(1 / 0.2)
    assert out["slo_attainment"] == pytest.approx(1 / 3)
    assert out["ttft_ms_n"] == 2 and out["ttft_ms_p50"] == pytest.approx(35)
    assert out["ttft_ms_mean"] == pytest.approx(35)
    assert metrics.error_reasons([a, bad]) == {"BackendError": 1}


def test_percentiles_and_std():
    out = metrics.distribution("x_ms", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert out["x_ms_n"] == 10
    assert out["x_ms_p50"] == pytest.approx(5.5)
    assert out["x_ms_p90"] == pytest.approx(9.1)
    assert out["x_ms_p99"] == pytest.approx(9.91)
    assert out["x_ms_std"] == pytest.approx(3.0276, abs=1e-4)
    assert metrics.distribution("y_ms", []) == {"y_ms_n": 0.0}


def test_metric_directions():
    assert metric_for("ttft_ms_p99").higher_is_better is False
    assert metric_for("ttft_from_scheduled_ms_p50").doc.startswith("first output token arrival - scheduled")
    assert metric_for("output_tok_s").higher_is_better is True
    assert metric_for("goodput_request_s").higher_is_better is True
    assert metric_for("no_such_thing") is None


def test_throughput_window_runs_to_a_failure_seen_last():
    """Sent at 100, done at 300 ms; a request sent at 150 ms fails at 500 ms (after 2 tokens,
    stream cut): the window is 100 -> 500 ms = 0.4 s, so 1 completed request / 0.4 s."""
    ok = sample([200, 300], sent_ms=100, rid="ok")
    cut = sample([160, 170], sent_ms=150, error="read_timeout: stream cut", rid="cut")
    cut = Sample(**{**{f: getattr(cut, f) for f in cut.__slots__}, "done_ns": 500 * MS})
    assert cut.end_ns == 500 * MS and ok.end_ns == 300 * MS
    out = metrics.summarize([ok, cut])
    assert out["duration_s"] == pytest.approx(0.4)
    assert out["request_s"] == pytest.approx(2.5) and out["output_tok_s"] == pytest.approx(5)
    # a sample written before done_ns existed ends at its last token, else its send
    assert sample([], sent_ms=150, error="x").end_ns == 150 * MS
