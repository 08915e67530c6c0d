"""Load worker processes (bench.run.workers) against the real stub server, through the CLI."""
import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench.backends.hf import HFBackend
from bench.backends.openai_http import OpenAIBackend
from bench.run import workers
from bench.run.worker_choice import pick_workers
from bench.telemetry.client import merge_client

pytestmark = pytest.mark.timed   # probe durations and send lag (`make test` runs it alone)


def _config(tmp_path, load: dict, delay_ms: float = 0.0) -> str:
    cfg = tmp_path / "w.yaml"
    cfg.write_text(json.dumps({
        "name": "w", "model": "tiny",
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                     "output_tokens": {"dist": "fixed", "value": 4}},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "server": {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}",
                               "--port", "{port}", "--delay-ms", str(delay_ms)]},
        "load": load}))
    return str(cfg)


def _run_dir(res):
    (run,) = [p.parent for p in res.glob("*/run.json")]
    return run, json.loads((run / "run.json").read_text())


def _samples(run):
    return [json.loads(line) for line in open(run / "samples.jsonl")]


def test_only_multiprocess_safe_backends_get_workers():
    http = OpenAIBackend("m", {"metrics_url": None})
    assert pick_workers(4, http, None, 8) == (4, "asked for 4")
    n, why = pick_workers(4, HFBackend.__new__(HFBackend), None, 8)
    assert n == 1 and "cannot be shared" in why
    assert pick_workers("auto", http, 3500.0, None, cores=16)[0] == 4   # 1,000/s each
    assert pick_workers("auto", http, 3500.0, None, cores=2)[0] == 1    # a core for the parent
    assert pick_workers("auto", http, None, 512, cores=8)[0] == 4       # 128 streams each


def test_split_keeps_every_slot():
    assert workers._split(10, 3) == [4, 3, 3] and workers._split(None, 2) == [None, None]


def test_merge_client_takes_the_worst_loop_and_sums_cpu():
    merged = merge_client([{"loop_lag_ms_p99": 2.0, "client_cpu_util": 0.5, "worker": 0},
                                   {"loop_lag_ms_p99": 7.0, "client_cpu_util": 0.25, "worker": 1}])
    assert merged == {"client_workers": 2.0, "loop_lag_ms_p99": 7.0, "client_workers_cpu_util": 0.75}


def test_two_workers_send_every_request_once(tmp_path, tiny_path):
    res = tmp_path / "res"
    out = subprocess.run([sys.executable, "-m", "bench", "run", _config(tmp_path, {
        "kind": "rate", "rate": 200, "requests": 300, "warmup": 10}), "--results-dir", str(res),
        "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "load workers: 2 (asked for 2)" in out.stderr
    run, meta = _run_dir(res)
    samples = _samples(run)
    measured = [s for s in samples if not s["warmup"]]
    assert meta["status"] == "complete" and meta["n_samples"] == len(samples) == 310
    assert sorted(s["request_id"] for s in measured) == sorted({s["request_id"] for s in measured})
    assert {s["meta"]["worker"] for s in measured} == {0, 1}
    # One schedule for both: the scheduled stamps are the Poisson offsets of one clock, 1.5 s in all
    sched = sorted(s["scheduled_ns"] for s in measured)
    assert 0.8 < (sched[-1] - sched[0]) / 1e9 < 3.0
    assert all(s["sent_ns"] >= s["scheduled_ns"] for s in measured)
    assert meta["load_workers"]["picked"] == 2 and len(meta["load_workers"]["per_worker"]) == 2
    s = meta["summary"]
    assert s["client_workers"] == 2 and s["requests"] == 300 and s["errors"] == 0


def test_a_killed_worker_ends_the_run_partial_and_keeps_its_samples(tmp_path, tiny_path):
    res = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", _config(tmp_path, {
        "kind": "concurrency", "concurrency": 4, "requests": 3000}, delay_ms=2), "--results-dir",
        str(res), "--no-progress", "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = list(res.glob("*/samples.jsonl")) if res.exists() else []
            if runs and sum(1 for _ in open(runs[0])) >= 100:
                break
            time.sleep(0.1)
        kids = [p for p in psutil.Process(proc.pid).children()
                if "spawn_main" in " ".join(p.cmdline())]
        assert len(kids) == 2, [p.cmdline() for p in kids]
        victim = kids[0]
        victim.send_signal(signal.SIGKILL)
        stderr = proc.communicate(timeout=240)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    run, meta = _run_dir(res)
    assert meta["status"] == "partial" and f"(pid {victim.pid}) died" in meta["error"]
    samples = _samples(run)
    assert meta["n_samples"] == len(samples) < 3000
    by_worker = {w: [s for s in samples if s["meta"]["worker"] == w] for w in (0, 1)}
    dead = next(w for w in (0, 1) if f"worker {w} (pid {victim.pid})" in meta["error"])
    # What the killed worker finished is on disk, whole; the other worker went on to the end.
    assert len(by_worker[dead]) >= 20 and all(s["error"] is None and len(s["token_ns"]) == 4
                                               for s in by_worker[dead])
    assert len(by_worker[1 - dead]) > len(by_worker[dead])


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "true", "many"])
def test_bad_workers_is_a_one_line_config_error(tmp_path, value):
    from bench import config
    from bench.errors import UserError
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny\nbackend: {name: openai}\nworkload: {file: chat, scale: 0.05}\n"
                    f"load: {{kind: rate, rate: 5, requests: 4, workers: {value}}}\n")
    with pytest.raises(UserError) as err:
        config.load(path)
    assert str(err.value) == f'{path}: load.workers: load.workers must be an integer >= 1 or "auto"'


