"""Hand-built runs the report tests share (tests/unit/test_report_views.py, tests/unit/test_report_file.py)."""
import json
from pathlib import Path

from bench import cli

from bench.types import Sample
from tests.helpers.synth import MS, sample, write_run

T0 = 10**12


def _samples(n=12, slow=1.0, task=False):
    return [sample(i, T0 + i * 50 * MS, 5.0 * slow + i % 3, T0 + i * 50 * MS + int(40 * slow * MS), output=5,
                   task_id=f"t{i // 3}" if task else None) for i in range(n)]


def _call(rid, task, agent, sent_ms, first_ms, last_ms, **meta):
    toks = (T0 + int(first_ms * MS), T0 + int(last_ms * MS))
    return Sample(rid, task, T0 + int(sent_ms * MS), T0 + int(sent_ms * MS), toks, toks, 100, None, 2,
                  meta={"agent": agent, **meta})


def _agent_samples():
    tool = {"wait_kind": "tool", "wait_start_ns": T0 + 30 * MS, "wait_end_ns": T0 + 80 * MS}
    return [_call("a0.s0", "a0", "a0", 0, 10, 30, step=0, tool_calls=1),
            _call("a0.s1", "a0", "a0", 80, 90, 100, step=1, subagents=1, **tool),
            _call("a0.s1.c0.s0", "a0", "a0.s1.c0", 100, 120, 200, step=0),
            _call("a0.s1.compact", "a0", "a0", 200, 210, 260, step=1, kind="compaction"),
            _call("a1.s0", "a1", "a1", 5, 15, 25, step=0)]


SLO = {"ttft_ms": 20.0, "percentile": 90}


def _search(tmp_path, probes=((1.0, True, 0.99, 10.0), (2.0, True, 0.95, 15.0), (4.0, False, 0.5, 40.0),
                              (3.0, False, 0.8, 25.0))):
    rows = []
    for i, (load, met, att, ttft) in enumerate(probes):
        d = write_run(tmp_path, f"probe{i}", _samples(), load={"kind": "rate", "rate": load},
                      extra={"capacity_probe": {"search": "s1", "load": load, "over": "rate",
                                                "slo_met": met, "attainment": att}})
        rows.append({"run_id": d.name, "load": load, "slo_met": met, "attainment": att,
                     "output_tok_s": 100 * load, "ttft_ms_p90": ttft})
    doc = {"search": "s1", "name": "cap", "workload": "chat", "backend": "vllm", "model": "tiny", "over": "rate",
           "unit": "requests/s", "slo": SLO, "capacity": 2.4, "ci_low": 2.0, "ci_high": 3.0,
           "stopped": "converged", "probes": rows}
    path = tmp_path / "20260101T000000Z-cap.capacity.json"
    path.write_text(json.dumps(doc))
    return path


ROWS = [{"treatment": "kv-fp8", "load": 1, "metric": "tpot_ms_p50", "ratio": 0.8, "ci_low": 0.7, "ci_high": 0.9,
         "verdict": "improvement"},
        {"treatment": "spec", "load": 1, "metric": "tpot_ms_p50", "ratio": 1.3, "ci_low": 1.1, "ci_high": 1.6,
         "verdict": "regression"},
        {"treatment": "spec", "load": 1, "metric": "output_tok_s", "ratio": 1.0, "ci_low": 0.9, "ci_high": 1.2,
         "verdict": "no significant change"}]


def _experiment(root, rows=ROWS, run="arm"):
    """An experiment file whose treatment arms are `rows` (the file bench.analysis.experiment writes)."""
    arms = [{"treatment": "baseline", "runs": ["base"]}]
    for name in dict.fromkeys(r["treatment"] for r in rows):
        arms.append({"treatment": name, "runs": [run], "effects": [r for r in rows if r["treatment"] == name]})
    path = root / "20260101T000000Z-exp.experiment.json"
    path.write_text(json.dumps({"experiments": [{"name": "exp", "backend": "vllm", "arms": arms}]}))
    return path


def _full_report(tmp_path) -> Path:
    root = tmp_path / "results"
    _search(root)
    write_run(root, "arm", _samples(task=True), extra={"treatment": "spec"})
    _experiment(root)
    write_run(root, "agent", _agent_samples(), summary_extra={"task_model_ms_mean": 100.0, "task_tool_ms_mean": 50.0})
    out = tmp_path / "report.html"
    assert cli.main(["report", str(root), "--out", str(out)]) == 0
    return out
