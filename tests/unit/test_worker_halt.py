"""A capacity probe's early stop across load workers, without spawning any: the worker loop runs
in this process on real pipes (bench.run.worker_process), the parent's side on a fake pool."""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import pickle
import threading
from types import SimpleNamespace

from bench.run import worker_process
from bench.run.driver import now_ns
from bench.run.worker_process import _send
from bench.run.workers import _Run
from bench.types import Request, Sample, SingleRequest
from tests.helpers.fake_backend import FakeBackend


def session(i: int) -> SingleRequest:
    return SingleRequest(Request(id=f"r{i}", prompt_token_ids=(1, 2), max_output_tokens=2))


async def until(cond, timeout_s: float = 10.0) -> None:
    end = now_ns() + int(timeout_s * 1e9)
    while not cond():
        assert now_ns() < end, "timed out"
        await asyncio.sleep(0.005)


async def messages_until_done(conn) -> list:
    out: list = []
    while not out or out[-1][0] != "done":
        await until(conn.poll)
        out.append(pickle.loads(conn.recv_bytes()))
    return out


async def queued_worker():
    """A worker loop in this process on real pipes, one slot: r0 in flight (gated), r1..r4 queued."""
    r_in, w_in = mp.Pipe(duplex=False)
    r_out, w_out = mp.Pipe(duplex=False)
    backend = FakeBackend(gated=True)
    worker = asyncio.create_task(worker_process._worker(0, r_in, w_out, backend))
    await until(r_out.poll)
    assert pickle.loads(r_out.recv_bytes()) == ("ready", 0)
    t0 = now_ns()
    _send(w_in, ("go", t0, None, 1, False, 0))     # closed loop, one slot, 5 sessions queued
    _send(w_in, ("sessions", [(session(i), None) for i in range(5)]), set())
    await until(lambda: backend.started == ["r0"])
    return w_in, r_out, backend, worker, t0


def test_a_halted_worker_starts_none_of_its_queued_sessions(monkeypatch):
    halts_seen: list[dict] = []
    real_drive = worker_process._drive

    async def spy(backend, messages, outbox, halts, *rest):
        halts_seen.append(halts)
        return await real_drive(backend, messages, outbox, halts, *rest)
    monkeypatch.setattr(worker_process, "_drive", spy)

    async def scenario():
        w_in, r_out, backend, worker, t0 = await queued_worker()
        _send(w_in, ("halt", "met", t0))
        await until(lambda: halts_seen and halts_seen[0].get(t0) == "met")   # the inbox thread's
        backend.gate.set()                              # the one in flight finishes ...
        first = await messages_until_done(r_out)
        # ... and a later run on the same worker is not halted by the earlier run's halt
        t1 = now_ns()
        _send(w_in, ("go", t1, None, 2, False, 0))
        _send(w_in, ("sessions", [(session(i), None) for i in range(5, 8)]), set())
        _send(w_in, ("end",))
        second = await messages_until_done(r_out)
        _send(w_in, ("quit",))
        await asyncio.wait_for(worker, 10)
        w_in.close()   # the inbox thread reads EOF and ends while the loop still runs
        await until(lambda: not any(t.name == "bench-worker-inbox" for t in threading.enumerate()))
        return backend, first, second

    backend, first, second = asyncio.run(scenario())
    assert backend.started == ["r0", "r5", "r6", "r7"]   # r1..r4 never started
    stats = first[-1][2]
    assert (stats.started_sessions, stats.finished_sessions) == (1, 1)
    assert stats.stopped == "met" and stats.aborted is None   # a halt is not an abort: run complete
    samples = [s for m in first if m[0] == "samples" for s in m[1]]
    ids = [i for m in first if m[0] == "samples" for i in m[4]]
    assert [s.request_id for s in samples] == ["r0"] and ids == ["r0"]
    stats2 = second[-1][2]
    assert stats2.started_sessions == 3 and stats2.stopped is None
    assert sorted(i for m in second if m[0] == "samples" for i in m[4]) == ["r5", "r6", "r7"]


