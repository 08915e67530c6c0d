"""Capacity search: the pure decisions (latency from the scheduled time, misses for units that
never came back, batch-means verdicts, backlog saturation, bisection, widening, confirmation)
from records checkable by hand, relative SLOs, and the config errors a search
can make (fast, no model)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from bench import config
from bench.errors import UserError
from bench.metrics import search_steps as steps
from bench.metrics import saturation, slo
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


def units_from(goods, step_ms=100.0, latency_ms=50.0, start_ms=0.0):
    """Finished units due every step_ms, each latency_ms long, good or not as given."""
    return [slo.Unit(int((start_ms + i * step_ms) * MS), int((start_ms + i * step_ms + latency_ms) * MS), True, g,
                     0.5 if g else 2.0, int(latency_ms * MS)) for i, g in enumerate(goods)]


def test_latency_runs_from_the_scheduled_time_for_an_open_loop():
    # due at 0, sent 600 ms late by the client, first token 100 ms after the send
    late = Sample("a", None, 0, 600 * MS, (700 * MS, 701 * MS), (700 * MS, 701 * MS), 10, None, 2)
    th = {"ttft_ms": 250.0}
    (closed,) = slo.units_of([late], th, tasks=False, scheduled=False)
    (opened,) = slo.units_of([late], th, tasks=False, scheduled=True)
    assert closed.good and closed.start_ns == 600 * MS
    assert not opened.good and opened.start_ns == 0 and opened.pressure == pytest.approx(700 / 250)
    # TPOT does not move with the send time
    assert slo.from_scheduled(late).token_ns == late.token_ns


def test_a_unit_due_in_the_window_that_never_came_back_is_a_miss():
    th = {"ttft_ms": 250.0}
    done = [sample(f"r{i}", 10, sent_ms=i * 100) for i in range(7)]
    units = slo.units_of(done, th, False, scheduled=True)
    due = [i * 100 * MS for i in range(12)]            # 12 due; 7 answered; 10 due before 1 s
    missing = slo.missing_units(due, units, 1000 * MS)
    assert [u.start_ns for u in missing] == [i * 100 * MS for i in (7, 8, 9)]
    assert all(u.good is False and u.end_ns is None for u in missing)
    v = slo.judge(sorted(units + missing, key=lambda u: u.start_ns), 0, 1000 * MS, 0.9, 0.1, final=True)
    assert (v.units, v.good) == (10, 7)


def test_batch_bounds_need_enough_units_and_widen_for_correlation():
    lo, hi, b = slo.batch_bounds([True] * 40, 0.075)
    assert lo >= 0.9 and b == slo.BATCHES                 # 40 of 40: shown above 90%
    assert slo.batch_bounds([True] * 10, 0.075)[0] < 0.9  # 10 of 10 cannot show it
    assert slo.batch_bounds([True, True], 0.075) == (0.0, 1.0, 0)
    # the same 36 of 40, once spread evenly and once as one bad stretch: the stretch is wider
    spread = [i % 10 != 0 for i in range(40)]
    stretch = [not (20 <= i < 24) for i in range(40)]
    assert slo.batch_bounds(stretch, 0.075)[0] < slo.batch_bounds(spread, 0.075)[0]
    # pressures that wander slowly (a queue) weigh as fewer units than independent ones
    rng = np.random.default_rng(0)
    assert slo.effective_share(np.cumsum(rng.normal(size=400))) < 0.1
    assert slo.effective_share(rng.normal(size=400)) > 0.6
    # a queue slower than the series is long (AR(1), phi 0.98: true share 0.0101 at 250 units):
    # the sample autocorrelations read low by ~tau / n, which effective_share undoes (0.037 without)
    def ar1(phi: float, n: int) -> np.ndarray:
        x, e = np.zeros(n), rng.normal(size=n)
        for i in range(1, n):
            x[i] = phi * x[i - 1] + e[i]
        return x
    assert np.median([slo.effective_share(ar1(0.98, 250)) for _ in range(60)]) < 0.03


def test_judge_met_missed_and_undecided():
    args = dict(target=0.9, alpha=0.1)
    assert slo.judge(units_from([True] * 60), 0, 10**12, final=True, **args).call == "met"
    assert slo.judge(units_from([i % 2 == 0 for i in range(60)]), 0, 10**12, final=True, **args).call == "missed"
    assert slo.judge(units_from([True] * 10), 0, 10**12, final=True, **args).call is None   # too few to show
    assert slo.judge(units_from([True] * 2), 0, 10**12, final=True, **args).why == "too_few"
    # an interim look: 60 good and 20 still out; out counts as a miss for "met": not shown
    pending = units_from([True] * 60) + [slo.Unit(int((6000 + i) * MS), None, True, None, math.inf, None)
                                         for i in range(20)]
    assert slo.judge(pending, 0, 10**12, final=False, **args).call is None
    assert slo.judge(pending[:60], 0, 10**12, final=False, **args).call == "met"
    assert slo.judge(pending[:60], 0, 10**12, final=False, met_allowed=False, **args).call is None


def test_a_second_half_much_worse_is_not_stationary():
    assert slo.stationary(units_from([True] * 60))
    worse = units_from([True] * 40 + [i % 2 == 0 for i in range(40)])
    assert not slo.stationary(worse)
    assert slo.judge(worse, 0, 10**12, 0.9, 0.1, final=True).call == "missed"


def open_loop(rate_s: float, service_s: float, seconds: float, slots: int = 1, cut_s: float | None = None):
    """Units of a FIFO queue: due every 1/rate, each taking service_s of one of `slots`; those
    not done by cut_s (a probe ended then) are still in flight."""
    free, out = [0.0] * slots, []
    for i in range(int(rate_s * seconds)):
        due = i / rate_s
        k = min(range(slots), key=free.__getitem__)
        free[k] = max(due, free[k]) + service_s
        end = free[k] if cut_s is None or free[k] <= cut_s else None
        out.append(slo.Unit(int(due * 1e9), None if end is None else int(end * 1e9), True, end is not None,
                            1.0, None if end is None else int((end - due) * 1e9)))
    return out


def test_backlog_tells_a_served_load_from_one_past_saturation():
    stable = saturation.backlog(open_loop(10, 0.3, 10, slots=4), 2 * 10**9, 10 * 10**9)   # 75% busy
    assert not saturation.past_saturation(stable) and stable.served_share == pytest.approx(1, abs=0.05)
    assert stable.little == pytest.approx(3, rel=0.05)                            # 10/s x 0.3 s
    over = saturation.backlog(open_loop(10, 0.2, 10), 2 * 10**9, 10 * 10**9)              # serves 5/s of 10/s
    assert saturation.past_saturation(over) and over.served_share == pytest.approx(0.5, abs=0.05)
    assert over.in_flight_end > over.in_flight_start
    # a probe stopped early, its last sends still draining: the window ends at the stop, the drain
    # after it is not counted, and a stable load does not look saturated
    early = saturation.backlog(open_loop(10, 0.3, 4, slots=4, cut_s=4.0), 10**9, 4 * 10**9)
    assert not saturation.past_saturation(early)
    assert saturation.achieved_share(stable, 10, per_second=True) == pytest.approx(1, abs=0.05)
    assert saturation.achieved_share(over, 10, per_second=True) < 0.6


def test_the_looks_and_the_probe_verdict():
    units = open_loop(10, 0.2, 10, cut_s=5)              # saturated: latency grows without bound
    assert slo.interim_call([u for u in units if u.start_ns < 5 * 10**9], 0, 5 * 10**9, 0.9, 0.1, True) \
        == "saturated"
    fine = units_from([True] * 100, step_ms=100)
    v, b = slo.final_verdict(fine, 0, 10**10, 0.9, 0.1)
    assert v.call == "met" and not saturation.past_saturation(b) and slo.probe_met(None, v, False)
    assert not slo.probe_met(None, v, True) and not slo.probe_met("missed", v, False)
    assert slo.probe_met("met", v, False)


def probe(load, met, att=1.0, units_s=None, pressure=0.5):
    return steps.Probe(load, met, att, load if units_s is None else units_s, pressure)


def test_search_raises_geometrically_then_bisects_to_precision():
    nl = lambda ps: steps.next_load(ps, low=1, high=100, growth=2, precision_pct=10, integer=False)  # noqa: E731
    assert nl([]) == 1
    assert nl([probe(1, True), probe(2, True)]) == 4
    assert nl([probe(1, True), probe(2, True), probe(4, False)]) == 3
    assert nl([probe(2, True), probe(4, False), probe(3, True), probe(3.5, False)]) == 3.25
    assert nl([probe(3, True), probe(3.25, False)]) is None                  # within 10%
    assert nl([probe(64, True)]) == 100                                       # up to high first
    ints = lambda ps: steps.next_load(ps, 1, 16, 2, 10, integer=True)          # noqa: E731
    assert ints([probe(4, True), probe(8, False)]) == 6
    assert ints([probe(6, True), probe(7, False)]) is None                   # one apart


def test_a_range_without_the_crossing_is_left_both_ways():
    nl = lambda ps: steps.next_load(ps, low=2, high=8, growth=2, precision_pct=10, integer=False)  # noqa: E731
    assert nl([probe(8, True)]) == 16 and nl([probe(8, True), probe(16, True)]) == 32     # widen above high
    assert nl([probe(2, False)]) == 1 and nl([probe(2, False), probe(1, False)]) == 0.5   # narrow below low
    ints = lambda ps: steps.next_load(ps, 4, 16, 2, 10, integer=True)          # noqa: E731
    assert ints([probe(4, False)]) == 2 and ints([probe(2, False)]) == 1 and ints([probe(1, False)]) is None
    assert ints([probe(16, True)]) == 32
    assert steps.missing_side([probe(8, True)], False) == "high"
    assert steps.missing_side([probe(2, False)], False) == "low"
    assert steps.missing_side([probe(1, False)], True) is None                 # no load below 1
    assert steps.missing_side([probe(2, True), probe(4, False)], False) is None


def test_saturation_flat_throughput_with_rising_latency():
    prev = probe(4, True, units_s=70, pressure=0.3)
    assert steps.saturated([prev], probe(8, True, units_s=66, pressure=0.9))
    assert not steps.saturated([prev], probe(8, True, units_s=130, pressure=0.9))
    assert not steps.saturated([prev], probe(8, True, units_s=66, pressure=0.35))


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
    ({"load": {"kind": "capacity", "search": {"low": 1, "high": 4, "time_cap_s": 10, "confirm_s": 9}}},
     "time_cap_s (10) leaves no probe after confirm_s (9)"),
    ({"slo": {"ttft_ms": "fast"}},
     "slo.ttft_ms: 'fast' is not a threshold; allowed: a number of ms > 0, or a multiple"),
    ({"slo": {"ttft_ms": "0.5x"}}, "slo.ttft_ms: '0.5x' is not a threshold"),
    ({"slo": {"ttft_ms": {"unloaded_x": 3, "extra": 1}}}, "slo.ttft_ms: {"),
    ({"slo": {"ttft_ms": -3}}, "slo.ttft_ms: -3 is not a threshold"),
    ({"load": {"kind": "rate", "rate": 1, "requests": 4}, "slo": {"ttft_ms": "3x"}},
     "slo.ttft_ms: a threshold relative to the unloaded latency needs load.kind: capacity"),
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


def test_relative_slo_thresholds_are_fixed_by_the_unloaded_latency(tmp_path):
    (spec,) = config.load(write(tmp_path, {**BASE, "slo": {"ttft_ms": "3x", "tpot_ms": {"unloaded_x": 2},
                                                             "e2e_ms": 900}}))
    assert spec.slo.relative() == {"ttft_ms": 3.0, "tpot_ms": 2.0} and spec.slo.thresholds() == {"e2e_ms": 900}
    fixed = spec.slo.resolved({"ttft_ms": 40.0, "tpot_ms": 5.0})
    assert fixed.thresholds() == {"ttft_ms": 120.0, "tpot_ms": 10.0, "e2e_ms": 900} and not fixed.relative()
    assert spec.slo.absolute_only().thresholds() == {"e2e_ms": 900} and not spec.slo.absolute_only().relative()
    assert spec.load.search.confirm_s == 10 and spec.load.search.confidence == 0.9


def test_a_rate_probe_is_never_capped_by_an_inherited_concurrency(tmp_path):
    from bench.run.capacity import probe_spec

    doc = {**BASE, "load": {"kind": "concurrency", "concurrency": 4, "requests": 8},
           "runs": [{"label": "cap", "load": {"kind": "capacity", "search": {"over": "rate", "low": 1, "high": 8}}}]}
    (spec,) = config.load(write(tmp_path, doc))
    probe = probe_spec(spec, 6.0, 3.0, True).load
    assert probe.kind == "rate" and probe.max_in_flight is None and probe.open_loop and probe.scheduled


def test_a_search_on_a_fake_engine_widens_confirms_and_writes_its_file(tmp_path, tiny_path):
    """Every load meets a generous SLO (the fake answers in 20 ms; the threshold 50x its unloaded
    E2E): the search measures the unloaded latency, widens above `high` until its time cap,
    keeping back the confirmation's time, and confirms the last good load; the file says which
    side of the bracket is missing and why, and the probes' run.json hold absolute numbers."""
    import asyncio
    import json

    from bench.results import capacity_file
    from bench.run import capacity
    from bench.run.engines import Engine
    from bench.run.progress import Progress
    from tests.helpers.fake_backend import FakeBackend

    (spec,) = config.load_doc({
        "name": "cap", "model": "tiny", "workload": {"file": "chat", "scale": 0.02},
        "load": {"kind": "capacity", "search": {"over": "rate", "low": 10, "high": 20, "time_cap_s": 26,
                                                "min_duration_s": 1, "max_duration_s": 2, "confirm_s": 2.5,
                                                "unloaded_sessions": 3}},
        "slo": {"e2e_ms": "50x"}}, "test")
    runs = asyncio.run(capacity.search(spec, Engine(FakeBackend(delay_s=0.02), tiny_path), tmp_path, Progress()))
    (path,) = tmp_path.glob("*.capacity.json")
    d = json.loads(path.read_text())
    cut = [p for p in d["probes"] if p["stop"] == "time_cap"]   # a run cut at a cap is on disk, not returned
    assert d["schema"] == 2
    assert len(runs) + len(cut) == len(d["probes"]) + 1
    rel = d["slo_relative"]["e2e_ms"]
    assert rel["unloaded_x"] == 50 and rel["unloaded_ms"] >= 20 and d["slo"]["e2e_ms"] == rel["threshold_ms"]
    assert runs[0].meta["capacity_probe"]["role"] == "unloaded" and runs[0].meta["load_point"]["value"] == 1
    assert all(r.meta["config"]["slo"]["e2e_ms"] == d["slo"]["e2e_ms"] for r in runs[1:])
    assert all(r.meta["capacity_probe"]["slo_relative"] == d["slo_relative"] for r in runs[1:])
    search = [p for p in d["probes"] if p["role"] == "search"]
    shown = [{k: p.get(k) for k in ("load", "stop", "slo_met", "verdict", "effective_units")} for p in search]
    assert search[0]["load"] == 10 and search[0]["slo_met"], shown
    # Every probe shown either way met (a slow machine may leave the last one without enough units),
    # except where this machine's client could not drive the widened load: the fake serves any
    # rate, but a unit-test worker beside another on 2 cores fell behind at 320/s once (in CI).
    # Such a miss is above `high`, its run says the client did not keep up, and it is the upper
    # side of the bracket.
    missed = [p for p in search if not (p["slo_met"] or p.get("inconclusive") or p["stop"] == "time_cap")]
    by_id = {r.run_id: r for r in runs}
    for p in missed:
        said = by_id[p["run_id"]].meta.get("warnings") or []
        assert p["load"] > 20 and any("client" in w for w in said), (p, said)
    # the time cap ends it; on a loaded machine a probe at the top may lack units twice first
    # (or, with the client's limit as the upper side, the bisection may converge)
    assert d["stopped"] in ("time_cap", "too_few_units") + (("converged",) if missed else ()), d["stopped"]
    if missed:
        assert d["bracket_missing"] is None and d["bracket_high"] == min(p["load"] for p in missed), d
        assert d["bracket_high_client_warnings"] and "the client fell behind" in capacity_file.describe(d), d
    else:
        assert d["bracket_missing"] == "high" and d["bracket_missing_why"], d
        assert "fell behind" not in capacity_file.describe(d)
    confirms = [p for p in d["probes"] if p["role"] == "confirm"]   # their time was kept back
    confirm = confirms[0]
    assert confirm["load"] == d["bracket_low"] == max(p["load"] for p in search if p["slo_met"])
    assert "slo_e2e_ms_p90_per_unit" in confirm and "e2e_ms_p90" not in confirm
    # The first confirmation holds on an idle machine. On a loaded one (a unit-test worker beside
    # another, first imports compiling) the run's set-up may outgrow its share of the time, or the
    # client itself fall behind at the widened top load (it missed there once, in a fresh clone):
    # then the search steps down and confirms again, and the capacity is the load that held.
    for a, b in zip(confirms, confirms[1:]):
        assert not a["slo_met"] and b["load"] < a["load"], confirms
    held = [p for p in confirms if p["slo_met"]]
    assert d["confirmed"] is bool(held) and d["capacity"] == (held[0]["load"] if held else None), d
    for p in held:
        assert p["verdict"] in ("met", "unsure") and p["achieved_share"] >= 0.95, p


