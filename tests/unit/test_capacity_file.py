"""A capacity search's file and what reads it (bench/results/capacity_file.py): the lines bench
run and bench summary print, old files upgraded, two searches compared, a forecast from one."""
from __future__ import annotations

import math

import pytest

def cap_doc(over="rate", capacity=6.0, lo=6.0, hi=8.0, unit="requests/s", units_s_unit="requests/s"):
    probe = lambda load, met, units_s: {"run_id": f"r{load}", "load": load, "slo_met": met, "units_s": units_s,  # noqa: E731
                                        "output_tok_s": units_s * 10, "total_tok_s": units_s * 60,
                                        "slo_ttft_ms_p90_per_unit": 100.0}
    return {"schema": 2, "search": "s", "name": "n", "label": "cap", "workload": "chat", "backend": "vllm",
            "model": "tiny", "over": over, "unit": unit, "units_s_unit": units_s_unit, "units_s_at_capacity": 3.0,
            "slo": {"ttft_ms": 250.0, "percentile": 90.0}, "slo_relative": None, "capacity": capacity,
            "confirmed": capacity is not None, "achieved_units_s": capacity and capacity * 0.97,
            "bracket_low": lo, "bracket_high": hi, "bracket_missing": None, "bracket_missing_why": None,
            "stopped": "converged", "probes": [probe(4.0, True, 4.0), probe(8.0, False, 6.0)]}


def test_forecast_from_a_capacity_file_by_hand():
    from bench.analysis import forecast

    f = forecast.from_capacity(cap_doc(), target_rate=20, price_per_gpu_hour=2.0)
    # 20 req/s at 6 per replica: ceil(3.33) = 4 replicas, $8/hour, 72,000 requests/hour
    assert f.replicas == 4 and f.cost_per_hour == 8.0 and f.cost_per_unit == pytest.approx(8 / 72000)
    assert f.band["replicas"] == (3, 4)                        # 20/8 -> 3, 20/6 -> 4
    assert f.slos == {"ttft_ms_p90": 250.0}
    assert f.cost_per_mtok == pytest.approx(8 / (72000 * 60) * 1e6)   # 60 tokens per request
    # over concurrency: the units served at capacity are the rate per replica
    g = forecast.from_capacity(cap_doc(over="concurrency", unit="concurrent sessions", units_s_unit="tasks/s"),
                               target_rate=10, price_per_gpu_hour=1.0)
    assert g.unit == "task" and g.capacity == 3.0 and g.replicas == 4
    assert forecast.from_capacity(cap_doc(capacity=None, lo=None, hi=4.0), 1, 1).replicas is None


def test_capacity_line_reads_like_the_answer():
    from bench.analysis.summary import capacity_line

    line = capacity_line(cap_doc(over="concurrency", unit="concurrent sessions", units_s_unit="tasks/s"))
    assert "ttft_ms <= 250 for 90% of tasks" in line and "6 concurrent sessions (confirmed" in line
    assert "served 3 tasks/s = 10,800 tasks/hour" in line and "bracket [6, 8]" in line
    high = capacity_line(cap_doc(hi=None) | {"bracket_missing": "high", "bracket_missing_why": "the time cap"})
    assert "no upper side: every probe met (the time cap)" in high
    low = capacity_line(cap_doc(capacity=None, lo=None, hi=4.0) | {"bracket_missing": "low"})
    assert "capacity none" in low and "even the lowest load probed missed" in low
    assert "capacity not confirmed" in capacity_line(cap_doc(capacity=None))
    rel = cap_doc() | {"slo_relative": {"ttft_ms": {"unloaded_x": 3.0, "unloaded_ms": 83.3}}}
    assert "ttft_ms <= 250 (3x unloaded)" in capacity_line(rel)


