"""Forecast on a synthetic sweep whose answer is worked out by hand."""

import pytest

from bench import cli
from bench.analysis import forecast
from bench.results import store
from tests.helpers.synth import even_sweep_point, write_run

# concurrency -> (requests/s, ttft_ms_p99)
SWEEP = {1: (10, 100), 2: (20, 200), 4: (40, 400), 8: (50, 1000)}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for c, (rate, ttft) in SWEEP.items():
        write_run(root, f"run-c{c}", even_sweep_point(100, rate, ttft),
                  load={"kind": "concurrency", "concurrency": c, "requests": 100}, started_at=c)
    return root


def test_known_answer(sweep_dir):
    runs = store.find_runs([sweep_dir])
    f = forecast.forecast(runs, {"ttft_ms_p99": 300}, target_rate=100, price_per_gpu_hour=2.0, n_boot=100)
    # ttft_ms_p99 crosses 300 halfway between c=2 (200 ms, 20/s) and c=4 (400 ms, 40/s):
    # max load 3, capacity 30 req/s; 100 req/s needs ceil(100/30) = 4 replicas -> $8/hour.
    assert f.max_load == pytest.approx(3.0, rel=1e-3)
    assert f.capacity == pytest.approx(30.0, rel=1e-3)
    assert f.replicas == 4 and f.cost_per_hour == pytest.approx(8.0)
    assert f.cost_per_unit == pytest.approx(8.0 / (100 * 3600))
    # 100 tokens per request (98 prompt + 2 output): 100 req/s -> 3.6e7 tokens/hour
    assert f.cost_per_mtok == pytest.approx(8.0 / 36.0)
    assert f.cost_per_output_mtok == pytest.approx(8.0 / 0.72)
    lo, hi = f.band["capacity"]
    assert lo <= 30.0 + 1e-6 and hi >= 30.0 - 1e-6
    assert f.band["replicas"][0] <= 4 <= f.band["replicas"][1]


def test_all_points_meet_slo_and_none_meet(sweep_dir):
    runs = store.find_runs([sweep_dir])
    f = forecast.forecast(runs, {"ttft_ms_p99": 5000}, 120, 1.0, gpus_per_replica=2, n_boot=20)
    assert f.capacity == pytest.approx(50.0) and f.replicas == 3 and f.cost_per_hour == pytest.approx(6.0)
    none = forecast.forecast(runs, {"ttft_ms_p99": 50}, 120, 1.0, n_boot=20)
    assert none.capacity is None and none.replicas is None


def test_cli_prints_replicas_cost_and_assumptions(sweep_dir, capsys):
    rc = cli.main(["forecast", str(sweep_dir), "--target-rate", "100", "--price-per-gpu-hour", "2",
                   "--slo", "ttft_ms_p99=300"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "replicas (1 GPU each): 4" in out and "capacity per replica: 30" in out
    assert "cost per request: $2.222e-05" in out and "assumptions:" in out
    assert cli.main(["forecast", str(sweep_dir), "--target-rate", "1", "--price-per-gpu-hour", "2",
                     "--slo", "output_tok_s=3"]) == 2
    assert cli.main(["forecast", str(sweep_dir / "run-c1"), "--target-rate", "1",
                     "--price-per-gpu-hour", "2", "--slo", "ttft_ms_p99=300"]) == 2
