"""The load workers' pipe protocol (bench.run.worker_process): a workload crosses once."""
import multiprocessing as mp
import pickle

from bench.run import worker_process
from bench.run.worker_process import _send
from bench.workloads.base import Workload


class _Task:
    def __init__(self, n, workload):
        self.n, self.workload, self.prompt = n, workload, tuple(range(n, n + 50))


def _read(conn) -> tuple[list, list[bytes]]:
    out, raw = [], []
    while conn.poll(0.5):
        data = conn.recv_bytes()
        msg = pickle.loads(data)
        if msg[0] == "share":   # as the worker's inbox thread does
            worker_process._SHARED[msg[1]] = msg[2]
        out.append(msg)
        raw.append(data)
    return out, raw


def test_a_workload_is_shared_once_and_sessions_resolve_to_it(monkeypatch):
    monkeypatch.setattr(worker_process, "_SHARED", {})
    workload = Workload.__new__(Workload)   # its identity is what matters here, not its settings
    workload.seed = 7
    r, w = mp.Pipe(duplex=False)
    sent: set[int] = set()
    _send(w, ("sessions", [(_Task(1, workload), 10), (_Task(2, workload), 20)]), sent)
    _send(w, ("sessions", [(_Task(3, workload), 30)]), sent)
    msgs, raw = _read(r)
    assert [m[0] for m in msgs] == ["share", "sessions", "sessions"]   # the workload first, once
    tasks = [t for m in msgs[1:] for t, _ in m[1]]
    assert [t.n for t in tasks] == [1, 2, 3] and tasks[2].prompt == tuple(range(3, 53))
    assert all(t.workload is tasks[0].workload for t in tasks) and tasks[0].workload.seed == 7
    assert b"Workload" in raw[0] and not any(b"Workload" in data for data in raw[1:])   # a reference
