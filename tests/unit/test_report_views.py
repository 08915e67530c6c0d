"""The report's views on hand-built runs: labels that tell runs apart, the task timeline, capacity
curves, the forest plot of effects, the trend with change points. The whole file:
tests/unit/test_report_file.py."""
import json
import sys
import types
from pathlib import Path

import bench.analysis
from bench.analysis import report
from bench.analysis.report import capacity, effects, labels, timeline, trends
from bench.results import store
from tests.helpers.report_data import ROWS, _agent_samples, _experiment, _samples, _search
from tests.helpers.synth import write_run


def _edit(run_dir: Path, **changes):
    """Change a written run.json (config keys given as dotted paths)."""
    meta = json.loads((run_dir / "run.json").read_text())
    for key, value in changes.items():
        node, *path = key.split(".")
        target = meta
        for part in [node, *path][:-1]:
            target = target.setdefault(part, {})
        target[([node, *path])[-1]] = value
    (run_dir / "run.json").write_text(json.dumps(meta))


# --- labels -------------------------------------------------------------------------------------

def test_runs_that_read_the_same_get_what_differs_then_their_id(tmp_path):
    a = write_run(tmp_path, "20260101T000000Z-x-aaaa", _samples())
    b = write_run(tmp_path, "20260101T000001Z-x-bbbb", _samples())
    c = write_run(tmp_path, "20260101T000002Z-x-cccc", _samples())
    _edit(b, **{"config.backend": {"name": "vllm", "options": {"dtype": "bfloat16"}}})
    names = labels.run_labels(store.find_runs([tmp_path]))
    # a and c have the same config (repetitions): their run ids tell them apart; b differs by backend
    assert names["20260101T000001Z-x-bbbb"] == "synth backend.name=vllm"
    assert names["20260101T000000Z-x-aaaa"] == "synth backend.name=hf #aaaa"
    assert names["20260101T000002Z-x-cccc"] == "synth backend.name=hf #cccc"
    assert len(set(names.values())) == 3
    assert a and c


def test_matrix_label_and_treatment_and_sweep_lines():
    meta = {"name": "treat", "label": "concurrency=4,backend=hf#2", "config": {}, "treatment": {"name": "kv-fp8"}}
    assert labels.base_label(meta) == "treat concurrency=4,backend=hf#2 [kv-fp8]"
    assert labels.base_label(meta, labels._is_load_part) == "treat backend=hf#2 [kv-fp8]"
    assert labels.distinct(["x", "x", "y"], [{"seed": 0}, {"seed": 1}, {"seed": 0}], ["1", "2", "3"]) == \
        ["x seed=0", "x seed=1", "y"]


def test_pareto_lines_of_two_backends_are_not_both_named_by_the_config(tmp_path):
    for i, (backend, conc) in enumerate([("hf", 1), ("hf", 4), ("vllm", 1), ("vllm", 4)]):
        d = write_run(tmp_path, f"r{i}", _samples(slow=conc), load={"kind": "concurrency", "concurrency": conc})
        label = f"concurrency={conc}"
        _edit(d, **{"config.backend.name": backend, "label": label, "config.label": label})
    runs = store.find_runs([tmp_path])
    sec = report.pareto_section(runs, labels.run_labels(runs))
    names = sorted(t.name for t in sec.figures[0].data if t.name != "Pareto front")
    assert names == ["synth backend.name=hf", "synth backend.name=vllm"]


# --- timeline -----------------------------------------------------------------------------------

