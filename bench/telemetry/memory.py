"""Memory sampled during a run. Absent, not zero, where a source does not exist (no GPU)."""
from __future__ import annotations

import sys
import threading

import psutil


class MemorySampler:
    """Peak RSS of this process and its children (engine workers), sampled at ~10 Hz."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mem-sampler", daemon=True)

    def _rss(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self._rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        _cuda_reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._rss())

    def summary(self) -> dict[str, float]:
        out = {"peak_rss_mb": self.peak_rss / 2**20}
        gpu = _cuda_peak()
        if gpu is not None:
            out["peak_gpu_alloc_mb"] = gpu / 2**20
        return out


def _cuda():
    torch = sys.modules.get("torch")  # only if a backend already imported it
    if torch is not None and torch.cuda.is_available():
        return torch
    return None


def _cuda_reset_peak() -> None:
    if (torch := _cuda()) is not None:
        torch.cuda.reset_peak_memory_stats()


def _cuda_peak() -> int | None:
    torch = _cuda()
    return None if torch is None else int(torch.cuda.max_memory_allocated())
