"""Load workers as Ray actors (bench.run.ray_pool) on a real local Ray cluster of two nodes (Ray's
own multi-node test cluster: a head and one more node, one CPU each, so two one-CPU actors land
on different nodes), against the real stub server, through the CLI in this process.

The cluster starts once for the module (about 13 s here); the runs are short. One test runs
`bench run` as a subprocess with no cluster given: its own local Ray must leave nothing behind."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import pytest

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed")

from bench import cli  # noqa: E402
from bench.telemetry.client import MAX_SEND_LAG_P99_MS  # noqa: E402

pytestmark = pytest.mark.timed   # send lag and a suite's wall time (`make test` runs it alone)


@pytest.fixture(scope="module")
def cluster():
    from bench.run.ray_pool import local_cluster
    c = local_cluster(nodes=2, cpus=1)
    yield c
    ray.shutdown()
    c.shutdown()


def _config(tmp_path, name: str, load: dict, delay_ms: float = 0.0) -> str:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(json.dumps({
        "name": name, "model": "tiny", "seed": 3,
        "workload": {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 4, "high": 24},
                     "output_tokens": {"dist": "fixed", "value": 4}},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "server": {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}",
                               "--port", "{port}", "--delay-ms", str(delay_ms)]},
        "load": load}))
    return str(cfg)


def _run(res):
    (run,) = [p.parent for p in res.glob("*/run.json")]
    meta = json.loads((run / "run.json").read_text())
    return meta, [json.loads(line) for line in open(run / "samples.jsonl")]


RAY = {"executor": "ray", "ray": {"strategy": "STRICT_SPREAD"}}


def test_local_workers_and_ray_actors_on_two_nodes_send_the_same_requests_on_the_same_schedule(cluster, tmp_path):
    load = {"kind": "rate", "rate": 100, "requests": 150, "warmup": 4, "workers": 2}
    runs = {}
    for name, extra in (("local", {}), ("ray", RAY)):
        res = tmp_path / name
        assert cli.main(["run", _config(tmp_path, name, load | extra), "--results-dir", str(res),
                         "--no-progress"]) == 0
        runs[name] = _run(res)
    (local_meta, local), (ray_meta, remote) = runs["local"], runs["ray"]
    assert ray_meta["status"] == "complete" and ray_meta["load_workers"]["executor"] == "ray"
    for samples in (local, remote):   # every request once, none lost
        measured = [s for s in samples if not s["warmup"]]
        assert len(measured) == 150 and len({s["request_id"] for s in measured}) == 150
        assert all(s["error"] is None for s in samples)
    by_id = {name: {s["request_id"]: s for s in samples if not s["warmup"]} for name, (_, samples) in runs.items()}
    assert by_id["local"].keys() == by_id["ray"].keys()
    # the same requests: the same prompts and lengths
    assert all(by_id["local"][r]["prompt_tokens"] == s["prompt_tokens"] and s["output_tokens"] == 4
               for r, s in by_id["ray"].items())
    # two actors on two nodes, each request recorded with its node and actor
    nodes = {(s["meta"]["node"], s["meta"]["worker"]) for s in remote}
    assert len(nodes) == 2 and len({n for n, _ in nodes}) == 2, nodes
    per_actor = ray_meta["load_workers"]["per_worker"]
    assert sorted(w["worker"] for w in per_actor) == [0, 1] and len({w["node"] for w in per_actor}) == 2
    assert all("send_lag_ms_p99" in w and "client_cpu_util" in w and abs(w["clock_shift_ms"]) < 1 for w in per_actor)

    def offsets(samples, key):   # from the first scheduled send: the schedule, on one clock
        t0 = min(s["scheduled_ns"] for s in samples.values())
        return {r: (s[key] - t0) / 1e6 for r, s in samples.items()}

    sched = {name: offsets(by_id[name], "scheduled_ns") for name in by_id}
    sent = {name: offsets(by_id[name], "sent_ns") for name in by_id}
    # The schedule is the same one (same seed): each request planned at the same offset, the
    # actors' clock shifts (about a microsecond here) being the only difference.
    assert max(abs(sched["local"][r] - sched["ray"][r]) for r in sched["local"]) < MAX_SEND_LAG_P99_MS
    # Sent at the same offsets too, within the client's lag goal for most requests, whenever both
    # runs' own audits say their clients kept to the schedule (median send lag under half the
    # goal). This machine's 2 cores are shared with other jobs: when either run says it fell
    # behind, its send offsets say nothing about Ray, and only the planned offsets are judged.
    diffs = sorted(abs(sent["local"][r] - sent["ray"][r]) for r in sent["local"])
    lag_p50 = max(m["summary"]["send_lag_ms_p50"] for m in (local_meta, ray_meta))
    if lag_p50 < MAX_SEND_LAG_P99_MS / 2:
        assert diffs[len(diffs) // 2] < MAX_SEND_LAG_P99_MS, diffs[-10:]
    else:
        print(f"send offsets not compared: a run's own median send lag was {lag_p50:.2f} ms (machine busy)")
    print(f"send offset |local - ray| ms: p50 {diffs[len(diffs) // 2]:.3f}, p90 {diffs[int(len(diffs) * .9)]:.3f}, "
          f"max {diffs[-1]:.3f}; send lag p99 local {local_meta['summary']['send_lag_ms_p99']:.2f}, "
          f"ray {ray_meta['summary']['send_lag_ms_p99']:.2f}")


def _actor_processes() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "LoadActor" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_a_killed_actor_ends_the_run_partial_with_its_finished_samples_on_disk(cluster, tmp_path):
    res = tmp_path / "res"
    cfg = _config(tmp_path, "kill", {"kind": "concurrency", "concurrency": 4, "requests": 1000, "workers": 2} | RAY,
                  delay_ms=2)
    killed: list[psutil.Process] = []

    def killer() -> None:   # once 100 samples are on disk, SIGKILL one actor's process
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            files = list(res.glob("*/samples.jsonl")) if res.exists() else []
            if files and sum(1 for _ in open(files[0])) >= 100:
                actors = _actor_processes()
                if len(actors) == 2:
                    actors[0].send_signal(signal.SIGKILL)
                    killed.append(actors[0])
                return
            time.sleep(0.05)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    rc = cli.main(["run", cfg, "--results-dir", str(res), "--no-progress"])
    thread.join(5)
    assert killed, "no actor process was found to kill"
    assert rc == 1
    meta, samples = _run(res)
    assert meta["status"] == "partial" and meta["n_samples"] == len(samples) < 1000
    dead = [w for w in meta["load_workers"]["per_worker"] if "died" in w]
    assert len(dead) == 1 and f"(pid {killed[0].pid}) died" in dead[0]["died"], meta["load_workers"]
    k = dead[0]["worker"]
    assert f"load actor {k} on node {dead[0]['node']}" in meta["error"] and " lost)" in meta["error"]
    assert len({s["request_id"] for s in samples}) == len(samples)   # nothing twice
    mine = [s for s in samples if s["meta"]["worker"] == k]
    # What the killed actor reported finished is on disk, whole; it lost only what it still held
    # (sent but not reported finished: in flight, queued, or finished in its last moment).
    assert len(mine) >= 20 and all(s["error"] is None and len(s["token_ns"]) == 4 for s in mine)
    assert 0 <= dead[0]["lost_sessions"] <= 6   # its 2 slots and their backlog of 2 each
    assert f"after {len(mine)} of the {len(mine) + dead[0]['lost_sessions']} sessions" in meta["error"]
    others = [s for s in samples if s["meta"]["worker"] != k]
    assert len(others) > len(mine)   # the other actor went on to the end


def _import_runner() -> str:
    import time as clock

    import bench.run.runner  # noqa: F401
    clock.sleep(0.5)   # held long enough that the two tasks land on two nodes
    return ray.get_runtime_context().get_node_id()


def test_a_suite_spread_over_two_nodes_takes_less_wall_time_than_serially(cluster, tmp_path):
    """Four short runs, each with its own stub server (so its own engine: four shares), on the
    two one-CPU nodes two at a time, against the same suite run one after another here. This
    process has bench imported already; so do the nodes' Ray workers before the clock starts (a
    task that imports the runner on each node): what is compared is running, not importing (a
    cold worker's imports took about 7 s on these 2 busy cores)."""
    cfg = tmp_path / "suite.yaml"
    runs = [{"label": f"d{d}", "server": {"stop_timeout_s": 2, "command": [
        "{python}", "-m", "bench.selftest.stub_server", "--host", "{host}", "--port", "{port}", "--delay-ms", str(d)]}}
        for d in (0, 0.1, 0.2, 0.3)]
    cfg.write_text(json.dumps({
        "name": "suite", "model": "tiny",
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                     "output_tokens": {"dist": "fixed", "value": 4}},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "load": {"kind": "rate", "rate": 5, "duration_s": 2}, "runs": runs}))
    warm = ray.remote(num_cpus=1)(_import_runner)
    assert len(set(ray.get([warm.remote() for _ in range(2)]))) == 2   # one per node, both warm
    walls, metas = {}, {}
    for how, flags in (("serial", []), ("ray", ["--ray"])):
        res = tmp_path / how
        t = time.monotonic()
        assert cli.main(["run", str(cfg), "--results-dir", str(res), "--no-progress", *flags]) == 0
        walls[how] = time.monotonic() - t
        metas[how] = sorted((json.loads(p.read_text()) for p in res.glob("*/run.json")), key=lambda m: m["label"])
    print(f"suite of 4 runs: serial {walls['serial']:.1f} s, over 2 Ray nodes {walls['ray']:.1f} s")
    assert walls["ray"] < walls["serial"], walls
    serial, remote = metas["serial"], metas["ray"]
    # the same runs, complete, with results of the same kind
    assert [m["label"] for m in remote] == [m["label"] for m in serial] == ["d0", "d0.1", "d0.2", "d0.3"]
    assert all(m["status"] == "complete" and m["summary"]["errors"] == 0 for m in serial + remote)
    assert all(set(r["summary"]) == set(s["summary"]) for r, s in zip(remote, serial))
    assert len({m["suite"] for m in remote}) == 1   # one suite, spread over nodes
    assert all(abs(r["summary"]["requests"] - s["summary"]["requests"]) <= 5 for r, s in zip(remote, serial))


