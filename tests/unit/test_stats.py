"""Within-run bootstrap intervals (one run per side, asked for) and the verdict rule on
hand-built samples."""
import numpy as np
import pytest

from bench.metrics import core as metrics
from bench.analysis import runsets, stats
from tests.helpers.synth import MS, sample

T0 = 10**12


def run_of(ttfts_ms, e2e_ms=50.0, gap_ms=100.0, output=5):
    """Requests sent back to back every gap_ms; each ends e2e_ms after it was sent."""
    return [sample(i, T0 + int(i * gap_ms * MS), t, T0 + int((i * gap_ms + e2e_ms) * MS), output=output)
            for i, t in enumerate(ttfts_ms)]


def one_run_each(key, a, b, **kw):
    """One run per side, judged by its within-run interval (runs as the unit: bench.analysis.runsets)."""
    return runsets.compare(key, [a], [b], within_run=True, **kw)


def test_point_estimates_equal_the_summary():
    s = run_of(np.linspace(5, 25, 40))
    summary = metrics.summarize(s)
    for key in ("ttft_ms_p50", "ttft_ms_p99", "e2e_ms_mean", "tpot_ms_p50", "itl_ms_p99",
                "request_s", "output_tok_s", "total_tok_s", "error_rate"):
        assert stats.resampler(key, s).point == pytest.approx(summary[key]), key


def test_rate_gaps_sum_to_duration():
    # 10 requests, sent every 100 ms, each 50 ms long: duration 0.95 s, 10 requests -> 10/0.95 /s
    r = stats.resampler("request_s", run_of([10.0] * 10))
    assert r.point == pytest.approx(10 / 0.95)


def test_identical_runs_are_equivalent():
    s = run_of(np.random.default_rng(1).uniform(5, 25, 40))
    for key in ("ttft_ms_p50", "ttft_ms_p90", "request_s", "output_tok_s"):
        c = one_run_each(key, s, s)
        assert c.verdict == "equivalent" and c.change_pct == pytest.approx(0.0)


def test_tail_percentile_needs_enough_samples():
    # 40 requests: two lie beyond p95 but not beyond p99, so p99 (the max) gets no verdict
    rng = np.random.default_rng(3)
    a, b = run_of(rng.uniform(5, 25, 40), e2e_ms=200), run_of(rng.uniform(5, 25, 40) * 3, e2e_ms=200)
    assert one_run_each("ttft_ms_p99", a, b).verdict.startswith("too few samples (n=40 per run, need 200)")
    assert one_run_each("ttft_ms_p95", a, b).verdict == "regression"
    assert stats.min_units("ttft_ms_p90") == 20 and stats.min_units("ttft_ms_mean") == 2


def test_verdict_respects_direction():
    rng = np.random.default_rng(2)
    fast = run_of(rng.uniform(5, 25, 40), e2e_ms=50, gap_ms=100)
    slow = run_of(rng.uniform(15, 75, 40), e2e_ms=150, gap_ms=200)   # 3x TTFT, half the rate
    assert one_run_each("ttft_ms_p50", fast, slow).verdict == "regression"
    assert one_run_each("ttft_ms_p50", slow, fast).verdict == "improvement"
    c = one_run_each("request_s", fast, slow)
    assert c.verdict == "regression" and c.change_pct == pytest.approx(-50, abs=2)
    assert one_run_each("request_s", slow, fast).verdict == "improvement"


def test_small_change_inside_min_effect_is_not_flagged():
    a = run_of(np.linspace(14, 16, 200))
    b = run_of(np.linspace(14, 16, 200) * 1.02)          # +2%, tight CI: real but below 5%
    assert one_run_each("ttft_ms_mean", a, b).verdict == "equivalent"
    assert one_run_each("ttft_ms_mean", a, b, min_effect_pct=1.0).verdict == "regression"