def test_timeline_spans_by_hand():
    sp = timeline.spans(_agent_samples())
    got = {(s.lane, s.kind, round(s.start_s * 1000), round(s.end_s * 1000)) for s in sp}
    assert ("a0", "LLM: to first token", 0, 10) in got and ("a0", "LLM: decode", 10, 30) in got
    assert ("a0", "tool wait", 30, 80) in got                         # the wait before step 1
    assert ("a0", "sub-agents running", 100, 200) in got              # step 1's end to its child's end
    assert ("a0.s1.c0", "LLM: to first token", 100, 120) in got
    assert ("a0", "compaction", 200, 260) in got                      # one bar, not split at the first token
    assert not any(s.lane == "a0" and s.kind.startswith("LLM") and s.start_s >= 0.2 for s in sp)
    lanes, n = timeline.lane_order(sp)
    assert lanes == ["a0", "a0.s1.c0", "a1"] and n == 2
    assert timeline.lane_order(sp, max_tasks=1) == (["a0", "a0.s1.c0"], 2)


def test_timeline_section_draws_a_bar_per_span(tmp_path):
    write_run(tmp_path, "agent", _agent_samples())
    runs = store.find_runs([tmp_path])
    sec = timeline.timeline_section(runs, labels.run_labels(runs))
    fig = sec.figures[0]
    assert sum(len(t.x) for t in fig.data) == len(timeline.spans(_agent_samples()))
    assert list(fig.layout.yaxis.categoryarray) == ["a0", "a0 ↳ s1.c0", "a1"]
    assert "a0.s1.c0.s0" in " ".join(h for t in fig.data for h in t.hovertext)
    # a run of single requests has no tasks to draw
    assert timeline.timeline_section(store.find_runs([write_run(tmp_path / "x", "chat", _samples())]), {}) is None


# --- capacity -----------------------------------------------------------------------------------

def test_capacity_curves_mark_slo_capacity_and_interval(tmp_path):
    path = _search(tmp_path)
    runs = store.find_runs([tmp_path])
    sec = capacity.capacity_section(runs, labels.run_labels(runs), [path])
    assert sec.rows[1][0][:7] == ["cap", "chat", "vllm", "tiny", "ttft_ms <= 20 at p90", "2.4", "[2, 3]"]
    ttft, attain, tput = sec.figures
    trace = ttft.data[0]
    assert list(trace.x) == [1.0, 2.0, 3.0, 4.0] and list(trace.y) == [10.0, 15.0, 25.0, 40.0]
    assert list(trace.marker.color) == [capacity.MET, capacity.MET, capacity.MISSED, capacity.MISSED]
    shapes = {(s.type, s.x0, s.x1, s.y0, s.y1) for s in ttft.layout.shapes}
    assert ("line", 0, 1, 20.0, 20.0) in shapes                              # the SLO limit
    assert ("line", 2.4, 2.4, 0, 1) in shapes and ("rect", 2.0, 3.0, 0, 1) in shapes
    assert ("line", 0, 1, 0.9, 0.9) in {(s.type, s.x0, s.x1, s.y0, s.y1) for s in attain.layout.shapes}
    assert "probe0" in trace.hovertext[0] and "probe: 1 of 4" in trace.hovertext[0]
    assert list(tput.data[0].y) == [100.0, 200.0, 300.0, 400.0]


def test_capacity_file_found_beside_its_probe_runs_only(tmp_path):
    path = _search(tmp_path)
    other = tmp_path / "20260101T000000Z-other.capacity.json"
    other.write_text(json.dumps({"search": "s2", "probes": [{"run_id": "elsewhere", "load": 1.0}]}))
    probe = tmp_path / "probe1"
    assert capacity.find_files([probe], {"probe1"}) == [path]
    assert set(capacity.find_files([tmp_path], set())) == {path, other}


def test_probe_runs_without_a_file_still_draw(tmp_path):
    _search(tmp_path).unlink()
    runs = store.find_runs([tmp_path])
    sec = capacity.capacity_section(runs, labels.run_labels(runs), [])
    assert sec.rows[1][0][5] == "-" and len(sec.figures) == 2           # attainment and throughput
    assert list(sec.figures[1].data[0].y) == [r.summary["output_tok_s"] for r in runs]   # from run.json
    assert not any(s.type == "rect" or s.x0 == s.x1 for f in sec.figures for s in f.layout.shapes)