def test_an_old_capacity_file_reads_with_a_bracket_and_no_confirmation():
    from bench.results import capacity_file

    old = {k: v for k, v in cap_doc().items() if k not in ("schema", "bracket_low", "bracket_high", "confirmed")}
    d = capacity_file.upgrade(old | {"ci_low": 4.0, "ci_high": 8.0, "capacity": 6.0})
    assert (d["bracket_low"], d["bracket_high"], d["confirmed"]) == (4.0, 8.0, False) and "ci_low" not in d
    lower = capacity_file.upgrade(old | {"ci_low": 4.0, "ci_high": None, "capacity": 4.0})
    assert lower["bracket_missing"] == "high"


def test_two_searches_differ_only_when_their_brackets_are_disjoint():
    from bench.results.capacity_file import differ

    assert differ(cap_doc(lo=4, hi=8), cap_doc(lo=6, hi=12)) is False
    assert differ(cap_doc(lo=4, hi=8), cap_doc(lo=9, hi=12)) is True
    assert differ(cap_doc(lo=16, hi=None), cap_doc(lo=4, hi=8)) is True      # every probe met up to 16
    assert differ(cap_doc(lo=None, hi=None), cap_doc()) is None


def test_a_confirmed_capacity_reads_in_short_lines():
    from bench.results import capacity_file
    d = {"label": "c", "name": "c", "workload": "chat", "backend": "openai",
         "slo": {"ttft_ms": 100.0, "percentile": 90}, "units_s_unit": "requests/s", "unit": "requests/s",
         "bracket_low": 12.0, "bracket_high": 16.0,
         "bracket_high_missed": True, "capacity": 12.0, "confirmed": True, "over": "rate", "schema": 2,
         "achieved_units_s": 11.9, "achieved_share": 0.99, "probes": [], "stopped": "converged"}
    text = capacity_file.describe(d)
    assert text.splitlines()[0] == "c: 12 requests/s (confirmed, served 11.9 requests/s, 99% of those due)"
    assert "bracket [12, 16] requests/s; 0 probes, stopped: converged" in text
    assert all(len(line) <= 100 for line in text.splitlines()), text


def test_a_client_that_fell_behind_at_the_upper_side_is_said():
    """The upper side's probe warned that the client did not keep its schedule: a fourth line
    says so (the miss there may be partly the client's); without warnings, three lines."""
    from bench.results import capacity_file
    d = {"label": "c", "name": "c", "workload": "chat", "backend": "vllm",
         "slo": {"e2e_ms": 900.0, "percentile": 90}, "units_s_unit": "requests/s", "unit": "requests/s",
         "bracket_low": 40.0, "bracket_high": 48.0, "bracket_high_missed": True, "capacity": 40.0,
         "confirmed": True, "over": "rate", "schema": 2, "achieved_units_s": 39.5, "achieved_share": 0.99,
         "probes": [], "stopped": "converged",
         "bracket_high_client_warnings": ["send lag p99 54.16 ms > 1 ms: the client did not keep the "
                                          "open-loop schedule"]}
    lines = capacity_file.describe(d).splitlines()
    assert lines[3] == ("  at 48: send lag p99 54.16 ms > 1 ms; the client fell behind, the miss may be "
                        "partly its own"), lines
    assert all(len(line) <= 100 for line in lines), lines
    assert len(capacity_file.describe(d | {"bracket_high_client_warnings": []}).splitlines()) == 3
    assert len(capacity_file.describe({k: v for k, v in d.items()
                                       if k != "bracket_high_client_warnings"}).splitlines()) == 3