def test_an_experiment_over_ray_keeps_its_arms_interleaved_on_one_node(cluster, tmp_path, capsys):
    """Two arms (two engines: their backend options differ), two rounds: one share, so one node
    runs base, slow, base, slow in that order, and the experiment's file is written as without Ray."""
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(json.dumps({
        "name": "exp", "model": "tiny", "seed": 0, "repetitions": 2,
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                     "output_tokens": {"dist": "fixed", "value": 4}},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "server": {"stop_timeout_s": 2, "command": ["{python}", "-m", "bench.selftest.stub_server", "--host",
                                                    "{host}", "--port", "{port}"]},
        "load": {"kind": "concurrency", "concurrency": 2, "requests": 20},
        "treatments": [{"name": "slow", "options": {"read_timeout_s": 60}}]}))
    res = tmp_path / "res"
    assert cli.main(["run", str(cfg), "--ray", "--results-dir", str(res), "--no-progress"]) == 0
    assert "4 runs in 1 shares" in capsys.readouterr().err
    metas = sorted((json.loads(p.read_text()) for p in res.glob("*/run.json")), key=lambda m: m["started_at"])
    assert [m["label"] for m in metas] == ["treatment=baseline", "treatment=slow", "treatment=baseline,rep=1",
                                           "treatment=slow,rep=1"]
    assert all(m["status"] == "complete" for m in metas) and len({m["suite"] for m in metas}) == 1
    assert len(list(res.glob("*.experiment.json"))) == 1


