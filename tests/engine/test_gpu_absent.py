"""Without a GPU, a real run's summary has no GPU-only key: absent, never zero."""
import pytest

from bench.telemetry.gpu import GpuSampler
from tests.unit.test_gpu_telemetry import GPU_ONLY


def test_no_gpu_means_no_keys_in_a_real_run(tmp_path, tiny_path):
    import torch

    from bench import config
    from bench.run import runner
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the absence check is for CPU machines")
    assert GpuSampler().summary(100) == {}
    specs = config.load_doc({"model": tiny_path, "workload": {"file": "chat", "scale": 0.03},
                             "load": {"kind": "concurrency", "concurrency": 1, "requests": 2}},
                            str(tmp_path / "cpu.yaml"))
    [result] = runner.run_all(specs, tmp_path / "res")
    assert result.status == "complete" and result.summary["peak_rss_mb"] > 0
    assert not [k for k in result.summary if k.startswith(GPU_ONLY)]
    assert "roofline" not in result.meta
