"""`bench selftest`: how much load this client can generate, measured, not assumed.

The stub server (bench/selftest/stub_server.py, its own process: it never shares the client's event
loop or GIL) answers instantly, so whatever limits the numbers is the client: the real `openai`
backend, the real driver and the client monitor of every run.

- Open loop at each rate: achieved requests/s and chunks/s, send lag (sent - scheduled) p50/p99,
  event-loop lag p99 and the loop thread's CPU.
- Closed loop at a high concurrency: the most requests/s and chunks/s the client completes.
- Client CPU (user + system, the harness process and its load workers, not the stub) per
  streamed chunk and per request, over each measured point only, and the chunks actually
  received (parsed from the stream, not assumed from max_tokens).
- `--workers N`: every point again with N worker processes (bench.run.workers).
- `--soak N`: N requests at that concurrency, printing open file descriptors and RSS as they go;
  after warm-up neither may grow (a leak would show here long before it ends a night's run).
"""
from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import psutil

from bench.backends.openai_http import OpenAIBackend
from bench.telemetry.client import MAX_SEND_LAG_P99_MS, ClientMonitor, merge_client
from bench.run.driver import Driver, seeded
from bench.run.workers import WorkerPool
from bench.load.rate import Rate
from bench.run.timer import send_wait
from bench.metrics.core import summarize
from bench.config_server import ServerSpec
from bench.run.server import ManagedServer
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
    chunks: int = 0                    # streamed chunks actually received
    cpu_s: float = 0.0                 # client CPU over the point: the process and its workers
    parent_cpu_s: float = 0.0          # of which this process (with workers: the feeding parent)

    @property
    def cpu_us_per_chunk(self) -> float:
        return self.cpu_s / self.chunks * 1e6 if self.chunks else float("nan")

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def parent_us_per_request(self) -> float:
        return self.parent_cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def kept_schedule(self) -> bool:
        return self.errors == 0 and self.send_lag_ms_p99 <= MAX_SEND_LAG_P99_MS


def _sessions(chunks: int):
    i = 0
    while True:
        yield SingleRequest(Request(id=f"s{i}", prompt_token_ids=tuple(range(1, 9)), max_output_tokens=chunks))
        i += 1


def _cpu_s(pool: WorkerPool | None) -> tuple[float, float]:
    """CPU seconds of this process and the pool's workers (never the stub server's), and of
    this process alone: with workers it feeds them and takes their samples, the one serial part."""
    procs = [psutil.Process()] + [psutil.Process(p.pid) for p in (pool.procs if pool else [])]
    each = []
    for proc in procs:
        try:
            t = proc.cpu_times()
            each.append(t.user + t.system)
        except psutil.NoSuchProcess:
            each.append(0.0)
    return sum(each), each[0]


async def _point(backend, label: str, rate: float | None, n: int, chunks: int, concurrency: int,
                 pool: WorkerPool | None = None) -> Point:
    samples: list[Sample] = []
    record = samples.append
    offsets = Rate(rate=rate, requests=n).offsets_s(seeded(0)) if rate else iter(lambda: None, 0)
    driver = pool or Driver(backend, record)
    driver.on_sample = record
    cpu0 = _cpu_s(pool)
    async with ClientMonitor() as mon:
        await driver.run(_sessions(chunks), offsets, None if rate else concurrency, n, None)
    cpu1 = _cpu_s(pool)
    cpu, parent_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    s, m = summarize(samples), mon.summary()
    if pool:   # the loops that stamped were the workers'
        m = merge_client(pool.worker_summaries)
    return Point(label, rate, len(samples), int(s["errors"]), s.get("request_s", 0.0),
                 _chunks_received(samples, s), s.get("send_lag_ms_p50", 0.0), s.get("send_lag_ms_p99", 0.0),
                 m.get("loop_lag_ms_p99", 0.0), m.get("client_loop_cpu_util", 0.0),
                 sum(len(x.chunk_ns) for x in samples), cpu, parent_cpu)


def _chunks_received(samples: list[Sample], summary: dict) -> float:
    """Chunks that really arrived per second (a cut stream counts what it got), not the
    configured chunks per request times requests/s."""
    dur = summary.get("duration_s", 0.0)
    return sum(len(x.chunk_ns) for x in samples if not x.warmup) / dur if dur > 0 else 0.0


def _usage() -> tuple[int, float]:
    p = psutil.Process()
    return p.num_fds(), p.memory_info().rss / 2**20


