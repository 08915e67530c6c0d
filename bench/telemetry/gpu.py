"""NVML sampled at ~10 Hz during a run: device memory, power, utilization, energy.

Without NVML (no NVIDIA GPU or driver) the sampler does nothing and its summary is empty: the
keys are absent, never zero. Memory here is NVML's device-wide `used` (every process, and what
vLLM preallocates for its KV cache); `peak_gpu_alloc_mb` in bench/telemetry.py is torch's own
allocations in this process.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any


def _nvml():
    try:
        import pynvml
        pynvml.nvmlInit()
        return pynvml
    except Exception:          # no library, no driver, no device: not an error on a CPU machine
        return None


def _handles(nv) -> list:
    """The devices this process can use: CUDA_VISIBLE_DEVICES (indices or UUIDs), else all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
    out = []
    for item in filter(None, (v.strip() for v in visible.split(","))):
        out.append(nv.nvmlDeviceGetHandleByIndex(int(item)) if item.isdigit()
                   else nv.nvmlDeviceGetHandleByUUID(item))
    return out


class GpuSampler:
    """Context manager around the measured part of a run."""

    def __init__(self, interval_s: float = 0.1, nvml: Any = None):
        self.interval_s = interval_s
        self._nv = nvml if nvml is not None else _nvml()
        try:
            self._handles = _handles(self._nv) if self._nv is not None else []
        except Exception:      # e.g. CUDA_VISIBLE_DEVICES=-1 or MIG ids: no device to watch
            self._handles = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self.mem_peak = 0              # bytes, summed over devices at one instant
        self.power_w: list[float] = []
        self.util_pct: list[float] = []
        self._energy0: int | None = None
        self._energy_mj: float | None = None
        self._t0 = self._t1 = 0.0

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def _energy(self) -> int | None:
        """Total energy counter in mJ (Volta and newer); None where the device lacks it."""
        try:
            return sum(self._nv.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles)
        except Exception:
            return None

    def _sample(self) -> None:
        nv = self._nv
        self.mem_peak = max(self.mem_peak, sum(nv.nvmlDeviceGetMemoryInfo(h).used for h in self._handles))
        self.power_w.append(sum(nv.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000)
        self.util_pct.append(sum(nv.nvmlDeviceGetUtilizationRates(h).gpu for h in self._handles)
                             / len(self._handles))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:      # a transient NVML error loses one sample, not the run
                pass
            self._stop.wait(self.interval_s)

    def __enter__(self) -> GpuSampler:
        if self.active:
            self._energy0 = self._energy()
            self._t0 = time.monotonic()
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.active:
            self.close()
            return
        self._stop.set()
        self._thread.join()
        self._t1 = time.monotonic()
        end = self._energy()
        if self._energy0 is not None and end is not None:
            self._energy_mj = float(end - self._energy0)
        self.close()

    def energy_j(self) -> float | None:
        """The energy counter's delta; else mean sampled power x elapsed time."""
        if self._energy_mj is not None:
            return self._energy_mj / 1000
        if self.power_w and self._t1 > self._t0:
            return sum(self.power_w) / len(self.power_w) * (self._t1 - self._t0)
        return None

    def summary(self, output_tokens: float) -> dict[str, float]:
        if not self.active or not self.power_w:
            return {}
        out = {"gpu_mem_used_peak_mb": self.mem_peak / 2**20,
               "gpu_power_w_mean": sum(self.power_w) / len(self.power_w),
               "gpu_power_w_max": max(self.power_w),
               "gpu_util_pct_mean": sum(self.util_pct) / len(self.util_pct),
               "gpu_telemetry_n": float(len(self.power_w))}
        energy = self.energy_j()
        if energy is not None:
            out["gpu_energy_j"] = energy
            if output_tokens > 0:
                out["gpu_j_per_output_tok"] = energy / output_tokens
        return out

    def close(self) -> None:
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except Exception:
                pass
