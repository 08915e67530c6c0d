"""The metric table (bench.metrics.definitions): the headline keys compare judges can be
resampled, and the SLO values of one request, a run's columns and a task agree."""
from __future__ import annotations

import numpy as np
import pytest

from bench.analysis import stats
from bench.metrics import core, slo
from bench.metrics.columns import SampleColumns
from bench.metrics.definitions import HEADLINE_KEYS, METRICS, REQUEST_SLO
from tests.synth import MS, sample

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
    assert set(REQUEST_SLO) == {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}