def test_task_latency_and_pooled_runs():
    s = [sample(0, T0, 1, T0 + 10 * MS, task_id="a"), sample(1, T0 + 20 * MS, 1, T0 + 50 * MS, task_id="a"),
         sample(2, T0, 1, T0 + 30 * MS, task_id="b")]
    assert sorted(stats.task_latency_ms(s)) == [30.0, 50.0]
    # pooling two runs keeps each run's own gaps: 2 requests in 0.05 s each -> 40/s, not a long gap
    r1, r2 = run_of([5.0, 5.0], gap_ms=0, e2e_ms=50), run_of([5.0, 5.0], gap_ms=0, e2e_ms=50)
    r2 = [sample(i, x.sent_ns + 10**12, 5.0, x.end_ns + 10**12) for i, x in enumerate(r2)]
    assert stats.resampler("request_s", [r1, r2]).point == pytest.approx(40.0)


def test_the_verdict_rule_has_four_outcomes():
    assert stats.verdict(-20, -25, -15, higher_better=False) == "improvement"
    assert stats.verdict(-20, -25, -15, higher_better=True) == "regression"
    assert stats.verdict(-8, -15, -1, higher_better=False) == "improvement"    # excludes 0, beyond 5%
    assert stats.verdict(-3, -4, -2, higher_better=False) == "equivalent"      # real, inside the margin
    assert stats.verdict(-3, -15, 9, higher_better=False) == "inconclusive"
    assert stats.verdict(-6, -15, 3, higher_better=False) == "inconclusive"    # 0 is in the interval


def test_runs_needed_falls_with_the_spread():
    from bench.analysis import verdicts
    few, many = verdicts.runs_needed(0.01, 0.05, 5.0), verdicts.runs_needed(0.10, 0.05, 5.0)
    assert few == 3 and 50 < many < 100
    assert verdicts.runs_needed(0.03, 0.05, 5.0) < verdicts.runs_needed(0.03, 0.0125, 5.0)


def closed_loop(seed: int, conc: int = 16, n: int = 320):
    """n requests from `conc` workers, each request 100 ms +/- 20%: completions come in waves."""
    rng = np.random.default_rng(seed)
    free, out = [T0] * conc, []
    for i in range(n):
        w = int(np.argmin(free))
        d = 100 * rng.uniform(0.8, 1.2)
        out.append(sample(i, free[w], d / 4, free[w] + int(d * MS), output=8))
        free[w] += int(d * MS)
    return out


def test_a_rate_interval_resamples_windows_of_time_not_completions():
    runs = [closed_loop(s) for s in range(5)]
    values = np.array([stats.resampler("output_tok_s", r).point for r in runs])
    point, lo, hi = stats.interval("output_tok_s", runs[0])
    half_pct = (hi - lo) / 2 / point * 100
    num, gaps, _ = stats._rate_completions("output_tok_s", runs[0], None)
    boot = stats.bootstrap(stats._ratio(num, gaps), 1000)       # completions as if independent
    naive_pct = (np.percentile(boot, 97.5) - np.percentile(boot, 2.5)) / 2 / point * 100
    assert half_pct < naive_pct / 2 and half_pct < 6
    assert lo < values.mean() < hi                               # the reruns' level is inside
    c, s, first = stats.time_windows(num, gaps, busy_s=16 * gaps.sum())
    assert c.sum() == num.sum() and s.sum() == pytest.approx(gaps.sum()) and np.diff(first).min() >= 32


def test_the_reported_hf_slowdown_is_a_regression():
    """max_batch_size 8 -> 1, five interleaved rounds: per-run output tok/s 320-333 vs 174-224
    (the two-stage bootstrap gave [0.12, 2.87] and no verdict)."""
    from bench.analysis import verdicts
    a, b = np.array([320.0, 333, 326, 329, 322]), np.array([174.0, 224, 201, 188, 210])
    base = stats.Change("output_tok_s", None, None, None, None, None, "")
    for paired in (False, True):
        c = verdicts.judge(base, a, b, paired, verdicts.ALPHA / 4, 5.0)
        assert c.verdict == "regression" and -50 < c.ci_low_pct < c.ci_high_pct < -25, c
