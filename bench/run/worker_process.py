"""One load worker process (bench.run.workers): its pipe protocol (pickles that share large
objects once) and its main loop, which runs the ordinary Driver on its own event loop and sends
each turn's finished samples back to the parent.

The same loop runs in a Ray actor on another host (bench.run.ray_pool), where the parent's
monotonic clock is not ours: the parent then sends its start time as wall-clock ns too, and this
worker times everything on its own monotonic clock, shifted so that t0 is the agreed instant;
the samples it sends back are shifted back onto the parent's clock (only the differences
between hosts' wall clocks, NTP's error, remain between workers)."""
from __future__ import annotations

import asyncio
import dataclasses
import io
import pickle
import signal
import threading
import time
from array import array
from typing import Any

import numpy as np

from bench.backends.base import Backend
from bench.run.driver import Driver
from bench.types import Sample


_SHARED: dict[int, Any] = {}   # in a worker: the workloads the parent shared, by key


def _shared(key: int) -> Any:
    return _SHARED[key]


class _Pickler(pickle.Pickler):
    """Sessions that point at their workload (agent tasks) send it once, not in every message.

    reducer_override, not persistent_id: the pickler asks persistent_id about every object, each
    int of every prompt included (a Python call each: 11% of the parent's time feeding 2
    workers), while ints, strings, tuples, lists and dicts never reach reducer_override."""

    def __init__(self, f, shared: dict[int, Any]):
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = shared
        from bench.workloads.base import Workload
        self.workload = Workload

    def reducer_override(self, obj):
        if isinstance(obj, self.workload):
            self.shared.setdefault(id(obj), obj)
            return _shared, (id(obj),)
        return NotImplemented