class Inbox:
    def __init__(self):
        self.got: list = []

    def send_bytes(self, data: bytes) -> None:
        self.got.append(pickle.loads(data))


def sample(rid: str) -> Sample:
    return Sample(rid, None, 0, 0, (1,), (1,), 2, None, 1)


def test_the_parent_asks_stop_after_a_messages_samples_and_halts_every_worker():
    seen: list[str] = []
    asked: list[tuple[list[str], list[str]]] = []

    def stop(stats):
        asked.append((list(stats.finished_ids), list(seen)))
        return "met" if len(stats.finished_ids) >= 3 else None

    inboxes = [Inbox(), Inbox()]
    pool = SimpleNamespace(on_sample=lambda s: seen.append(s.request_id),
                           _send=lambda k, msg, share=False: _send(inboxes[k], msg))
    run = _Run(pool, [0, 1], [None, None], t0=123, deadline=None, stop=stop)
    run._handle(0, ("samples", [sample("a"), sample("b")], 2, None, ["a", "b"]))
    run._handle(1, ("samples", [sample("c")], 0, None, []))      # c still has a call to come
    assert run.stats.stopped is None and inboxes[0].got == []
    run._handle(1, ("samples", [sample("c")], 1, None, ["c"]))
    # every id stop saw had its samples handed to on_sample first
    assert all(set(ids) <= set(s) for ids, s in asked) and len(asked) == 2
    assert run.stats.stopped == "met" and run.stats.finished_ids == ["a", "b", "c"]
    assert [x.got for x in inboxes] == [[("halt", "met", 123)]] * 2
    run._handle(0, ("samples", [sample("d")], 3, None, ["d"]))      # asked once: halted already
    assert len(asked) == 2 and inboxes[0].got == [("halt", "met", 123)]


def test_a_stopped_worker_starts_none_of_its_queued_sessions_and_marks_its_run_aborted():
    """Ctrl-C in the parent sends ("stop", "interrupted"): it takes effect at once, not behind
    the sessions already queued in the worker, and its in-flight request still finishes."""
    async def scenario():
        w_in, r_out, backend, worker, t0 = await queued_worker()
        _send(w_in, ("stop", "interrupted"))
        await asyncio.sleep(0.1)                        # the inbox thread has it before the slot frees
        backend.gate.set()
        messages = await messages_until_done(r_out)
        _send(w_in, ("quit",))
        await asyncio.wait_for(worker, 10)
        w_in.close()
        return backend, messages

    backend, messages = asyncio.run(scenario())
    assert backend.started == ["r0"]                    # r1..r4 never started
    stats = messages[-1][2]
    assert (stats.started_sessions, stats.finished_sessions) == (1, 1) and stats.aborted == "interrupted"
    assert [s.request_id for m in messages if m[0] == "samples" for s in m[1]] == ["r0"]


def test_after_an_interruption_each_worker_says_what_it_finished_and_what_was_lost():
    pool = SimpleNamespace(on_sample=lambda s: None, _send=lambda k, msg, share=False: None,
                           _where=lambda k: {"node": f"n{k}"})
    run = _Run(pool, [0, 1, 2], [2, 2, 2], t0=1, deadline=None)
    run.sent = {0: 6, 1: 6, 2: 6}
    run._handle(0, ("samples", [sample("a"), sample("b")], 2, None, []))
    run._handle(0, ("done", 0, SimpleNamespace(started_sessions=2, finished_sessions=2), {"send_lag_ms_p99": 0.1}))
    run._handle(1, ("samples", [sample("c")], 1, None, []))   # no "done" within the grace period
    run.died(2, "load actor 2 died")
    by = {w["worker"]: w for w in run._interrupted_summaries()}
    assert by[0] == {"send_lag_ms_p99": 0.1, "lost_sessions": 0, "unstarted_sessions": 4, "node": "n0",
                     "worker": 0, "finished_sessions": 2}
    assert by[1]["lost_sessions"] == 5 and "not done within" in by[1]["interrupted"] and by[1]["finished_sessions"] == 1
    assert by[2]["lost_sessions"] == 6 and by[2]["died"] == "load actor 2 died"
