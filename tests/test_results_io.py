"""Results on disk: run.json replaced atomically, run folders never overwritten, and a harness
killed with SIGKILL mid-run leaves a readable partial result with every finished sample."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.results.files import RunWriter, atomic_write_json, read_run, read_samples
from bench.types import Sample


def sample(i: int) -> Sample:
    return Sample(request_id=f"r{i}", task_id=None, scheduled_ns=0, sent_ns=1, token_ns=(2, 3),
                  chunk_ns=(2, 3), prompt_tokens=4, cached_prompt_tokens=None, output_tokens=2)


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "run.json"
    atomic_write_json(path, {"status": "partial"})

    class Boom:
        def __str__(self):
            raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError):
        atomic_write_json(path, {"status": "complete", "bad": Boom()})
    assert json.loads(path.read_text()) == {"status": "partial"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_existing_run_is_never_overwritten(tmp_path):
    w = RunWriter(tmp_path, "run-1", {"name": "a"})
    w.add(sample(0))
    w.finish("complete")
    before = {p.name: p.read_bytes() for p in w.dir.iterdir()}
    with pytest.raises(FileExistsError):
        RunWriter(tmp_path, "run-1", {"name": "b"})
    assert {p.name: p.read_bytes() for p in w.dir.iterdir()} == before


def test_samples_reach_disk_as_they_finish_and_status_starts_partial(tmp_path):
    w = RunWriter(tmp_path, "run-2", {"name": "a"})
    for i in range(3):
        w.add(sample(i))
    # read back before finish(): what a crash at this moment would leave
    assert read_run(w.dir)["status"] == "partial"
    assert [s.request_id for s in read_samples(w.dir)] == ["r0", "r1", "r2"]
    with open(w.dir / "samples.jsonl", "a") as f:
        f.write('{"request_id": "r3", "task_')            # a write cut by the crash
    assert len(list(read_samples(w.dir))) == 3
    w.finish("complete")


@pytest.mark.engine
def test_harness_killed_mid_run_leaves_partial_results(tmp_path, tiny_path):
    cfg = tmp_path / "long.yaml"
    cfg.write_text(json.dumps({
        "name": "long", "model": "tiny",
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                     "output_tokens": {"dist": "fixed", "value": 4}},
        "backend": {"name": "openai", "options": {"metrics_url": None}},
        "server": {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}", "--port", "{port}",
                               "--delay-ms", "2", "--pid-file", str(tmp_path / "stub.pid")]},
        "load": {"kind": "concurrency", "concurrency": 2, "requests": 100000}}))
    res = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(res),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = list(res.glob("*/samples.jsonl")) if res.exists() else []
            if runs and sum(1 for _ in open(runs[0])) >= 30:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        pid_file = tmp_path / "stub.pid"      # the managed server outlives a SIGKILLed harness
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    (run_dir,) = res.iterdir()
    meta = read_run(run_dir)
    assert meta["status"] == "partial" and "summary" not in meta
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    samples = list(read_samples(run_dir))
    assert len(samples) >= 30 and len(lines) - len(samples) <= 1      # at most the cut last line
    assert all(s.ok and s.output_tokens == 4 for s in samples)

