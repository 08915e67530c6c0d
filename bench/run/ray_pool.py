"""Load workers as Ray actors across a cluster's nodes (`load.executor: ray`): the WorkerPool's
split of sessions and schedule, over N actors instead of N local processes.

Each actor runs today's worker loop (bench.run.worker_process.worker_main) in a thread of its
own, with the pipe replaced by two in-memory queues: sessions come in by `put` calls (numbered,
since a threaded actor may run two calls at once, out of order), samples go out through one
streaming generator call per actor, a batch per item, yielded as soon as the loop hands them
over, so they reach the one results writer in this process as they finish. An actor or node
that dies ends its stream with an error: the run keeps what had arrived, and the sessions still
held by that actor are counted as lost (bench.run.workers._Run.died). On Ctrl-C the actors stop
starting sessions and the readers go on taking their batches for a grace period (_drain), so
the requests already in flight finish and reach disk; what an actor still held after it is
counted lost (bench.run.workers._Run._interrupted_summaries).

Clocks: hosts do not share CLOCK_MONOTONIC, so the start time goes out as wall-clock ns as well;
each actor times its requests on its own clock and shifts the stamps onto this process's
(bench.run.worker_process.clock_shift_ns).

Placement: one bundle per actor in a placement group (strategy SPREAD by default: across nodes
where it can), each bundle `cpus` CPUs plus any custom resources the config names (a label that
marks client nodes, say). The cluster is the one RAY_ADDRESS names, else the one `ray start`
left on this host, else a local one that this process stops when its command ends (connect,
disconnect).

Ray is imported here only: `bench` without the `ray` extra never imports this module.
"""
from __future__ import annotations

import asyncio
import heapq
import os
import pickle
import queue
import threading
import time
from typing import Any

from bench.run.worker_process import _send as _pickle_send
from bench.run.worker_process import worker_main
from bench.run.workers import WorkerPool

# Ray's call to an actor on another node takes milliseconds; t0 leaves room for every "go".
RAY_START_MARGIN_NS = 500_000_000
READY_TIMEOUT_S = 120.0
CLOSE_WAIT_S = 5.0             # for the actors' loops to end before they are killed


def ray_module():
    """Ray, or the one-line reason it cannot be used (bench.config checks it at validation)."""
    try:
        import ray
    except ImportError:
        return None
    return ray


class _Inbox:
    """The worker's inbox: numbered messages from `put` calls, released in their order."""

    def __init__(self):
        self.cond = threading.Condition()
        self.heap: list[tuple[int, bytes | None]] = []
        self.next = 0

    def put(self, seq: int, data: bytes | None) -> None:
        with self.cond:
            heapq.heappush(self.heap, (seq, data))
            self.cond.notify()

    def recv_bytes(self) -> bytes:
        with self.cond:
            while not self.heap or self.heap[0][0] != self.next:
                self.cond.wait()
            _, data = heapq.heappop(self.heap)
            self.next += 1
        if data is None:   # the actor is closing
            raise EOFError
        return data


class _Outbox:
    """The worker's outbox: what the loop sends waits here for the stream call to take it."""

    def __init__(self):
        self.q: queue.SimpleQueue = queue.SimpleQueue()

    def send_bytes(self, data: bytes) -> None:
        self.q.put(data)

    def take(self) -> list[bytes] | None:
        """Everything waiting (at least one message): one streamed item. None: the loop ended."""
        first = self.q.get()
        if first is None:
            return None
        batch = [first]
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return batch
            if item is None:
                self.q.put(None)   # the end, after this batch
                return batch
            batch.append(item)


class LoadActor:
    """One load worker on some node (wrapped by ray.remote in RayPool._start)."""

    def __init__(self, index: int, backend_cls, model: str, options: dict[str, Any], seed: int):
        import ray
        ctx = ray.get_runtime_context()
        self.where = {"node_id": ctx.get_node_id(), "node_ip": ray.util.get_node_ip_address(), "pid": os.getpid()}
        self.inbox, self.outbox = _Inbox(), _Outbox()

        def main() -> None:
            try:
                worker_main(index, self.inbox, self.outbox, backend_cls, model, options, seed,
                            node=node_label(self.where))
            finally:
                self.outbox.q.put(None)
        self.thread = threading.Thread(target=main, name=f"bench-load-actor-{index}", daemon=True)
        self.thread.start()

    def info(self) -> dict[str, Any]:
        return self.where

    def put(self, seq: int, data: bytes | None) -> None:
        self.inbox.put(seq, data)

    def stream(self):
        """The worker's messages, a batch of pickles per item, until its loop ends."""
        while (batch := self.outbox.take()) is not None:
            yield batch


