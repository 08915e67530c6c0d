"""Capacity search: the pure decisions (Wilson stop, bisection, saturation, estimate) from records
checkable by hand, and the config errors a search can make (fast, no model)."""
from __future__ import annotations

import math

import pytest
import yaml

from bench import config
from bench.errors import UserError
from bench.metrics import slo
from bench.types import Sample

MS = 1_000_000


def sample(rid: str, ttft_ms: float, task: str | None = None, sent_ms: float = 0.0, n_tok: int = 2,
           error: str | None = None) -> Sample:
    sent = int(sent_ms * MS)
    toks = tuple(sent + int((ttft_ms + i) * MS) for i in range(n_tok)) if not error else ()
    return Sample(rid, task, sent, sent, toks, toks, 10, None, len(toks), error=error)


def test_wilson_matches_the_textbook_value():
    # 9 of 10 at 95%: Wilson gives [0.596, 0.982] (z = 1.96)
    lo, hi = slo.wilson(9, 10, 0.95)
    assert lo == pytest.approx(0.596, abs=1e-3) and hi == pytest.approx(0.982, abs=1e-3)
    assert slo.wilson(0, 0) == (0.0, 1.0)


def test_point_verdict_needs_the_minimums_then_calls_met_or_missed():
    args = dict(target=0.9, min_duration_s=5, min_units=10, confidence=0.95, rel_precision=0.1)
    assert slo.point_verdict(100, 100, elapsed_s=4, **args) is None          # too soon
    assert slo.point_verdict(5, 5, elapsed_s=9, **args) is None              # too few units
    assert slo.point_verdict(100, 100, elapsed_s=9, **args) == "met"         # lower bound 0.963 >= 0.9
    assert slo.point_verdict(50, 100, elapsed_s=9, **args) == "missed"       # upper bound 0.597 < 0.9
    assert slo.point_verdict(18, 20, elapsed_s=9, **args) is None            # straddles, wide


def test_point_verdict_precise_when_the_percentile_is_pinned_down():
    args = dict(target=0.9, min_duration_s=0, min_units=10, confidence=0.95, rel_precision=0.1)
    tight = sorted([0.99 + i * 1e-5 for i in range(1000)])                   # p90 ~ 0.999, known well
    assert slo.point_verdict(900, 1000, elapsed_s=1, pressures=tight, **args) == "precise"
    # 20 units: the p90's interval reaches the worst unit, which failed (inf): not pinned down
    wide = [0.5 + i / 20 for i in range(19)] + [math.inf]
    assert slo.point_verdict(18, 20, elapsed_s=1, pressures=wide, **args) is None
    lo, p, hi = slo.quantile_ci([float(i) for i in range(100)], 0.9)     # ranks 84..96 (1-based)
    assert (lo, p, hi) == (83.0, 89.0, 95.0)


def test_a_unit_is_a_request_or_a_whole_task():
    th = {"ttft_ms": 50.0}
    assert slo.attainment([sample("a", 10), sample("b", 60), sample("c", 1, error="x")], th, False) == (1, 3)
    # a task meets when every call does and its latency does
    task = [sample("t1-0", 10, "t1"), sample("t1-1", 10, "t1", sent_ms=30)]
    assert slo.attainment(task, th | {"task_latency_ms": 45.0}, True) == (1, 1)   # 30 + 10 + 1 = 41 ms
    assert slo.attainment(task, th | {"task_latency_ms": 40.0}, True) == (0, 1)
    assert slo.unit_pressure(task, {"task_latency_ms": 41.0}) == pytest.approx(1.0)


def probe(load, met, att=1.0, units_s=None, pressure=0.5):
    return slo.Probe(load, met, att, load if units_s is None else units_s, pressure)


def test_search_raises_geometrically_then_bisects_to_precision():
    nl = lambda ps: slo.next_load(ps, low=1, high=100, growth=2, precision_pct=10, integer=False)  # noqa: E731
    assert nl([]) == 1
    assert nl([probe(1, True), probe(2, True)]) == 4
    assert nl([probe(1, True), probe(2, True), probe(4, False)]) == 3
    assert nl([probe(2, True), probe(4, False), probe(3, True), probe(3.5, False)]) == 3.25
    assert nl([probe(3, True), probe(3.25, False)]) is None                  # within 10%
    assert nl([probe(1, False)]) is None                                      # even low misses
    assert nl([probe(64, True)]) == 100 and nl([probe(100, True)]) is None    # capped at high
    ints = lambda ps: slo.next_load(ps, 1, 16, 2, 10, integer=True)          # noqa: E731
    assert ints([probe(4, True), probe(8, False)]) == 6
    assert ints([probe(6, True), probe(7, False)]) is None                   # one apart


def test_saturation_flat_throughput_with_rising_latency():
    prev = probe(4, True, units_s=70, pressure=0.3)
    assert slo.saturated([prev], probe(8, True, units_s=66, pressure=0.9), False)
    assert not slo.saturated([prev], probe(8, True, units_s=130, pressure=0.9), False)
    assert not slo.saturated([prev], probe(8, True, units_s=66, pressure=0.35), False)
    assert slo.saturated([], probe(10, True, units_s=6, pressure=0.5), True)   # a rate, served at 60% of the offer


def test_estimate_interpolates_attainment_inside_the_bracket():
    good, bad = probe(4, True, att=1.0), probe(8, False, att=0.8)
    cap, lo, hi = slo.estimate(good, bad, 0.9)
    assert (cap, lo, hi) == (6.0, 4, 8)
    assert slo.estimate(None, probe(1, False), 0.9) == (None, 0.0, 1)
    assert slo.estimate(good, None, 0.9) == (4, 4, None)


