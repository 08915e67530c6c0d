"""The metric table (bench.metrics.definitions) against the views that read it: every key a
table or comparison shows names a metric, titles and formats come from it, and the SLO values
of one request, a run's columns and a task agree."""
from __future__ import annotations

import numpy as np
import pytest

from bench.analysis import stats
from bench.metrics import core, slo, views
from bench.metrics.columns import SampleColumns
from bench.metrics.definitions import HEADLINE_KEYS, METRICS, REQUEST_SLO, column_for, metric_for
from tests.helpers.synth import MS, sample

VIEWS = {name: keys for name, keys in vars(views).items() if name.isupper()}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_key_names_a_metric(name):
    for key in VIEWS[name]:
        assert metric_for(key) is not None, (name, key)


def test_tables_take_titles_and_formats_from_the_metrics():
    for key in views.RUN_TABLE:
        col = column_for(key)
        assert "{" not in col.title and col.fmt.format(1.5), key
    assert column_for("ttft_ms_p99").title == "TTFT p99 ms"
    assert column_for("task_model_ms_mean").title == "task model ms (mean)"
    assert column_for("errors_http_429").title == "errors: http_429"
    assert column_for("output_tok_s", narrow=True).title == "out tok/s"
    assert column_for("tpot_ms_p50", narrow=True) == column_for("tpot_ms_p50")     # no narrow form: the column
    with pytest.raises(KeyError):
        column_for("chunk_gap_ms_p50")                                              # not shown in a table


def test_headline_keys_are_what_compare_judges_and_each_can_be_resampled():
    assert stats.DEFAULT_KEYS == HEADLINE_KEYS
    assert HEADLINE_KEYS[:3] == ("ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99") and HEADLINE_KEYS[-1] == "tasks_s"
    for key in HEADLINE_KEYS:
        assert stats.resampled(key) is not None, key
    assert stats.resampled("send_lag_ms_p99") is None and stats.resampled("goodput_task_s") is None


def test_slo_values_of_a_request_its_columns_and_a_task_agree():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(40):
        t0 = 10**12 + i * 30 * MS
        s = sample(i, t0, float(rng.uniform(2, 20)), t0 + int(rng.uniform(25, 60) * MS), output=int(rng.integers(1, 6)),
                   task_id=f"t{i // 4}")
        samples.append(s)
    cols = SampleColumns.from_samples(samples)
    done = core._Completed(cols)
    for name, request in REQUEST_SLO.items():
        assert METRICS[name].slo.columns(done).tolist() == [request(s) for s in samples], name
    task = samples[:4]
    assert slo.unit_value(task, "task_latency_ms") == (max(s.end_ns for s in task) - task[0].sent_ns) / 1e6
    assert slo.unit_value(task, "ttft_ms") == max(METRICS["ttft_ms"].per_sample(s) for s in task)
    assert set(REQUEST_SLO) == {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "ttfa_ms"}
