"""The long open-loop soak: N requests (default 1,000,000) against the instant stub server
through `bench run`, printing the harness's RSS as it goes and, at the end, its peak RSS (the
parent and its load workers, summed; never the stub's) and the samples written.

    nice -n 5 python scripts/soak_1m.py [--requests 1000000] [--rate 2000] [--workers 2]

The target (issue 14): under 1 GB and every sample on disk.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def harness_rss_mib(proc: psutil.Process) -> float:
    """The bench process and its load workers; the stub server (a child too) is not ours."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            if "stub_server" in " ".join(p.cmdline()):
                continue
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def main() -> int:
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--requests", type=int, default=1_000_000)
    a.add_argument("--rate", type=float, default=2000.0)
    a.add_argument("--workers", default="2")
    a.add_argument("--tokens", type=int, default=2, help="output tokens (streamed chunks) per request")
    a.add_argument("--results-dir", help="keep the run here (default: a temporary folder)")
    args = a.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(args.results_dir or tmp) / "soak"
        cfg = Path(tmp) / "soak.yaml"
        cfg.write_text(json.dumps({
            "name": "soak", "model": "tiny",
            "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                         "output_tokens": {"dist": "fixed", "value": args.tokens}},
            "backend": {"name": "openai", "options": {"metrics_url": None}},
            "server": {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}",
                                   "--port", "{port}"]},
            "load": {"kind": "rate", "rate": args.rate, "requests": args.requests,
                     "workers": args.workers if args.workers == "auto" else int(args.workers)}}))
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(res),
                                 "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL)
        ps, peak, last = psutil.Process(proc.pid), 0.0, 0.0
        while proc.poll() is None:
            try:
                rss = harness_rss_mib(ps)
            except psutil.NoSuchProcess:
                break
            peak = max(peak, rss)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                runs = list(res.glob("*/samples.jsonl"))
                done = sum(1 for _ in open(runs[0], "rb")) if runs else 0
                print(f"{last - t0:6.0f} s: {done:>8d} samples, harness RSS {rss:7.1f} MiB", flush=True)
            time.sleep(1)
        (run,) = [p.parent for p in res.glob("*/run.json")]
        meta = json.loads((run / "run.json").read_text())
        lines = sum(1 for _ in open(run / "samples.jsonl", "rb"))
        print(f"status {meta['status']}, {lines} samples on disk of {args.requests} requests "
              f"(run.json n_samples {meta.get('n_samples')}, errors {meta['summary'].get('errors')}), "
              f"send lag p99 {meta['summary'].get('send_lag_ms_p99', float('nan')):.2f} ms")
        print(f"peak harness RSS {peak:.0f} MiB (parent + workers, sampled each second); "
              f"took {time.monotonic() - t0:.0f} s")
        return 0 if lines == args.requests and peak < 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