# A run started as a user's terminal starts it, with SIGINT raising KeyboardInterrupt whatever
# this process was given (tests/engine/test_interrupt.py says why).
BENCH_WITH_CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "sys.argv[0] = 'bench'; runpy.run_module('bench', run_name='__main__', alter_sys=True)")


class _Bench:
    """`bench run` in a subprocess; every process it starts (its Ray's included) is noted while
    it runs, by pid and start time, so that what it leaves behind can be told from other
    sessions' processes on this shared machine."""

    def __init__(self, args: list[str], env: dict[str, str], stderr_path):
        self.stderr_path = stderr_path   # a file, not a pipe nobody reads while it runs (Ray's actors log to it)
        with open(stderr_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", BENCH_WITH_CTRL_C, "run", *args, "--no-progress"],
                                         stdout=subprocess.DEVNULL, stderr=err, env=env)
        self.seen: dict[int, tuple[float, str]] = {}

    def wait(self, timeout_s: float) -> tuple[int, str]:
        """Its exit code and stderr."""
        return self.proc.wait(timeout_s), open(self.stderr_path).read()

    def end(self) -> None:
        """If a failed assertion left it running: Ctrl-C, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def note_children(self) -> None:
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return
        for p in kids:
            try:
                self.seen.setdefault(p.pid, (p.create_time(), f"{p.name()}: {' '.join(p.cmdline())[-100:]}"))
            except psutil.Error:
                pass

    def wait_for(self, cond, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond() and self.proc.poll() is None:
            assert time.monotonic() < deadline, "timed out"
            self.note_children()
            time.sleep(0.1)

    def left_behind(self, grace_s: float = 10) -> list[str]:
        """The processes it started that are still running (a zombie has ended: it only waits
        to be reaped, and orphans here are reparented to a pid 1 that may never reap them)."""
        deadline = time.monotonic() + grace_s
        while True:
            left = []
            for pid, (created, cmd) in self.seen.items():
                try:
                    p = psutil.Process(pid)
                    if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                        left.append(f"{pid} {cmd}")
                except psutil.Error:
                    pass
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)


def _lines(res) -> int:
    files = list(res.glob("*/samples.jsonl")) if res.exists() else []
    return sum(1 for _ in open(files[0])) if files else 0


def test_ctrl_c_collects_what_the_actors_on_two_nodes_finished_and_ends_the_run_partial(cluster, tmp_path):
    """Ctrl-C (a real SIGINT to this process, as a terminal sends it: asyncio cancels the run)
    once samples are on disk: the actors stop starting sessions, their in-flight requests finish
    and reach disk within the grace period, and the run ends `partial` with each actor's
    finished and lost counts. In this process, on the module's cluster: a subprocess would pay
    for its imports and its connection to Ray again."""
    res = tmp_path / "res"
    cfg = _config(tmp_path, "ctrl-c", {"kind": "concurrency", "concurrency": 8, "requests": 100_000,
                                       "workers": 2} | RAY, delay_ms=40)
    sent: list[int] = []

    def ctrl_c() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _lines(res) < 40:
            time.sleep(0.05)
        sent.append(_lines(res))
        os.kill(os.getpid(), signal.SIGINT)
    # asyncio.run turns SIGINT into cancelling the run only where SIGINT raises KeyboardInterrupt
    # (a background shell job starts with it ignored: tests/engine/test_interrupt.py)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=ctrl_c, daemon=True)
    try:
        thread.start()
        rc = cli.main(["run", cfg, "--results-dir", str(res), "--no-progress"])
    finally:
        thread.join(5)
        signal.signal(signal.SIGINT, before)
    assert rc == 130 and sent
    meta, samples = _run(res)
    assert meta["status"] == "partial" and meta["error"] == "interrupted"
    assert meta["n_samples"] == len(samples) == len({s["request_id"] for s in samples}) >= sent[0] >= 40
    assert all(s["error"] is None and len(s["token_ns"]) == 4 for s in samples)   # whole, none cut
    workers = meta["load_workers"]["per_worker"]
    assert sorted(w["worker"] for w in workers) == [0, 1] and len({w["node"] for w in workers}) == 2, workers
    for w in workers:
        # each actor reported done within the grace period: every session it finished is on disk
        # (one request each), none in flight was lost; what it held queued never started
        mine = sum(1 for s in samples if s["meta"]["worker"] == w["worker"])
        assert "interrupted" not in w and w["lost_sessions"] == 0, w
        assert w["finished_sessions"] == mine > 0 and w["unstarted_sessions"] >= 0, (w, mine)


def test_a_run_that_starts_its_own_local_ray_leaves_no_ray_process_behind_after_ctrl_c(tmp_path):
    """`bench run` in a subprocess with no RAY_ADDRESS, and a Ray temp folder of its own (else it
    would join this module's cluster, which Ray records as the host's current one): it starts a
    local Ray; Ctrl-C'd mid-run (the exit path with the most to undo: the normal and the failed
    ones end through the same `finally`), it keeps what it measured, and once it has exited none
    of the processes it started (raylet, GCS, agents, workers) is running."""
    ray_tmp = tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp")   # short: Ray's socket paths live under it
    try:
        res = tmp_path / "res"
        cfg = _config(tmp_path, "own", {"kind": "concurrency", "concurrency": 4, "requests": 100_000, "workers": 2,
                                        "executor": "ray"}, delay_ms=20)
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": ray_tmp}
        bench = _Bench([cfg, "--results-dir", str(res)], env, tmp_path / "stderr.txt")
        try:
            bench.wait_for(lambda: _lines(res) >= 20, timeout_s=180)   # noting its processes as they start
            bench.proc.send_signal(signal.SIGINT)
            rc, err = bench.wait(60)
        finally:
            bench.end()
        assert rc == 130, err
        assert "Traceback" not in err and "partial results were kept" in err, err
        meta, samples = _run(res)
        assert meta["status"] == "partial" and meta["n_samples"] == len(samples) >= 20
        assert all(w["lost_sessions"] == 0 for w in meta["load_workers"]["per_worker"])
        assert any(cmd.startswith("raylet") for _, cmd in bench.seen.values()), bench.seen   # it did start its own
        assert bench.left_behind() == []
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