def _send(conn, message, sent: set[int] | None = None) -> None:
    """`sent`: the workloads this worker already has (sessions messages only)."""
    buf = io.BytesIO()
    if sent is None:
        pickle.dump(message, buf, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        found: dict[int, Any] = {}
        _Pickler(buf, found).dump(message)
        for key in found.keys() - sent:  # a workload this worker has not seen yet goes first
            conn.send_bytes(pickle.dumps(("share", key, found[key]), protocol=pickle.HIGHEST_PROTOCOL))
            sent.add(key)
    conn.send_bytes(buf.getvalue())


# ---- the worker process -------------------------------------------------------------------

def worker_main(index: int, inbox, outbox, backend_cls: type[Backend], model: str,
                options: dict[str, Any], seed: int, node: str | None = None) -> None:
    """`node`: where this worker runs (a Ray actor's node), recorded on each of its samples.
    A Ray actor runs this in a thread of its own, where signals cannot be set (nor arrive)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's: it tells us to stop
    try:
        import uvloop  # measured: ~10% less client CPU per streamed chunk than asyncio's loop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    run(_worker(index, inbox, outbox, backend_cls(model, options, seed), node))


def clock_shift_ns(t0_ns: int, t0_wall_ns: int | None) -> int:
    """Our monotonic clock minus the parent's, at the agreed start: 0 where the parent sent no
    wall time (worker processes on its host share its CLOCK_MONOTONIC)."""
    if t0_wall_ns is None:
        return 0
    return time.monotonic_ns() + (t0_wall_ns - time.time_ns()) - t0_ns


async def _worker(index: int, inbox, outbox, backend: Backend, node: str | None = None) -> None:
    from bench.telemetry.client import ClientMonitor

    loop = asyncio.get_running_loop()
    messages: asyncio.Queue = asyncio.Queue()
    # run (its t0_ns) -> why the parent's stop check ended it, or why it stopped the run (Ctrl-C,
    # a server gone): either way no session still queued here starts; those in flight finish
    halts: dict[int | tuple[str, int], str] = {}
    run_now: list[int] = []   # the last run's t0_ns the reader saw a "go" for

    # The inbox is read by a thread, never by the loop: the loop blocks writing samples when the
    # parent is busy, and the parent blocks writing sessions when we are; a loop that did both
    # could deadlock with it (it did, at 3,000 sessions/s).
    def read() -> None:
        while True:
            try:
                data = inbox.recv_bytes()
            except (EOFError, OSError):   # the parent is gone
                loop.call_soon_threadsafe(messages.put_nowait, ("quit",))
                return
            msg = pickle.loads(data)
            if msg[0] == "share":   # here, before the sessions that refer to it are unpickled
                _SHARED[msg[1]] = msg[2]
                continue
            if msg[0] == "go":
                run_now[:] = [msg[1]]
            if msg[0] == "halt":   # set here, not queued behind sessions the Driver may still take
                halts[msg[2]] = msg[1]
            elif msg[0] == "stop" and run_now:   # the same, for the run in progress, marked aborted
                halts.setdefault(run_now[0], msg[1])
                halts[("stop", run_now[0])] = msg[1]
            loop.call_soon_threadsafe(messages.put_nowait, msg)   # a halt too: it ends items()' wait

    await backend.start()
    threading.Thread(target=read, name="bench-worker-inbox", daemon=True).start()
    outbox.send_bytes(pickle.dumps(("ready", index)))
    try:
        while True:
            msg = await messages.get()
            if msg[0] == "go":
                t0_ns, deadline_ns, share, warmup, k, *wall = msg[1:]
                shift = clock_shift_ns(t0_ns, wall[0] if wall else None)
                async with ClientMonitor() as mon:
                    stats, lags = await _drive(backend, messages, outbox, halts, t0_ns, deadline_ns, share,
                                               warmup, k, shift, node)
                summary = mon.summary() | _lag_summary(lags)
                if node is not None:
                    summary |= {"node": node, "clock_shift_ms": shift / 1e6}
                outbox.send_bytes(pickle.dumps(("done", index, stats, summary)))
            elif msg[0] == "quit":
                return
    finally:
        await backend.stop()


async def _drive(backend, messages: asyncio.Queue, outbox, halts: dict[int, str], t0_ns: int,
                 deadline_ns: int | None, max_in_flight: int | None, warmup: bool, index: int,
                 shift_ns: int = 0, node: str | None = None):
    """t0_ns, deadline_ns and the sessions' due times are on the parent's clock; `shift_ns`
    (ours minus the parent's) moves them onto ours, and each sample's stamps back."""
    loop = asyncio.get_running_loop()
    pending: list[Sample] = []
    lags = array("q")   # ns, one per sample: 8 bytes each on a million-request run
    driver: Driver

    def flush() -> None:
        # A session's id joins finished_ids only after its last sample went to on_sample, so every
        # id sent here has its samples in this message or an earlier one: the parent's stop check
        # never judges a unit it has not seen whole. Sent ids leave the list: memory stays flat.
        batch = [_shifted(s, -shift_ns) for s in pending] if shift_ns else pending[:]
        pending.clear()
        stats = driver.stats
        ids = stats.finished_ids[:]
        stats.finished_ids.clear()
        outbox.send_bytes(pickle.dumps(("samples", batch, stats.finished_sessions, stats.aborted, ids),
                                       protocol=pickle.HIGHEST_PROTOCOL))

    def on_sample(sample: Sample) -> None:
        sample.meta["worker"] = index
        if node is not None:
            sample.meta["node"] = node
        lags.append(sample.sent_ns - sample.scheduled_ns)
        if not pending:
            loop.call_soon(flush)   # everything finished in this loop turn goes in one message
        pending.append(sample)

    async def items():
        while True:
            msg = await messages.get()
            if msg[0] == "sessions":
                for session, due in msg[1]:
                    yield session, (due + shift_ns if due is not None else None)
            elif msg[0] == "stop":
                driver.stats.aborted = driver.stats.aborted or msg[1]
                return
            elif msg[0] == "halt":   # the stop check itself reads `halts`; this only ends the wait
                if msg[2] == t0_ns:
                    return
            else:   # "end": the parent has no more sessions for this worker
                return

    driver = Driver(backend, on_sample)
    # The Driver asks this before starting each session (after its due time or a free slot), so
    # after a halt no queued session starts and those in flight finish.
    stats = await driver.drive(items(), t0_ns + shift_ns, max_in_flight,
                               deadline_ns + shift_ns if deadline_ns else None, warmup,
                               stop=lambda _: halts.get(t0_ns))
    stats.t0_ns, stats.end_ns = stats.t0_ns - shift_ns, stats.end_ns - shift_ns
    if pending or stats.finished_ids:
        flush()
    halts.pop(t0_ns, None)
    if (why := halts.pop(("stop", t0_ns), None)) is not None:   # the Driver may have ended before items() read it
        stats.aborted = stats.aborted or why
    return stats, lags


def _shifted(sample: Sample, by_ns: int) -> Sample:
    """The sample with every stamp moved by `by_ns` (onto the parent's clock)."""
    tokens = tuple(t + by_ns for t in sample.token_ns)
    chunks = tokens if sample.chunk_ns is sample.token_ns else tuple(t + by_ns for t in sample.chunk_ns)
    return dataclasses.replace(sample, scheduled_ns=sample.scheduled_ns + by_ns, sent_ns=sample.sent_ns + by_ns,
                               token_ns=tokens, chunk_ns=chunks,
                               done_ns=sample.done_ns + by_ns if sample.done_ns is not None else None)


def _lag_summary(lags_ns: array) -> dict[str, float]:
    """This worker's send lag: the parent judges its schedule per worker too."""
    from bench.metrics.core import distribution
    return distribution("send_lag_ms", np.frombuffer(lags_ns, dtype=np.int64) / 1e6) if lags_ns else {}


# ---- the parent ---------------------------------------------------------------------------
