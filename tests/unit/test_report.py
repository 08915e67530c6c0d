"""The report's data-driven sections from hand-built runs: inflation, tasks, treatment effects."""
import numpy as np

from bench.analysis import report
from bench.results import store
from tests.helpers.report_data import _experiment
from tests.helpers.synth import MS, sample, write_run

T0 = 10**12


def runs_with(tmp_path, n=30, slow=1.0):
    rng = np.random.default_rng(0)
    samples = [sample(i, T0 + i * 50 * MS, float(rng.uniform(5, 15) * slow), T0 + i * 50 * MS + int(40 * slow * MS),
                      output=5, task_id=f"t{i // 3}") for i in range(n)]
    return samples


def test_inflation_tasks_and_effects_sections(tmp_path):
    agent = {"calls_per_task_mean": 12.0, "prompt_tokens_per_task_mean": 24000.0,
             "output_tokens_per_task_mean": 1200.0, "tasks_completed": 4.0}
    write_run(tmp_path, "chat", runs_with(tmp_path))
    write_run(tmp_path, "agent", runs_with(tmp_path), workload="agentic", started_at=1.0,
              summary_extra={"task_latency_ms_p50": 120.0, "tasks_s": 2.0, **agent})
    write_run(tmp_path, "treated", runs_with(tmp_path, slow=3.0), extra={"treatment": "slow"}, started_at=2.0,
              summary_extra={"task_latency_ms_p50": 360.0, "tasks_s": 0.7})
    exp = _experiment(tmp_path, [{"treatment": "slow", "load": 1, "metric": "ttft_ms_p50", "ratio": 3.0,
                                  "ci_low": 2.5, "ci_high": 3.5, "verdict": "regression"}], run="treated")
    runs = store.find_runs([tmp_path])
    html = report.to_html(report.build(runs, experiment_files=[exp]), "t")
    assert "Token inflation" in html and "Treatment effects" in html and "Tasks" in html
    # computed when read, from the plain runs' summaries (the treatment arm is not a workload)
    infl_sec = report.inflation_section(runs)
    assert infl_sec is not None and infl_sec.title == "Token inflation"
    header, rows = infl_sec.rows
    assert [r[0] for r in rows] == ["synth", "synth"] and [r[1] for r in rows] == ["chat", "agentic"]
    assert rows[1][header.index("total_tokens")] == "2.52e+04"       # 24,000 prompt + 1,200 output per task
    assert rows[1][header.index("vs_baseline")] == "244.7"             # x the chat turn's 98 + 5 tokens
    assert header != ["key", "value"]
    effects = report.effects_section(runs, [exp])
    assert effects is not None
    _, eff_rows = effects.rows
    ttft = [r for r in eff_rows if r[2] == "ttft_ms_p50"]
    assert ttft and ttft[0][0] == "slow" and ttft[0][-1] == "regression"
    assert report.task_section(runs) is not None


def test_single_workload_suite_has_no_inflation_section(tmp_path):
    write_run(tmp_path, "only", runs_with(tmp_path))
    assert report.inflation_section(store.find_runs([tmp_path])) is None
    # a load sweep of one workload: several rows, still one workload
    write_run(tmp_path, "sweep", runs_with(tmp_path), load={"kind": "concurrency", "concurrency": 4, "requests": 30})
    assert report.inflation_section(store.find_runs([tmp_path])) is None