def test_workers_flag_overrides_and_rejects_bad_values():
    from bench.cli import parser
    assert parser("run").parse_args(["run", "c.yaml", "--workers", "auto"]).workers == "auto"
    assert parser("run").parse_args(["run", "c.yaml", "--workers", "3"]).workers == 3
    with pytest.raises(SystemExit) as exit_:
        parser("run").parse_args(["run", "c.yaml", "--workers", "0"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("over, low, high", [("rate", 40, 80), ("concurrency", 4, 8)])
def test_a_capacity_search_with_workers_stops_each_probe_early(tmp_path, tiny_path, over, low, high):
    """The stub meets a 2 s TTFT bound by far: each probe's verdict is clear at its look at
    min_duration_s (2 s: enough units to show the SLO met), and the stop must reach the workers,
    not wait for max_duration_s (20 s). Over concurrency the workers hold a backlog the parent
    no longer feeds from. Every probe meets, so the search widens above `high` until its time
    cap, then confirms."""
    res = tmp_path / "res"
    cfg = _config(tmp_path, {"kind": "capacity", "warmup": 2, "search": {
        "over": over, "low": low, "high": high, "growth": 2, "min_duration_s": 2, "min_units": 10,
        "max_duration_s": 20, "time_cap_s": 18, "confirm_s": 3}}, delay_ms=1)
    doc = json.loads(open(cfg).read()) | {"slo": {"ttft_ms": 2000, "percentile": 90}}
    open(cfg, "w").write(json.dumps(doc))
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "bench", "run", cfg, "--results-dir", str(res),
                          "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t
    assert out.returncode == 0, out.stderr
    (cap,) = [json.loads(p.read_text()) for p in res.glob("*.capacity.json")]
    search = [p for p in cap["probes"] if p["role"] == "search"]
    assert cap["stopped"] == "time_cap" and [p["load"] for p in search][:2] == [low, high]
    # every probe meets until the time cap, or the client of 2 cores itself falls behind far above
    # `high`: the last good load is at or above `high`, and a confirmation ran there. Whether it
    # held depends on this machine's client (thousands of requests a second against the stub can
    # fall short of 95% served, or be cut by the cap): the file must say which
    confirms = [p for p in cap["probes"] if p["role"] == "confirm"]
    assert cap["bracket_low"] >= high and confirms and confirms[0]["load"] == cap["bracket_low"], cap
    assert cap["confirmed"] == any(p["slo_met"] for p in confirms), confirms
    durations = []
    for p in search[:2]:
        meta = json.loads((res / p["run_id"] / "run.json").read_text())
        assert p["stop"] == "met" and p["slo_met"], p
        assert meta["status"] == "complete" and meta["error"] is None
        assert meta["capacity_probe"]["stop"] == p["stop"] and meta["load_workers"]["picked"] == 2
        durations.append(round(meta["summary"]["duration_s"], 2))
        assert durations[-1] < 8, (p, durations)   # max_duration_s is 20
        assert {s["meta"]["worker"] for s in _samples(res / p["run_id"]) if not s["warmup"]} == {0, 1}
    print(f"{over}: wall {wall:.1f} s, probe durations {durations} s")   # shown with -s


def test_agent_tasks_live_whole_in_one_worker_and_share_their_workload(tmp_path, tiny_path):
    """Agent sessions point at their workload: it crosses each pipe once (worker_process._Pickler),
    and every call of a task runs in the worker that holds the task."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text(json.dumps({
        "name": "a", "model": "tiny",
        "workload": {"file": "agentic", "scale": 0.02, "tool_latency_factor": 0},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "server": {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}",
                               "--port", "{port}"]},
        "load": {"kind": "concurrency", "concurrency": 4, "requests": 6}}))
    res = tmp_path / "res"
    out = subprocess.run([sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(res),
                          "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    run, meta = _run_dir(res)
    assert meta["status"] == "complete"
    assert meta["summary"]["tasks_completed"] == 6 and meta["summary"]["errors"] == 0
    where: dict[str, set] = {}
    for s in _samples(run):
        where.setdefault(s["meta"]["agent"].split(".")[0], set()).add(s["meta"]["worker"])
    assert len(where) == 6 and all(len(w) == 1 for w in where.values())
    assert set().union(*where.values()) == {0, 1}


def test_a_worker_that_dies_starting_is_named_not_an_eoferror(tmp_path):
    # A script that starts a pool without `if __name__ == "__main__"`: each spawned worker
    # re-runs it and dies on import, before saying it is ready.
    script = tmp_path / "no_main_guard.py"
    script.write_text(
        "import asyncio\n"
        "from bench.backends.openai_http import OpenAIBackend\n"
        "from bench.run.workers import WorkerPool\n"
        "b = OpenAIBackend('m', {'base_url': 'http://127.0.0.1:9/v1', 'metrics_url': None})\n"
        "WorkerPool(b, lambda s: None, 2)._start()\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode != 0 and last.startswith("RuntimeError: load worker 0 did not start (exit code 1"), res.stderr