def node_label(where: dict[str, Any]) -> str:
    """How samples name their node: its address and the start of Ray's node id (several nodes
    of a test cluster share one address)."""
    return f"{where['node_ip']}/{where['node_id'][:8]}"


class RayPool(WorkerPool):
    """WorkerPool over Ray actors; `placement`: bench.load.base.RayPlacement (cpus, resources,
    strategy)."""

    start_margin_ns = RAY_START_MARGIN_NS

    def __init__(self, backend, on_sample, workers: int, placement=None):
        super().__init__(backend, on_sample, workers)
        self.placement = placement
        self.actors: list = []
        self.wheres: list[dict[str, Any]] = []
        self.seq: list[int] = []
        self.dead_actors: set[int] = set()
        self.pg = None
        self.streams: list = []
        self.readers: list[asyncio.Task] = []
        self.run_now = None

    # ---- start and stop ---------------------------------------------------------------------
    async def run(self, *args, **kwargs):
        if not self.started:   # here, on the event loop's thread, not in _start's executor thread
            connect(ray_module())
        return await super().run(*args, **kwargs)

    def _start(self) -> None:
        ray = ray_module()
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        cpus = getattr(self.placement, "cpus", 1.0)
        extra = dict(getattr(self.placement, "resources", {}) or {})
        strategy = getattr(self.placement, "strategy", "SPREAD")
        self.pg = placement_group([{"CPU": cpus, **extra}] * self.n, strategy=strategy)
        if not self._wait(self.pg.ready(), READY_TIMEOUT_S):
            raise RuntimeError(f"Ray could not place {self.n} load actors of {cpus} CPU "
                               f"{extra or ''} ({strategy}): the cluster has {ray.cluster_resources()}")
        actor_cls = ray.remote(max_concurrency=4)(LoadActor)
        b = self.backend
        self.actors = [actor_cls.options(
            num_cpus=cpus, resources=extra or None, name=None,
            scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=self.pg,
                                                                 placement_group_bundle_index=k),
        ).remote(k, type(b), b.model, b.options.model_dump(), b.seed) for k in range(self.n)]
        self.seq = [0] * self.n
        self.sent_shared = [set() for _ in range(self.n)]
        self.dead_actors = set()
        self.streams = [a.stream.options(num_returns="streaming").remote() for a in self.actors]
        try:
            self.wheres = ray.get([a.info.remote() for a in self.actors], timeout=READY_TIMEOUT_S)
        except Exception as exc:
            raise RuntimeError(f"Ray load actors did not start: {exc}") from None
        # The first message each worker sends is ("ready", k) once its backend started.
        for k, stream in enumerate(self.streams):
            try:
                first = ray.get(next(stream), timeout=READY_TIMEOUT_S)
            except Exception as exc:
                raise RuntimeError(f"load actor {k} on {node_label(self.wheres[k])} did not start: {exc}") from None
            if pickle.loads(first[0])[0] != "ready":
                raise RuntimeError(f"load actor {k}: unexpected first message")

    @staticmethod
    def _wait(ref, timeout_s: float) -> bool:
        import ray
        ready, _ = ray.wait([ref], timeout=timeout_s)
        return bool(ready)

    async def close(self) -> None:
        ray = ray_module()
        for k in range(len(self.actors)):
            if k not in self.dead_actors:
                try:
                    self._send(k, ("quit",))
                except OSError:
                    pass
        if self.readers:   # each stream ends once its loop has stopped its backend
            await asyncio.wait(self.readers, timeout=CLOSE_WAIT_S)
        for task in self.readers:
            task.cancel()
        self.readers = []
        for a in self.actors:
            ray.kill(a)
        if self.pg is not None:
            ray.util.remove_placement_group(self.pg)
        self.actors, self.streams, self.pg = [], [], None
        self.started = False

    # ---- the transport ----------------------------------------------------------------------
    def _alive(self) -> list[int]:
        return [k for k in range(len(self.actors)) if k not in self.dead_actors]

    def _where(self, k: int) -> dict:
        return {"node": node_label(self.wheres[k]), "node_ip": self.wheres[k]["node_ip"],
                "pid": self.wheres[k]["pid"]}

    def _send(self, k: int, message, share: bool = False) -> None:
        if k in self.dead_actors:
            raise OSError(f"load actor {k} is gone")
        _pickle_send(_ActorConn(self, k), message, self.sent_shared[k] if share else None)

    def _put(self, k: int, data: bytes | None) -> None:
        self.actors[k].put.remote(self.seq[k], data)   # not awaited: numbered, the actor orders them
        self.seq[k] += 1

    def _listen(self, run) -> None:
        self.run_now = run
        if not self.readers:   # one reader per actor for the pool's life; it hands to the run of the moment
            self.readers = [asyncio.create_task(self._read(k)) for k in range(len(self.actors))]

    def _unlisten(self, run) -> None:
        self.run_now = None

    async def _read(self, k: int) -> None:
        stream = self.streams[k]
        try:
            async for ref in stream:
                for data in await ref:
                    run = self.run_now
                    if run is not None:
                        run._handle(k, pickle.loads(data))
                if self.run_now is not None:
                    self.run_now.wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # the actor or its node died
            self.dead_actors.add(k)
            run = self.run_now
            if run is not None and k not in run.done:
                reason = type(exc).__name__
                run.died(k, f"load actor {k} on node {node_label(self.wheres[k])} (pid {self.wheres[k]['pid']}) "
                            f"died ({reason})")
        else:
            self.dead_actors.add(k)   # its loop ended (closing)

    async def _drain(self, run, seconds: float) -> None:
        """Ctrl-C (the run's task cancelled; the event loop still runs): the readers go on handing
        each actor's batches to the run, its samples to disk, until every actor has reported done
        (it stopped starting sessions and its in-flight requests finished) or `seconds` pass."""
        end = time.monotonic() + seconds
        while run.open() and (left := end - time.monotonic()) > 0:
            run.wake.clear()
            woken = asyncio.ensure_future(run.wake.wait())
            await asyncio.wait([woken], timeout=left)   # not wait_for: this task is being cancelled
            woken.cancel()


