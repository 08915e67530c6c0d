"""The report's data-driven sections from hand-built runs: inflation, tasks, treatment effects."""
import numpy as np

from bench.analysis import report
from bench.results import store
from bench.metrics.inflation import inflation_rows, table
from tests.synth import MS, sample, write_run

T0 = 10**12


def runs_with(tmp_path, n=30, slow=1.0):
    rng = np.random.default_rng(0)
    samples = [sample(i, T0 + i * 50 * MS, float(rng.uniform(5, 15) * slow), T0 + i * 50 * MS + int(40 * slow * MS),
                      output=5, task_id=f"t{i // 3}") for i in range(n)]
    return samples


def test_inflation_tasks_and_effects_sections(tmp_path):
    chat = {"prompt_tokens_total": 1000.0, "output_tokens_total": 100.0, "completed": 10.0}
    agent = {"calls_per_task_mean": 12.0, "prompt_tokens_per_task_mean": 24000.0,
             "output_tokens_per_task_mean": 1200.0, "tasks_completed": 4.0, "completed": 48.0,
             "prompt_tokens_total": 96000.0, "output_tokens_total": 4800.0}
    infl = table(inflation_rows([("chat", "chat", "turn", chat), ("agent", "agentic", "task", agent)]))
    write_run(tmp_path, "base", runs_with(tmp_path), extra={"inflation": infl},
                     summary_extra={"task_latency_ms_p50": 120.0, "tasks_s": 2.0})
    write_run(tmp_path, "treated", runs_with(tmp_path, slow=3.0),
                        extra={"treatment": "slow", "inflation": infl},
                        summary_extra={"task_latency_ms_p50": 360.0, "tasks_s": 0.7})
    runs = store.find_runs([tmp_path])
    html = report.to_html(report.build(runs), "t")
    assert "Token inflation" in html and "Treatment effects" in html and "Tasks" in html
    infl_sec = report.inflation_section(runs)
    assert infl_sec is not None and infl_sec.title == "Token inflation"
    header, rows = infl_sec.rows
    assert "agentic" in " ".join(" ".join(r) for r in rows)  # a row per workload, not key/value
    assert header != ["key", "value"]
    effects = report.effects_section(runs)
    assert effects is not None
    _, eff_rows = effects.rows
    ttft = [r for r in eff_rows if r[2] == "ttft_ms_p50"]
    assert ttft and ttft[0][0] == "slow" and ttft[0][-1] == "regression"
    assert report.task_section(runs) is not None


def test_single_workload_suite_has_no_inflation_section(tmp_path):
    chat = {"prompt_tokens_total": 1000.0, "output_tokens_total": 100.0, "completed": 10.0}
    write_run(tmp_path, "only", runs_with(tmp_path),
              extra={"inflation": table(inflation_rows([("chat", "chat", "turn", chat)]))})
    assert report.inflation_section(store.find_runs([tmp_path])) is None
    # a load sweep of one workload: several rows, still one workload
    write_run(tmp_path, "sweep", runs_with(tmp_path),
              extra={"inflation": table(inflation_rows([("c1", "chat", "turn", chat), ("c4", "chat", "turn", chat)]))})
    assert report.inflation_section(store.find_runs([tmp_path])) is None