def test_a_probe_with_too_few_units_that_looked_good_moves_the_search_up():
    """At a low rate a probe may hold too few units to show p90 met; a higher load sends more in
    the same time, so the search goes up instead of stopping, never to or past a load that missed."""
    P = steps.Probe
    assert steps.past_inconclusive(4.0, {4.0: 1.0}, [], 0.9, 2.0, False) == 8.0
    assert steps.past_inconclusive(4.0, {4.0: 1.0, 8.0: 1.0}, [], 0.9, 2.0, False) == 16.0
    assert steps.past_inconclusive(4.0, {4.0: 0.7}, [], 0.9, 2.0, False) is None        # it looked bad
    # no room above and no good load below: one growth step down, where less queueing helps
    assert steps.past_inconclusive(4.0, {4.0: 1.0}, [P(8.0, False, 0.5, 7.0, 2.0)], 0.9, 2.0, False) == 2.0
    assert steps.past_inconclusive(1.0, {1.0: 1.0}, [P(2.0, False, 0.5, 7.0, 2.0)], 0.9, 2.0, True) is None
    # no room above 24 (32 missed): halfway down to the last good, 16
    met16, missed32 = P(16.0, True, 1.0, 16.0, 0.5), P(32.0, False, 0.5, 25.0, 2.0)
    assert steps.past_inconclusive(24.0, {24.0: 0.93}, [met16, missed32], 0.9, 2.0, False) == 20.0
    # nothing between 16 and 17: halfway up to the miss, untried and below it
    assert steps.past_inconclusive(17.0, {17.0: 0.93}, [met16, missed32], 0.9, 2.0, True) == 24.0
    assert steps.past_inconclusive(17.0, {17.0: 0.93, 24.0: 0.95}, [met16, missed32], 0.9, 2.0, True) is None
    # make bench's agent search: 8 and 16 sessions looked good with too few units, 32 missed; 8
    # below is spent, so 24 (it stopped there with no lower side before)
    missed32_all = P(32.0, False, 0.0, 5.0, 9.0)
    assert steps.past_inconclusive(16.0, {8.0: 1.0, 16.0: 0.818}, [missed32_all], 0.8, 2.0, True) == 24.0
    assert steps.past_inconclusive(16.0, {8.0: 1.0, 16.0: 0.818}, [missed32_all, P(24.0, False, 0.1, 5.0, 5.0)],
                                   0.8, 2.0, True) == 20.0    # 24 missed too: halfway to it
    assert steps.past_inconclusive(3.0, {3.0: 1.0}, [], 0.9, 1.2, True) == 4.0         # whole numbers: +1 at least


