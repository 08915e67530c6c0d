"""GPU-only numbers are absent without a GPU, never zero; the NVML arithmetic on a fake device.

NVML itself cannot be made real on these CPU machines, so the sampler's arithmetic is checked
against a fake NVML module with known counters; the absence is checked for real, end to end.
"""
import time
from types import SimpleNamespace

import pytest

from bench.telemetry.gpu import GpuSampler

GPU_ONLY = ("gpu_", "peak_gpu_alloc_mb", "mbu", "mfu", "roofline_", "decode_batch_mean")


class FakeNVML:
    """Two devices: 1 and 2 GiB used, 100 W and 300 W, 50 % and 70 % busy; energy +1 J per read."""

    def __init__(self, energy=True):
        self.energy_reads, self.has_energy = 0, energy

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=(h + 1) * 2**30)

    def nvmlDeviceGetPowerUsage(self, h):
        return (100_000, 300_000)[h]           # milliwatts

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=(50, 70)[h])

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.has_energy:
            raise RuntimeError("not supported")
        self.energy_reads += 1
        return self.energy_reads * 1000        # millijoules

    def nvmlShutdown(self):
        pass


def test_sampler_arithmetic_with_energy_counter(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with GpuSampler(0.01, nvml=FakeNVML()) as g:
        time.sleep(0.05)
    s = g.summary(output_tokens=4)
    assert s["gpu_mem_used_peak_mb"] == 3 * 1024            # both devices at one instant
    assert s["gpu_power_w_mean"] == s["gpu_power_w_max"] == 400
    assert s["gpu_util_pct_mean"] == 60
    # counter read for both devices at start (1 + 2 J) and at the end (3 + 4 J): 4 J in the run
    assert s["gpu_energy_j"] == 4.0 and s["gpu_j_per_output_tok"] == 1.0


def test_energy_falls_back_to_power_times_time(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")          # only the 300 W device
    with GpuSampler(0.01, nvml=FakeNVML(energy=False)) as g:
        time.sleep(0.1)
    s = g.summary(output_tokens=0)
    assert s["gpu_power_w_mean"] == 300 and s["gpu_mem_used_peak_mb"] == 2048
    assert s["gpu_energy_j"] == pytest.approx(300 * (g._t1 - g._t0))
    assert "gpu_j_per_output_tok" not in s                   # no tokens: no ratio, not infinity