async def _soak(backend, n: int, chunks: int, concurrency: int, print_fn) -> list[tuple[int, int, float]]:
    """(requests done, open fds, RSS MiB) every n/10 requests. The samples are counted, not
    kept, so that RSS shows the client's own memory, not a list this command would hold."""
    marks: list[tuple[int, int, float]] = []
    step = max(1, n // 10)
    done = errors = 0

    def record(s: Sample) -> None:
        nonlocal done, errors
        done += 1
        errors += s.error is not None
        if done % step == 0:
            fds, rss = _usage()
            marks.append((done, fds, rss))
            print_fn(f"  soak {done:>7d} requests: {fds} open fds, RSS {rss:.1f} MiB")

    t0 = time.perf_counter()
    await Driver(backend, record).run(_sessions(chunks), iter(lambda: None, 0), concurrency, n, None)
    print_fn(f"  soak: {done} requests, {errors} errors, {done / (time.perf_counter() - t0):.0f} req/s")
    return marks


async def _points(backend, rates, seconds: float, chunks: int, concurrency: int,
                  pool: WorkerPool | None) -> dict:
    tag = f" x{pool.n}" if pool else ""
    await _point(backend, "warm-up", None, 200, chunks, concurrency, pool=pool)
    points = [await _point(backend, f"rate {r:g}/s{tag}", r, max(20, int(r * seconds)), chunks, concurrency,
                           pool=pool) for r in rates]
    closed = await _point(backend, f"closed c={concurrency}{tag}", None,
                          max(200, int(points[-1].request_s * seconds) if points else 2000),
                          chunks, concurrency, pool=pool)
    return {"points": points, "closed": closed, "workers": pool.n if pool else 1}


async def _selftest(rates, seconds: float, chunks: int, concurrency: int, soak: int, print_fn,
                    workers: int = 1) -> dict:
    server = ManagedServer(STUB, "stub")
    await server.start()
    backend = OpenAIBackend("stub", {"base_url": server.url + "/v1", "metrics_url": None})
    await backend.start()
    pool = WorkerPool(backend, lambda s: None, workers) if workers > 1 else None
    try:
        result = await _points(backend, rates, seconds, chunks, concurrency, None)
        result["send_wait"] = send_wait()   # as this process's loop learned it over the points
        if pool:
            result["pooled"] = await _points(backend, rates, seconds, chunks, concurrency, pool)
        result["soak"] = await _soak(backend, soak, chunks, concurrency, print_fn) if soak else []
    finally:
        if pool:
            await pool.close()
        await backend.stop()
        await server.stop()
        server.log_path.unlink(missing_ok=True)
    return result


def report(result: dict, chunks: int, print_fn=print) -> None:
    for part in [result, result.get("pooled")]:
        if part:
            _table(part, chunks, print_fn)
    if "send_wait" in result:
        print_fn(f"send wait (1 worker, after its points): {result['send_wait']}")
    print_fn(f"load average {', '.join(f'{x:.2f}' for x in psutil.getloadavg())} "
             "(other work on the machine slows the client: compare runs made side by side)")


def _table(result: dict, chunks: int, print_fn) -> None:
    n = result.get("workers", 1)
    extra = f" {'parent us/req':>13s}" if n > 1 else ""   # of the CPU per request: the parent's
    print_fn(f"{'load':>18s} {'req/s':>8s} {'chunks/s':>9s} {'chunks':>8s} {'lag p50 ms':>10s} "
             f"{'lag p99 ms':>10s} {'loop p99 ms':>11s} {'loop CPU':>8s} {'CPU us/chunk':>12s} "
             f"{'CPU us/req':>10s}{extra} {'errors':>6s}  kept")
    for p in [*result["points"], result["closed"]]:
        print_fn(f"{p.label:>18s} {p.request_s:8.0f} {p.chunk_s:9.0f} {p.chunks:8d} {p.send_lag_ms_p50:10.3f} "
                 f"{p.send_lag_ms_p99:10.3f} {p.loop_lag_ms_p99:11.2f} {p.loop_cpu:8.0%} "
                 f"{p.cpu_us_per_chunk:12.1f} {p.cpu_us_per_request:10.0f}"
                 f"{f' {p.parent_us_per_request:13.0f}' if n > 1 else ''} {p.errors:6d}  "
                 f"{'yes' if p.kept_schedule else 'no'}")
    kept = [p.target_rate for p in result["points"] if p.kept_schedule]
    best = result["closed"]
    who = f"{n} worker{'s' if n > 1 else ''}"
    print_fn(f"{who}: largest open-loop rate kept (p99 send lag <= {MAX_SEND_LAG_P99_MS:g} ms, no errors): "
             f"{max(kept):g} req/s" if kept else f"{who}: no tested rate was kept")
    print_fn(f"{who}: closed-loop ceiling: {best.request_s:.0f} req/s, {best.chunk_s:.0f} chunks/s "
             f"({chunks} chunks per request), client CPU {best.cpu_us_per_chunk:.1f} us per chunk, "
             f"{best.cpu_us_per_request:.0f} us per request")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, action="append", help="open-loop rate to test (repeatable)")
    p.add_argument("--seconds", type=float, default=3.0, help="per rate")
    p.add_argument("--chunks", type=int, default=16, help="streamed chunks (tokens) per request")
    p.add_argument("--concurrency", type=int, default=256, help="for the closed-loop ceiling and the soak")
    p.add_argument("--soak", type=int, default=0, metavar="N", help="then N requests, printing fds and RSS")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="also measure with N worker processes")


def main(args: argparse.Namespace) -> int:
    return selftest(args.rate or [100, 300, 1000, 2000], args.seconds, args.chunks, args.concurrency, args.soak,
                    args.workers)


def selftest(rates: list[float], seconds: float, chunks: int, concurrency: int, soak: int,
             workers: int = 1) -> int:
    t = time.monotonic()
    result = asyncio.run(_selftest(rates, seconds, chunks, concurrency, soak, print, workers))
    report(result, chunks)
    print(f"selftest took {time.monotonic() - t:.0f} s")
    return 0