class _ActorConn:
    """What worker_process._send writes to: a pipe's send_bytes, as numbered actor calls."""

    def __init__(self, pool: RayPool, k: int):
        self.pool, self.k = pool, k

    def send_bytes(self, data: bytes) -> None:
        self.pool._put(self.k, data)


_connected = False   # connect() called ray.init: disconnect() calls ray.shutdown


def connect(ray) -> None:
    """Join the cluster RAY_ADDRESS names, else the one `ray start` last started on this host
    (recorded under Ray's temp folder), else start a local one for this process: Ray's own
    order (ray.init without an address). Not `address="auto"`: that joins any GCS process it
    finds on the host, another process's private local Ray included, which goes when that
    process exits.

    Call it on a thread that lives as long as the process (the main thread): a local Ray's
    processes are tied to the thread that started them (Linux PR_SET_PDEATHSIG) and were
    killed when it ended (an executor thread, here), which left its agents orphaned and this
    process's Ray calls hanging for 60 s at exit. disconnect() stops them."""
    global _connected
    if ray.is_initialized():
        return
    ray.init(include_dashboard=False, configure_logging=False)   # the dashboard applies to a new one only
    _connected = True


def disconnect() -> None:
    """Undo connect() at the end of a command: ray.shutdown() stops the local Ray this process
    started (raylet, GCS, its agents, the actors) or leaves a cluster it joined. A connection
    this module did not make (a test's cluster) is left alone. No Ray import when none was made."""
    global _connected
    if _connected:
        _connected = False
        ray_module().shutdown()


# Ray's own multi-node test cluster, for tests and scripts on one machine: small object stores
# (Ray's default reserves 30% of RAM per node; these runs pass kilobytes).
LOCAL_STORE_BYTES = 100 * 2**20


def local_cluster(nodes: int = 2, cpus: float = 1):
    """A head and nodes - 1 more nodes on this machine, `cpus` each, joined by this process.
    The caller shuts it: ray.shutdown(), then the returned cluster's shutdown()."""
    ray = ray_module()
    from ray.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False,
                                                      "object_store_memory": LOCAL_STORE_BYTES})
    for _ in range(nodes - 1):
        c.add_node(num_cpus=cpus, object_store_memory=LOCAL_STORE_BYTES)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    return c
