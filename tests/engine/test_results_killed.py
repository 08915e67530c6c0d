"""A harness killed with SIGKILL mid-run leaves a readable partial result with every finished
sample on disk."""
import json
import os
import signal
import subprocess
import sys
import time

from bench.results.files import read_run, read_samples


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