def test_an_upper_side_only_not_shown_met_bounds_no_comparison(tmp_path, capsys):
    """`bench summary --baseline`: the committed baseline agent search (results/, 2026-12-05 14:02)
    met at 5 and was unsure at 8 (92% of 13 tasks against 80%: not shown met, nor missed); a
    later search confirmed 12 with 14 unsure. 8 bounds nothing, so the two agree ("within"), where
    the spans [5, 8] and [12, 14] once read "higher". Had 8 been shown to miss, 12 is higher;
    a search shown to miss at 4 is lower."""
    import json
    import shutil
    from pathlib import Path

    from bench.analysis import summary
    from bench.results import capacity_file

    root = Path(__file__).resolve().parents[2] / "results"
    old = json.loads((root / "20261205T140257Z-bench-capacity-agent-d4d6.capacity.json").read_text())
    assert old["bracket_high_missed"] is True                    # as written then
    (upper,) = [p for p in old["probes"] if p["role"] == "search" and p["load"] == 8.0]
    assert upper["verdict"] == "unsure" and upper["attainment"] > 0.8
    assert capacity_file.upgrade(old)["bracket_high_missed"] is False and capacity_file.span(old) == (5.0, math.inf)

    def probe(load, verdict):
        return {"role": "search", "load": load, "verdict": verdict, "slo_met": verdict == "met",
                "saturated": False, "status": "complete"}
    new = old | {"search": "new", "capacity": 12.0, "bracket_low": 12.0, "bracket_high": 14.0,
                 "bracket_high_missed": False, "probes": [probe(8.0, "met"), probe(16.0, "unsure"),
                                                          probe(12.0, "met"), probe(14.0, "unsure")]}

    def said(new_doc, old_doc):
        base, here = tmp_path / "base", tmp_path / "new"
        shutil.rmtree(tmp_path, ignore_errors=True)
        for folder, doc, run in ((base, old_doc, "20261205T140216Z-bench-agentic-4dde"),
                                 (here, new_doc, "20261205T113602Z-bench-agentic-c5c6")):
            shutil.copytree(root / run, folder / run)
            (folder / "s.capacity.json").write_text(json.dumps(doc))
        assert summary.summarize(str(here), str(base), brief=True) == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if "capacity capacity-agent" in x]
        return line

    assert said(new, old).endswith("12 in [12, 14?] vs baseline 5 in [5, 8?] concurrent sessions: "
                                   "within the baseline's bracket (?: not shown to miss, no bound)")
    missed8 = old | {"probes": [p | {"verdict": "missed"} if p["load"] == 8.0 else p for p in old["probes"]]}
    assert said(new, missed8).endswith("vs baseline 5 in [5, 8] concurrent sessions: higher (?: not shown "
                                       "to miss, no bound)")     # 14 is still unsure: marked
    low = new | {"capacity": 3.0, "bracket_low": 3.0, "bracket_high": 4.0, "bracket_high_missed": True,
                 "probes": [probe(3.0, "met"), probe(4.0, "missed")]}
    assert said(low, old).endswith("3 in [3, 4] vs baseline 5 in [5, 8?] concurrent sessions: lower "
                                   "(?: not shown to miss, no bound)")
    assert capacity_file.compare(low, old) == "lower" and capacity_file.differ(new, old) is False


def test_no_lower_side_says_whether_the_loads_below_missed_or_were_unsure():
    """make bench's agent search once ended with 8 and 16 sessions unsure (too few effective
    tasks, all or most good) and 32 missed: "no load was shown to meet", not "even the lowest
    load probed missed", which is kept for a lowest probe that missed."""
    from bench.results import capacity_file

    row = lambda load, verdict, inc: {"role": "search", "load": load, "verdict": verdict,   # noqa: E731
                                      "inconclusive": inc}
    d = cap_doc(capacity=None, lo=None, hi=32.0, over="concurrency", unit="concurrent sessions") | {
        "bracket_missing": "low", "bracket_missing_why": "a probe there holds too few units to show the SLO",
        "stopped": "too_few_units", "probes": [row(8.0, "unsure", True), row(16.0, "unsure", True),
                                               row(32.0, "missed", False)]}
    assert "no lower side: no load was shown to meet (a probe there" in capacity_file.describe(d)
    missed = d | {"probes": [row(32.0, "missed", False)], "bracket_missing_why": "the time cap"}
    assert "no lower side: even the lowest load probed missed (the time cap)" in capacity_file.describe(missed)