# --- treatment effects --------------------------------------------------------------------------

def test_forest_plot_ratio_interval_and_verdict_colour(tmp_path):
    write_run(tmp_path, "arm", _samples(), extra={"treatment": "spec"})
    sec = report.effects_section(store.find_runs([tmp_path]), [_experiment(tmp_path)])
    tpot, tput = sec.figures
    t = tpot.data[0]
    assert list(t.x) == [0.8, 1.3] and list(t.y) == ["kv-fp8 @1", "spec @1"]
    assert [round(v, 6) for v in t.error_x.array] == [0.1, 0.3]
    assert [round(v, 6) for v in t.error_x.arrayminus] == [0.1, 0.2]
    assert list(t.marker.color) == [effects.VERDICT_COLOR["improvement"], effects.VERDICT_COLOR["regression"]]
    assert tpot.layout.xaxis.title.text.endswith("(< 1 is better)")
    assert tput.layout.xaxis.title.text.endswith("(> 1 is better)") and tput.data[0].marker.color[0] == effects.NEUTRAL
    assert any(s.x0 == 1.0 and s.x1 == 1.0 for s in tpot.layout.shapes)    # the line of no effect


def test_effects_from_an_experiment_file_when_runs_carry_none(tmp_path):
    write_run(tmp_path, "arm", _samples(), extra={"treatment": "spec"})
    f = tmp_path / "x.experiment.json"
    f.write_text(json.dumps({"experiments": [{"name": "e", "backend": "vllm", "arms": [
        {"treatment": "baseline", "runs": ["b"]}, {"treatment": "spec", "runs": ["arm"], "effects": ROWS[1:2]}]}]}))
    sec = report.effects_section(store.find_runs([tmp_path]), [f])
    assert sec.rows[1] == [["spec", "1", "tpot_ms_p50", "1.3", "[1.1, 1.6]", "regression"]]


# --- trend --------------------------------------------------------------------------------------

def _series(tmp_path, n=5):
    for i in range(n):
        write_run(tmp_path, f"t{i}", _samples(slow=1.0 if i < 3 else 2.0), started_at=float(i))
    return store.find_runs([tmp_path])


def test_trend_without_changepoints_module_plots_the_series(tmp_path, monkeypatch):
    monkeypatch.delattr(bench.analysis, "changepoints", raising=False)
    monkeypatch.setitem(sys.modules, "bench.analysis.changepoints", None)     # import fails
    runs = _series(tmp_path)
    sec = trends.trend_section(runs, labels.run_labels(runs), ("ttft_ms_p50",))
    fig = sec.figures[0]
    assert len(fig.data[0].x) == 5 and not fig.layout.shapes
    assert "not in this build" in sec.note


def test_trend_marks_change_points_found(tmp_path, monkeypatch):
    seen = []

    def detect(values):
        seen.append(list(values))
        return [types.SimpleNamespace(index=3, change_pct=100.0, p_value=0.001)]

    fake = types.ModuleType("bench.analysis.changepoints")
    fake.detect = detect
    monkeypatch.setitem(sys.modules, "bench.analysis.changepoints", fake)
    monkeypatch.setattr(bench.analysis, "changepoints", fake, raising=False)
    runs = _series(tmp_path)
    sec = trends.trend_section(runs, labels.run_labels(runs), ("ttft_ms_p50",))
    fig = sec.figures[0]
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(2.5, 2.5)]       # between run 2 and run 3
    assert seen and seen[0][3] > 1.5 * seen[0][2]                          # it was given the series
    assert "change_pct 100" in fig.layout.annotations[0].hovertext
    assert "found by bench.analysis.changepoints" in sec.note


def test_change_point_shapes_understood():
    assert trends._index(2) == 2 and trends._index({"index": 4}) == 4 and trends._index("x") is None
