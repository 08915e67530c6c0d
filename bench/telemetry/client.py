"""Is the load generator itself the bottleneck? Event-loop lag and client CPU over a run.

Three numbers, because a single one misleads:
- `loop_lag_ms`: how late a 10 ms `asyncio.sleep` wakes up, sampled all run long. Every send and
  every token stamp waits for the event loop, so this is the delay the client adds to them.
- `client_loop_cpu_util`: CPU time of the event-loop thread / wall time (1.0 = one core busy).
  In-process backends (`hf`, `vllm`) compute in other threads or processes, so this counts the
  client's own work, not the model's. It also counts the short busy-wait before each
  scheduled send (bench/run/timer.py: as long as this machine's wake-ups need), so it is judged
  only for loads without a schedule (closed loop); open-loop loads are judged by their send lag,
  the direct symptom.
- `client_cpu_util`: CPU time of the whole harness process / wall time. With an in-process
  backend it includes the model's compute, so it is reported but never warned on.
"""
from __future__ import annotations

import asyncio
import time

import psutil

from bench.metrics.core import distribution

TICK_S = 0.010
MAX_SEND_LAG_P99_MS = 1.0      # open-loop schedule kept within this
MAX_LOOP_LAG_P99_MS = 5.0      # the event loop answered within this
MAX_LOOP_CPU_UTIL = 0.9        # of one core: beyond this the client, not the server, limits


class ClientMonitor:
    """`async with ClientMonitor() as mon:` around the measured part of a run."""

    def __init__(self, tick_s: float = TICK_S):
        self.tick_s = tick_s
        self.lags_ms: list[float] = []
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.tick_s)
            self.lags_ms.append(max(0.0, (time.perf_counter() - t - self.tick_s) * 1e3))

    def _cpu(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system

    async def __aenter__(self) -> ClientMonitor:
        self._proc = psutil.Process()
        self._wall0, self._thread0, self._cpu0 = time.perf_counter(), time.thread_time(), self._cpu()
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc) -> None:
        # thread_time() here is the loop thread's: __aexit__ runs on the event loop.
        self._wall = max(time.perf_counter() - self._wall0, 1e-9)
        self._thread = time.thread_time() - self._thread0
        self._proc_cpu = self._cpu() - self._cpu0
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def summary(self) -> dict[str, float]:
        out = distribution("loop_lag_ms", self.lags_ms)
        if self.lags_ms:
            out["loop_lag_ms_max"] = max(self.lags_ms)
        if hasattr(self, "_wall"):
            out["client_loop_cpu_util"] = max(0.0, self._thread) / self._wall
            out["client_cpu_util"] = self._proc_cpu / self._wall
        return out


def merge_client(per_worker: list[dict[str, float]]) -> dict[str, float]:
    """The workers' client monitors as one: the worst loop and send lag, CPU summed over cores."""
    out: dict[str, float] = {"client_workers": float(len(per_worker))}
    for key in ("loop_lag_ms_p99", "loop_lag_ms_max", "client_loop_cpu_util"):
        values = [w[key] for w in per_worker if key in w]
        if values:
            out[key] = max(values)
    cpu = [w["client_cpu_util"] for w in per_worker if "client_cpu_util" in w]
    if cpu:
        out["client_workers_cpu_util"] = sum(cpu)
    return out


def warnings(summary: dict[str, float], open_loop: bool, scheduled: bool) -> list[str]:
    """Plain sentences for run.json `warnings` and the table, when the client fell behind.

    Send lag is judged only for open-loop loads without a concurrency cap: in a closed loop, or
    when a cap holds sessions back, a late send is the load's design, not the client's fault.
    Loop CPU is judged only without a schedule (`scheduled` false): see the module's note.
    """
    out = []
    lag = summary.get("send_lag_ms_p99")
    if open_loop and lag is not None and lag > MAX_SEND_LAG_P99_MS:
        out.append(f"send lag p99 {lag:.2f} ms > {MAX_SEND_LAG_P99_MS:g} ms: the client did not keep "
                   "the open-loop schedule")
    loop = summary.get("loop_lag_ms_p99")
    if loop is not None and loop > MAX_LOOP_LAG_P99_MS:
        out.append(f"event-loop lag p99 {loop:.1f} ms > {MAX_LOOP_LAG_P99_MS:g} ms: sends and token "
                   "stamps were delayed by the client")
    cpu = summary.get("client_loop_cpu_util")
    if not scheduled and cpu is not None and cpu > MAX_LOOP_CPU_UTIL:
        out.append(f"the client's event loop used {cpu:.0%} of a core: the client, not the server, "
                   "may have limited this run")
    return out