def test_a_load_not_shown_met_is_the_brackets_upper_side():
    """A probe that looked bad (87% against 90%) with too few effective units to show a miss is
    not a capacity: the search bisects below it, and the file says it was not shown met."""
    from bench.results import capacity_file
    P = steps.Probe
    met8, unsure16 = P(8.0, True, 1.0, 8.0, 0.3), P(16.0, False, 0.868, 16.0, 1.1, shown=False)
    good, bad = steps.bracket([met8, unsure16])
    assert (good, bad) == (met8, unsure16)
    assert steps.next_load([met8, unsure16], 4, 64, 2.0, 20, False) == 12.0
    assert steps.missing_side([met8, unsure16], False) is None
    d = {"label": "c", "name": "c", "workload": "chat", "backend": "openai",
         "slo": {"ttft_ms": 100.0, "percentile": 90},
         "units_s_unit": "requests/s", "unit": "requests/s", "bracket_low": 12.0, "bracket_high": 16.0,
         "bracket_high_missed": False, "capacity": 12.0, "confirmed": True, "over": "rate", "schema": 2,
         "achieved_units_s": 11.9, "achieved_share": 0.99, "probes": [], "stopped": "converged"}
    assert "bracket [12, 16] requests/s (16 not shown met" in capacity_file.describe(d)
    assert "not shown met" not in capacity_file.describe(d | {"bracket_high_missed": True})


def test_the_slo_pressure_percentile_between_two_unfinished_units_is_inf():
    """Units that failed or did not finish carry pressure inf; where the percentile falls between
    two of them it is inf (numpy's interpolation alone gives nan, inf - inf, and a warning)."""
    import warnings

    from bench.run.capacity import percentile_stats

    units = [slo.Unit(i, i + 1, True, True, 0.5, 1) for i in range(8)]
    units += [slo.Unit(9, None, True, None, math.inf, None), slo.Unit(10, None, False, False, math.inf, None)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert percentile_stats(units, [], {}, 95, False, True)[1] == math.inf
        assert percentile_stats(units, [], {}, 85, False, True)[1] == math.inf   # 0.5 to inf
        assert percentile_stats(units, [], {}, 50, False, True)[1] == 0.5
    assert percentile_stats([], [], {}, 90, False, True) == ({}, None)
