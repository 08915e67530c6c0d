"""Load from N worker processes: a client that one core's worth of Python does not limit.

The parent computes the schedule once (bench.run.driver.schedule) and hands each worker its
share over a pipe, a little ahead of time; each worker runs the ordinary Driver on its own
event loop (uvloop) against its own copy of the backend. Sessions are whole: a conversation or
agent task lives in one worker. Stamps stay comparable across workers because they all come
from time.monotonic_ns(), CLOCK_MONOTONIC, which on Linux is one system-wide clock for every
process (not per process like CLOCK_PROCESS_CPUTIME_ID).

Samples come back as they complete: a worker writes each event-loop turn's finished samples to
its pipe in one message (a blocking write that returns once the kernel holds them, so a worker
killed after it cannot lose them); the parent reads them on its own loop and hands them to
`on_sample`, which writes them to disk as with one process. A worker that dies is reported
(`DriveStats.dead_workers`), its samples so far are kept and the sessions still queued in it
are lost. Only backends that declare `multiprocess_safe` are run here: an in-process engine
cannot be shared across processes.

A caller's `stop` (a capacity probe's early stop) is asked here, in the parent, on the finished
session ids each samples message carries after its samples; its reason goes to every worker as
("halt", reason, t0): no session still queued there starts, those in flight finish.

The messages are plain pickles over multiprocessing pipes. The transport is the pool's few
underscore methods (_start, _send, _listen, _drain, close); bench.run.ray_pool replaces them with
calls to Ray actors on other hosts, which run this same worker loop.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import pickle
import time
from collections.abc import Callable, Iterator

from bench.backends.base import Backend
from bench.run.driver import DriveStats, now_ns, schedule
from bench.run.worker_process import _send, worker_main
from bench.types import Sample, Session

LOOKAHEAD_NS = 300_000_000     # open loop: a session reaches its worker this long before it is due
# ... or up to this much longer: the feeder wakes once per tick and hands out everything due in
# it (one pipe message per worker), not once per session (bench selftest --workers 2, 64 chunks,
# 1,500/s: parent CPU 135-181 us per session that way, 101-107 us by the tick).
FEED_TICK_NS = 100_000_000
START_MARGIN_NS = 200_000_000  # t0 this far after "go", so every worker is listening when it comes
DRAIN_S = 2.0                  # on Ctrl-C, how long the parent still collects finished samples
# Open loop, uncapped: a worker that fell this far behind gets no more until it catches up, so
# its queue (memory) stays bounded; the schedule still stamps each session's due time.
MAX_OUTSTANDING = 5_000
BACKLOG = 2                    # closed loop: queued sessions per slot a worker holds beyond its slots


class WorkerPool:
    """Same `run` as Driver; the workers start on the first run and stay until close()."""

    def __init__(self, backend: Backend, on_sample: Callable[[Sample], None], workers: int):
        self.backend, self.on_sample, self.n = backend, on_sample, workers
        self.procs: list[mp.Process] = []
        self.stats = DriveStats()
        self.worker_summaries: list[dict[str, float]] = []

    def _start(self) -> None:
        ctx = mp.get_context("spawn")   # fork would copy the parent's threads and event loop
        b = self.backend
        self.inboxes, self.outboxes, self.sent_shared = [], [], []
        for k in range(self.n):
            r_in, w_in = ctx.Pipe(duplex=False)
            r_out, w_out = ctx.Pipe(duplex=False)
            p = ctx.Process(target=worker_main, name=f"bench-worker-{k}", daemon=True,
                            args=(k, r_in, w_out, type(b), b.model, b.options.model_dump(), b.seed))
            p.start()
            r_in.close()
            w_out.close()   # so the parent reads EOF when the worker dies
            self.procs.append(p)
            self.inboxes.append(w_in)
            self.outboxes.append(r_out)
            self.sent_shared.append(set())
        for k, conn in enumerate(self.outboxes):   # the backends start in parallel
            try:
                ready = conn.poll(120) and pickle.loads(conn.recv_bytes())[0] == "ready"
            except EOFError:   # it died first: its own traceback is on stderr above
                ready = False
                self.procs[k].join(5)
            if not ready:
                raise RuntimeError(f"load worker {k} did not start (exit code {self.procs[k].exitcode}; "
                                   "its error, if any, is printed above)")

    async def run(self, sessions: Iterator[Session], offsets: Iterator[float | None],
                  max_in_flight: int | None, count: int | None, duration_s: float | None,
                  warmup: bool = False, stop=None) -> DriveStats:
        """As Driver.run; `stop` is asked in this process, on the samples the workers hand back."""
        if not self.started:
            await asyncio.get_running_loop().run_in_executor(None, self._start)
            self.started = True
        t0 = now_ns() + self.start_margin_ns
        deadline = t0 + int(duration_s * 1e9) if duration_s else None
        live = self._alive()
        if not live:
            raise RuntimeError(f"no load worker is alive (of {self.n}): see the runs before this one")
        shares = _split(max_in_flight, len(live))
        t0_wall = time.time_ns() + (t0 - now_ns())   # the same instant on the wall clock (other hosts)
        for k, share in zip(live, shares):
            self._send(k, ("go", t0, deadline, share, warmup, k, t0_wall))
        return await _Run(self, live, shares, t0, deadline, stop).go(schedule(sessions, offsets, count, t0))

    # ---- the transport: pipes to spawned processes (bench.run.ray_pool: calls to Ray actors) --
    started = False
    start_margin_ns = START_MARGIN_NS

    def _where(self, k: int) -> dict:
        """Where worker k ran, for run.json (a Ray actor's node); nothing for local processes."""
        return {}

    def _alive(self) -> list[int]:
        return [k for k, p in enumerate(self.procs) if p.is_alive()]

    def _send(self, k: int, message, share: bool = False) -> None:
        """Raises OSError when worker k is gone (its death is reported by the reader)."""
        _send(self.inboxes[k], message, self.sent_shared[k] if share else None)

    def _listen(self, run: _Run) -> None:
        """Hand each worker's messages to run._handle as they come, and its death to run.died."""
        loop = asyncio.get_running_loop()
        for k in run.live:
            loop.add_reader(self.outboxes[k].fileno(), self._readable, run, k)

    def _unlisten(self, run: _Run) -> None:
        loop = asyncio.get_running_loop()
        for k in run.live:
            loop.remove_reader(self.outboxes[k].fileno())

    def _readable(self, run: _Run, k: int) -> None:
        conn = self.outboxes[k]
        try:
            while conn.poll():
                run._handle(k, pickle.loads(conn.recv_bytes()))
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            if k not in run.done:
                proc = self.procs[k]
                proc.join(1)
                run.died(k, f"worker {k} (pid {proc.pid}) died, exit code {proc.exitcode}")
        run.wake.set()

    async def _drain(self, run: _Run, seconds: float) -> None:
        """Read what the workers send for up to `seconds`, polling the pipes here (whether or not
        the event loop still runs its readers)."""
        end = time.monotonic() + seconds
        while run.open() and time.monotonic() < end:
            for k in run.open():
                if self.outboxes[k].poll(0.01):
                    self._readable(run, k)

    async def close(self) -> None:
        for k in range(len(self.procs)):
            try:
                _send(self.inboxes[k], ("quit",))
            except OSError:
                pass
        for p in self.procs:
            await asyncio.get_running_loop().run_in_executor(None, p.join, 10)
            if p.is_alive():
                p.kill()
        self.procs = []
        self.started = False


def _split(total: int | None, n: int) -> list[int | None]:
    """A concurrency cap split over n workers as evenly as whole numbers allow."""
    if not total:
        return [None] * n
    return [total // n + (1 if k < total % n else 0) for k in range(n)]


class _Run:
    """One run of the pool: feeds sessions, collects samples, merges the workers' stats."""

    def __init__(self, pool: WorkerPool, live: list[int], shares: list[int | None], t0: int, deadline,
                 stop: Callable[[DriveStats], str | None] | None = None):
        self.pool, self.live, self.t0, self.deadline, self.stop = pool, live, t0, deadline, stop
        # What `stop` reads, as the single Driver's stats: t0 and the finished sessions, in the
        # order their last samples reached on_sample.
        self.stats = DriveStats(t0_ns=t0)
        self.cap = {k: (s * (1 + BACKLOG) if s else MAX_OUTSTANDING) for k, s in zip(live, shares)}
        self.sent = dict.fromkeys(live, 0)
        self.finished = dict.fromkeys(live, 0)
        self.done: dict[int, tuple[DriveStats, dict]] = {}
        self.dead: list[str] = []
        self.aborted: str | None = None
        self.wake = asyncio.Event()

    def died(self, k: int, what: str) -> None:
        """Worker k is gone: its finished samples are on disk, the sessions it still held are lost."""
        lost = self.sent[k] - self.finished[k]
        self.dead.append(f"{what}, after {self.finished[k]} of the {self.sent[k]} sessions it was given "
                         f"({lost} lost)")
        self.done[k] = (None, {"died": what, "lost_sessions": lost})
        self.wake.set()

    def _handle(self, k: int, msg) -> None:
        if msg[0] == "samples":
            for sample in msg[1]:
                self.pool.on_sample(sample)
            self.finished[k] = msg[2]
            if msg[3] and not self.aborted:
                self.aborted = msg[3]
            if msg[4] and self.stop is not None:   # after their samples: the check sees a unit whole
                self.stats.finished_ids.extend(msg[4])
                self._ask_stop()
        elif msg[0] == "done":
            self.done[k] = (msg[2], msg[3])

    def _ask_stop(self) -> None:
        """The caller's `stop`, asked as the single Driver asks it (before a session is handed
        out) and also as sessions finish: a worker may hold a backlog the feeder no longer sees.
        On a reason every worker stops starting sessions; those in flight finish and report."""
        if self.stop is None or self.stats.stopped or self.aborted:
            return
        reason = self.stop(self.stats)
        if not reason:
            return
        self.stats.stopped = reason
        for k in self.open():
            try:   # not "stop": that one marks the run aborted (server gone), this one ends it well
                self.pool._send(k, ("halt", reason, self.t0))
            except OSError:
                pass   # it died: the reader reports it
        self.wake.set()

    def open(self) -> list[int]:
        return [k for k in self.live if k not in self.done]

    async def go(self, items: Iterator[tuple[Session, int | None]]) -> DriveStats:
        pool = self.pool
        pool._listen(self)
        stats = self.stats
        try:
            await self._feed(items)
            for k in self.open():
                try:
                    pool._send(k, ("stop", self.aborted) if self.aborted else ("end",))
                except OSError:
                    pass   # it died: the reader reports it
            while self.open():
                self.wake.clear()
                await self.wake.wait()
        except BaseException:   # Ctrl-C or a failure here: workers stop starting sessions, and
            self.stop = None         # what they already finished still reaches disk
            for k in self.open():
                try:
                    pool._send(k, ("stop", "interrupted"))
                except OSError:
                    pass
            await pool._drain(self, DRAIN_S)
            pool.worker_summaries = self._interrupted_summaries()
            raise
        finally:
            pool._unlisten(self)
            stats.end_ns = now_ns()
        pool.worker_summaries = []
        for k in self.live:
            s, summary = self.done[k]
            pool.worker_summaries.append(summary | pool._where(k) | {"worker": k})
            if s is not None:
                stats.started_sessions += s.started_sessions
                stats.finished_sessions += s.finished_sessions
                stats.session_errors += s.session_errors
                stats.aborted = stats.aborted or s.aborted
        stats.aborted = stats.aborted or self.aborted
        stats.dead_workers = self.dead
        pool.stats = stats
        return stats

    def _interrupted_summaries(self) -> list[dict]:
        """Each worker's entry for run.json after an interruption, once the drain is over. A
        worker that reported done gives its own summary, and `lost_sessions`: those it started and
        did not finish (none, normally: its in-flight requests finish before it reports done).
        One that did not report done within the grace period lost what it still held: the
        sessions it was given less those it reported finished, as with a worker that died."""
        out = []
        for k in self.live:
            s, summary = self.done.get(k, (None, {}))
            if s is not None:
                summary = summary | {"lost_sessions": s.started_sessions - s.finished_sessions,
                                     "unstarted_sessions": self.sent[k] - s.started_sessions}
            elif k not in self.done:
                summary = {"interrupted": f"not done within {DRAIN_S:g} s of the stop",
                           "lost_sessions": self.sent[k] - self.finished[k]}
            out.append(summary | self.pool._where(k) | {"worker": k, "finished_sessions": self.finished[k]})
        return out

    async def _feed(self, items: Iterator[tuple[Session, int | None]]) -> None:
        """Open loop: hand sessions out round-robin 300-400 ms ahead of their due times, a tick's
        worth at a time. Closed loop:
        to whichever worker has room, so a slow worker does not hold the others back."""
        turn = 0
        batch: dict[int, list] = {}
        horizon = 0   # open loop: sessions due before this go out at once
        for session, due in items:
            if self.deadline and (due or now_ns()) >= self.deadline:
                break
            while True:
                open_ = [k for k in self.open() if self.sent[k] - self.finished[k] < self.cap[k]]
                if not self.open() or self.aborted or self.stats.stopped:   # also woken by a halt
                    return
                if open_ and (due is None or due < horizon):
                    break
                if open_ and due - now_ns() < LOOKAHEAD_NS:   # a new tick: this one and the next's
                    horizon = now_ns() + LOOKAHEAD_NS + FEED_TICK_NS
                    break
                self._flush(batch)
                self.wake.clear()
                if due is not None and open_:
                    try:
                        await asyncio.wait_for(self.wake.wait(), (due - now_ns() - LOOKAHEAD_NS) / 1e9)
                    except TimeoutError:
                        pass
                else:
                    await self.wake.wait()
            self._ask_stop()
            if self.stats.stopped:   # the batch not yet sent is dropped: those must not start
                return
            k = open_[turn % len(open_)]
            turn += 1
            batch.setdefault(k, []).append((session, due))
            self.sent[k] += 1
            if len(batch[k]) >= 256:
                self._flush(batch)
        self._flush(batch)

    def _flush(self, batch: dict[int, list]) -> None:
        for k, items in batch.items():
            if k in self.done:
                continue
            try:
                self.pool._send(k, ("sessions", items), share=True)
            except OSError:
                pass   # it died: the reader reports it
        batch.clear()
