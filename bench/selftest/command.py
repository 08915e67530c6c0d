"""`bench selftest`: how much load this client can generate, measured, not assumed.

The stub server (bench/stub_server.py, its own process: it never shares the client's event
loop or GIL) answers instantly, so whatever limits the numbers is the client: the real `openai`
backend, the real driver and the client monitor of every run.

- Open loop at each rate: achieved requests/s and chunks/s, send lag (sent - scheduled) p50/p99,
  event-loop lag p99 and the loop thread's CPU.
- Closed loop at a high concurrency: the most requests/s and chunks/s the client completes.
- `--soak N`: N requests at that concurrency, printing open file descriptors and RSS as they go;
  after warm-up neither may grow (a leak would show here long before it ends a night's run).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psutil

from bench.backends.openai_http import OpenAIBackend
from bench.telemetry.client import MAX_SEND_LAG_P99_MS, ClientMonitor
from bench.run.driver import Driver, seeded
from bench.run.load import Rate
from bench.metrics.core import summarize
from bench.run.server import ManagedServer, ServerSpec
from bench.types import Request, Sample, SingleRequest

STUB = ServerSpec(command=["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}", "--port", "{port}"],
                  startup_timeout_s=60, stop_timeout_s=5)


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    target_rate: float | None          # None: closed loop
    requests: int
    errors: int
    request_s: float
    chunk_s: float
    send_lag_ms_p50: float
    send_lag_ms_p99: float
    loop_lag_ms_p99: float
    loop_cpu: float

    @property
    def kept_schedule(self) -> bool:
        return self.errors == 0 and self.send_lag_ms_p99 <= MAX_SEND_LAG_P99_MS


def _sessions(chunks: int):
    i = 0
    while True:
        yield SingleRequest(Request(id=f"s{i}", prompt_token_ids=tuple(range(1, 9)), max_output_tokens=chunks))
        i += 1


async def _point(backend, label: str, rate: float | None, n: int, chunks: int, concurrency: int,
                 on_sample=None) -> Point:
    samples: list[Sample] = []

    def record(s: Sample) -> None:
        samples.append(s)
        if on_sample:
            on_sample(len(samples))

    offsets = Rate(rate).offsets_s(seeded(0)) if rate else iter(lambda: None, 0)
    async with ClientMonitor() as mon:
        await Driver(backend, record).run(_sessions(chunks), offsets, None if rate else concurrency, n, None)
    s, m = summarize(samples), mon.summary()
    return Point(label, rate, len(samples), int(s["errors"]), s.get("request_s", 0.0),
                 _chunks_received(samples, s), s.get("send_lag_ms_p50", 0.0), s.get("send_lag_ms_p99", 0.0),
                 m.get("loop_lag_ms_p99", 0.0), m.get("client_loop_cpu_util", 0.0))


def _chunks_received(samples: list[Sample], summary: dict) -> float:
    """Chunks that really arrived per second (a cut stream counts what it got), not the
    configured chunks per request times requests/s."""
    dur = summary.get("duration_s", 0.0)
    return sum(len(x.chunk_ns) for x in samples if not x.warmup) / dur if dur > 0 else 0.0


def _usage() -> tuple[int, float]:
    p = psutil.Process()
    return p.num_fds(), p.memory_info().rss / 2**20


async def _soak(backend, n: int, chunks: int, concurrency: int, print_fn) -> list[tuple[int, int, float]]:
    """(requests done, open fds, RSS MiB) every n/10 requests."""
    marks: list[tuple[int, int, float]] = []
    step = max(1, n // 10)

    def at(done: int) -> None:
        if done % step == 0:
            fds, rss = _usage()
            marks.append((done, fds, rss))
            print_fn(f"  soak {done:>7d} requests: {fds} open fds, RSS {rss:.1f} MiB")

    point = await _point(backend, f"soak c={concurrency}", None, n, chunks, concurrency, at)
    print_fn(f"  soak: {point.requests} requests, {point.errors} errors, {point.request_s:.0f} req/s")
    return marks


async def _selftest(rates, seconds: float, chunks: int, concurrency: int, soak: int, print_fn) -> dict:
    server = ManagedServer(STUB, "stub")
    await server.start()
    backend = OpenAIBackend("stub", {"base_url": server.url + "/v1", "metrics_url": None})
    await backend.start()
    try:
        await _point(backend, "warm-up", None, 200, chunks, concurrency)
        points = [await _point(backend, f"rate {r:g}/s", r, max(20, int(r * seconds)), chunks, concurrency)
                  for r in rates]
        closed = await _point(backend, f"closed c={concurrency}", None,
                              max(200, int(points[-1].request_s * seconds) if points else 2000),
                              chunks, concurrency)
        marks = await _soak(backend, soak, chunks, concurrency, print_fn) if soak else []
    finally:
        await backend.stop()
        await server.stop()
        server.log_path.unlink(missing_ok=True)
    return {"points": points, "closed": closed, "soak": marks}


def report(result: dict, chunks: int, print_fn=print) -> None:
    print_fn(f"{'load':>16s} {'req/s':>8s} {'chunks/s':>9s} {'lag p50 ms':>10s} {'lag p99 ms':>10s} "
             f"{'loop p99 ms':>11s} {'loop CPU':>8s} {'errors':>6s}  kept")
    for p in [*result["points"], result["closed"]]:
        print_fn(f"{p.label:>16s} {p.request_s:8.0f} {p.chunk_s:9.0f} {p.send_lag_ms_p50:10.3f} "
                 f"{p.send_lag_ms_p99:10.3f} {p.loop_lag_ms_p99:11.2f} {p.loop_cpu:8.0%} {p.errors:6d}  "
                 f"{'yes' if p.kept_schedule else 'no'}")
    kept = [p.target_rate for p in result["points"] if p.kept_schedule]
    best = result["closed"]
    print_fn(f"largest open-loop rate kept (p99 send lag <= {MAX_SEND_LAG_P99_MS:g} ms, no errors): "
             f"{max(kept):g} req/s" if kept else "no tested rate was kept")
    print_fn(f"closed-loop ceiling: {best.request_s:.0f} req/s, {best.chunk_s:.0f} chunks/s "
             f"({chunks} chunks per request); load average {', '.join(f'{x:.2f}' for x in psutil.getloadavg())}")


def main(rates: list[float], seconds: float, chunks: int, concurrency: int, soak: int) -> int:
    t = time.monotonic()
    result = asyncio.run(_selftest(rates, seconds, chunks, concurrency, soak, print))
    report(result, chunks)
    print(f"selftest took {time.monotonic() - t:.0f} s")
    return 0
