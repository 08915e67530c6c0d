"""In-process vLLM: do late sends come from the engine's output handling on the driver's event
loop, or only from busy cores? (issue 14, item 4)

One open-loop schedule (Poisson, seeded, or the Mooncake trace's own times) is sent the same way
to two arms, both started once and kept up, run in rotated order for each repetition so that
the machine's background load falls on both alike:

- `in process`: the `vllm` backend: AsyncLLM's output handler (pull each step's outputs from the
  engine core process, detokenize, route them to the request streams) is a task on the
  driver's own event loop;
- `server`: the same engine settings behind a managed vLLM OpenAI server, driven by the `openai`
  backend: the output handler runs in another process and the client's loop does HTTP only.

Both run the same engine on the same cores. If `in process` is later than `server`, sharing the
loop is the cause; what both show alike is the busy cores' share. (Commit 7124f15 had a third
arm, AsyncLLM on a loop of its own thread; it was no better, the GIL being shared, and was
dropped: docs/load-generator.md, "In-process engines".)

    python scripts/inprocess_send_lag.py [--rates 2 8 16] [--seconds 15] [--repeats 3]
    python scripts/inprocess_send_lag.py --rates 0 [--mooncake 150 --scale 0.05 --time-scale 0.5]

Prints, per arm and rate, the median over repetitions of send lag p50/p99 (sent - scheduled),
the client's event-loop lag p99, TTFT p50 and TTFT-from-scheduled p99, with every repetition's
send lag p99 beside it. Each run's folder is kept under --results-dir.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def arms(max_num_seqs: int) -> dict[str, dict]:
    """Each arm's config: the same engine settings in process and behind the managed server."""
    engine = {"dtype": "bfloat16", "max_model_len": 4096, "max_num_seqs": max_num_seqs,
              "enable_prefix_caching": True, "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}
    server_args = ["--dtype", "bfloat16", "--max-model-len", "4096", "--max-num-seqs", str(max_num_seqs),
                   "--enable-prefix-caching"]
    return {"in process": {"backend": {"name": "vllm", "options": engine}},
            "server": {"backend": {"name": "openai", "options": {}},
                       "server": {"args": server_args, "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}}}


ARMS = list(arms(8))
KEYS = ("send_lag_ms_p50", "send_lag_ms_p99", "loop_lag_ms_p99", "ttft_ms_p50", "ttft_from_scheduled_ms_p99")


def spec_for(arm: str, rate: float, a):
    """`rate` 0: the Mooncake trace's own arrival times (--mooncake rows, --time-scale)."""
    from bench import config

    if rate:
        workload = {"kind": "chat", "input_tokens": {"dist": "fixed", "value": a.input_tokens},
                    "output_tokens": {"dist": "fixed", "value": a.output_tokens}}
        load = {"kind": "rate", "rate": rate, "requests": max(10, int(rate * a.seconds)), "warmup": 2}
    else:   # trace-timed: each session is sent at its row's timestamp x time_scale
        workload = {"file": "mooncake", "scale": a.scale, "count": a.mooncake, "time_scale": a.time_scale,
                    "context_limit_tokens": 4096}
        load = {"kind": "offline", "requests": a.mooncake, "warmup": 2}
    doc = {"name": "send-lag", "label": f"{arm.replace(' ', '-')},rate={rate:g}", "model": "tiny", "seed": 0,
           "workload": workload, "load": load, **arms(a.max_num_seqs)[arm]}
    (spec,) = config.load_doc(doc, "inprocess_send_lag.py")
    return spec


async def run(a) -> dict[tuple[str, float], list[dict[str, float]]]:
    from bench.run import engines
    from bench.run.progress import Progress
    from bench.run.run_one import run_one

    got: dict[tuple[str, float], list[dict[str, float]]] = {}
    live = {}
    try:
        arms = a.arms
        for arm in arms:
            live[arm] = await engines.start(spec_for(arm, a.rates[0], a))
        for rep in range(a.repeats):
            for rate in a.rates:
                order = arms[rep % len(arms):] + arms[:rep % len(arms)]
                for arm in order:
                    spec = spec_for(arm, rate, a)
                    r = await run_one(spec, live[arm], Path(a.results_dir), Progress())
                    got.setdefault((arm, rate), []).append(r.summary)
                    s = r.summary
                    print(f"rep {rep + 1} rate {rate:>5g} {arm:>13s}: {r.status}, send lag p99 "
                          f"{s.get('send_lag_ms_p99', float('nan')):7.2f} ms, loop lag p99 "
                          f"{s.get('loop_lag_ms_p99', float('nan')):6.2f} ms, {s.get('request_s', 0):.2f} req/s",
                          flush=True)
    finally:
        for engine in live.values():
            await engines.stop(engine)
    return got


def table(got, rates, arms) -> None:
    print(f"\n{'arm':>13s} {'rate':>5s} " + " ".join(f"{k:>27s}" for k in KEYS) + "   send lag p99 per rep")
    for rate in rates:
        for arm in arms:
            runs = got.get((arm, rate), [])
            med = [statistics.median(r.get(k, float("nan")) for r in runs) for k in KEYS]
            each = ", ".join(f"{r.get('send_lag_ms_p99', float('nan')):.2f}" for r in runs)
            print(f"{arm:>13s} {rate:>5g} " + " ".join(f"{m:27.2f}" for m in med) + f"   [{each}]")
    print(f"(ms; medians over repetitions; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", type=float, nargs="+", default=[2.0, 8.0, 16.0],
                   help="requests/s of a Poisson schedule; 0: the Mooncake trace's own times")
    p.add_argument("--seconds", type=float, default=15.0, help="of load per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--input-tokens", type=int, default=256)
    p.add_argument("--output-tokens", type=int, default=64)
    p.add_argument("--mooncake", type=int, default=150, help="rows of the trace (rate 0)")
    p.add_argument("--scale", type=float, default=0.05, help="of the trace's token lengths (rate 0)")
    p.add_argument("--time-scale", type=float, default=0.5, help="x the trace's timestamps (rate 0)")
    p.add_argument("--max-num-seqs", type=int, default=8, help="the engine's batch limit, every arm")
    p.add_argument("--results-dir", default="out/send-lag")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=ARMS)
    a = p.parse_args()
    from bench.run.runner import SWITCH_INTERVAL_S

    sys.setswitchinterval(SWITCH_INTERVAL_S)   # as bench run does
    table(asyncio.run(run(a)), a.rates, a.arms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