def write(tmp_path, doc) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


BASE = {"model": "tiny", "workload": "chat",
        "load": {"kind": "capacity", "search": {"over": "rate", "low": 1, "high": 8}},
        "slo": {"ttft_ms": 500}}


@pytest.mark.parametrize("change, message", [
    ({"slo": {}}, "slo: a capacity search (load.kind: capacity) needs at least one threshold"),
    ({"slo": {"percentile": 95}}, "needs at least one threshold"),
    ({"slo": {"task_latency_ms": 1000}}, "slo.task_latency_ms: workload 'chat' has no tasks"),
    ({"load": {"kind": "capacity"}}, "load.kind 'capacity' needs load.search"),
    ({"load": {"kind": "capacity", "search": {"low": 8, "high": 2}}}, "low (8) must be below high (2)"),
    ({"load": {"kind": "capacity", "search": {"over": "concurrency", "low": 1.5, "high": 4}}}, "whole numbers"),
    ({"load": {"kind": "capacity", "search": {"over": "tokens", "low": 1, "high": 4}}}, "load.search.over"),
    ({"load": {"kind": "rate", "rate": 1, "requests": 4, "search": {"low": 1, "high": 2}}},
     "load.search: unknown key"),
    ({"load": {"kind": "capacity", "search": {"low": 1, "high": 4, "bogus": 1}}}, "load.search.bogus: unknown key"),
    ({"slo": {"ttft_ms": 500, "percentile": 100}}, "slo.percentile"),
    ({"workload": {"file": "mooncake", "count": 10},
      "load": {"kind": "capacity", "search": {"over": "concurrency", "low": 1, "high": 4}}},
     "load.search.over: 'concurrency' cannot drive workload 'trace'"),
])
def test_capacity_config_errors_are_one_line(tmp_path, change, message):
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(UserError) as err:
        config.load(path)
    assert message in str(err.value) and "\n" not in str(err.value) and path in str(err.value)


def test_capacity_configs_that_validate(tmp_path):
    (spec,) = config.load(write(tmp_path, BASE))
    assert spec.slo.target == 0.9 and spec.load.search.time_cap_s == 180
    agent = {**BASE, "workload": {"file": "agentic"}, "slo": {"task_latency_ms": 60000, "percentile": 95},
             "load": {"kind": "capacity", "search": {"over": "concurrency", "low": 1, "high": 8}}}
    (spec,) = config.load(write(tmp_path, agent))
    assert spec.slo.target == 0.95 and spec.slo.thresholds() == {"task_latency_ms": 60000}


def cap_doc(over="rate", capacity=6.0, lo=4.0, hi=8.0, unit="requests/s", units_s_unit="requests/s"):
    probe = lambda load, met, units_s: {"run_id": f"r{load}", "load": load, "slo_met": met, "units_s": units_s,  # noqa: E731
                                        "output_tok_s": units_s * 10, "total_tok_s": units_s * 60, "ttft_ms_p90": 100.0}
    return {"search": "s", "name": "n", "label": "cap", "workload": "chat", "backend": "vllm", "model": "tiny",
            "over": over, "unit": unit, "units_s_unit": units_s_unit, "units_s_at_capacity": 3.0,
            "slo": {"ttft_ms": 250.0, "tpot_ms": None, "percentile": 90.0}, "capacity": capacity,
            "ci_low": lo, "ci_high": hi, "stopped": "converged",
            "probes": [probe(4.0, True, 4.0), probe(8.0, False, 6.0)]}


def test_forecast_from_a_capacity_file_by_hand():
    from bench.analysis import forecast

    f = forecast.from_capacity(cap_doc(), target_rate=20, price_per_gpu_hour=2.0)
    # 20 req/s at 6 per replica: ceil(3.33) = 4 replicas, $8/hour, 72,000 requests/hour
    assert f.replicas == 4 and f.cost_per_hour == 8.0 and f.cost_per_unit == pytest.approx(8 / 72000)
    assert f.band["replicas"] == (3, 5)                        # 20/8 -> 3, 20/4 -> 5
    assert f.slos == {"ttft_ms_p90": 250.0}
    assert f.cost_per_mtok == pytest.approx(8 / (72000 * 60) * 1e6)   # 60 tokens per request
    # over concurrency: the units served at capacity are the rate per replica
    g = forecast.from_capacity(cap_doc(over="concurrency", unit="concurrent sessions", units_s_unit="tasks/s"),
                               target_rate=10, price_per_gpu_hour=1.0)
    assert g.unit == "task" and g.capacity == 3.0 and g.replicas == 4
    assert forecast.from_capacity(cap_doc(capacity=None, lo=0.0, hi=4.0), 1, 1).replicas is None


def test_capacity_line_reads_like_the_answer():
    from bench.analysis.summary import capacity_line

    line = capacity_line(cap_doc(over="concurrency", unit="concurrent sessions", units_s_unit="tasks/s"))
    assert "ttft_ms <= 250 for 90% of tasks" in line and "6 concurrent sessions in [4, 8]" in line
    assert "3 tasks/s" in line and "10,800 tasks/hour" in line
    assert "every probe met" in capacity_line(cap_doc(hi=None))
    assert "even the lowest load" in capacity_line(cap_doc(capacity=None, lo=0.0, hi=4.0))
