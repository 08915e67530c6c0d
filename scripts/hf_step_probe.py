"""The hf backend's decode step at batch 1 and at batch 8, through each layer of our path.

It times the step (the gap between consecutive tokens of one row, median over the rows and steps)
through three layers, each at batch 1, batch 8 of equal prompts and batch 8 of unequal
(left-padded) prompts:
  raw     model.generate with a bare streamer (transformers alone)
  ours    HFBackend._generate: + the no-EOS logits processor, the fan-out streamer, the stop check
  driver  HFBackend.stream under asyncio: + the event loop taking every chunk (as a run does)
Written because the H200 check had HF eager at ~27 ms a step at batch 1 and ~82 ms at batch 8.
What it showed there (docs/gpu.md): within a few seconds the step is the same at batch 1 and 8,
in every layer (the full stream: 20.9 and 22.1 ms; 28.8 and 28.5 ms), but it moves between ~22
and 60-100 ms in phases of several seconds whatever the layer, so run the layers in more than one
order (`--layers driver ours raw driver`) before blaming one. From the repository root (where
bench is not installed, PYTHONPATH=. too):
  python scripts/hf_step_probe.py                      # the 8B preset on the GPU
  python scripts/hf_step_probe.py --model tiny         # a dry run on the CPU
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.backends.hf import HFBackend
from bench.backends.hf_batch import Job
from bench.backends.base import Chunk
from bench.models import resolve_model
from bench.types import Request


def prompts(batch: int, padded: bool, length: int, vocab: int) -> list[tuple[int, ...]]:
    lengths = [length // 2 + i * length // max(batch - 1, 1) for i in range(batch)] if padded and batch > 1 \
        else [length] * batch
    return [tuple(100 + (7 * i + 13 * r) % (vocab - 400) for i in range(n)) for r, n in enumerate(lengths)]


def step_ms(rows: list[list[float]]) -> tuple[float, float]:
    """Median and mean gap between consecutive tokens of a row (seconds in, ms out), first gap
    (prefill to first decode) left out."""
    gaps = [b - a for times in rows for a, b in zip(times[1:], times[2:])]
    return statistics.median(gaps) * 1e3, statistics.fmean(gaps) * 1e3


class _Times:
    """A bare streamer: the time each step's tokens reach the host (HF syncs to put them)."""
    def __init__(self):
        self.times: list[float] = []
        self.first = True

    def put(self, value) -> None:
        if self.first:            # generate first puts the prompt
            self.first = False
            return
        value.tolist()
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def raw(be: HFBackend, ps, steps: int) -> list[list[float]]:
    import torch
    width = max(map(len, ps))
    ids = torch.tensor([[be.pad_id] * (width - len(p)) + list(p) for p in ps], device=be.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in ps], device=be.device)
    s = _Times()
    with torch.inference_mode():
        be.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=steps, min_new_tokens=steps,
                          do_sample=False, streamer=s, pad_token_id=be.pad_id, disable_compile=True)
    return [s.times]


def ours(be: HFBackend, ps, steps: int) -> list[list[float]]:
    rows: list[list[float]] = [[] for _ in ps]

    def emit_for(row):        # in the generate thread: this layer has no event loop in it
        return lambda item: rows[row].append(time.perf_counter()) if isinstance(item, Chunk) else None
    be._generate([Job(Request(f"r{i}", p, steps), emit_for(i)) for i, p in enumerate(ps)])
    return rows


async def driver(be: HFBackend, ps, steps: int) -> list[list[float]]:
    async def one(i, p):
        times = []
        async for _ in be.stream(Request(f"d{i}", p, steps)):
            times.append(time.perf_counter())
        return times
    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(ps))))


async def amain(args) -> None:
    import torch
    be = HFBackend(resolve_model(args.model), {"dtype": args.dtype, "max_batch_size": 8, "batch_wait_ms": 20,
                                               "model_kwargs": {"attn_implementation": "sdpa"}, "compile": False,
                                               "torch_threads": args.torch_threads})
    t0 = time.perf_counter()
    await be.start()
    vocab = be.model.config.vocab_size
    print(f"model {args.model} on {be.device} ({be.model.dtype}) loaded in {time.perf_counter() - t0:.1f} s; "
          f"torch {torch.__version__}; prompts {args.prompt} tokens "
          f"(padded: {args.prompt // 2}-{args.prompt * 3 // 2})")
    raw(be, prompts(1, False, 64, vocab), 8)          # warm-up: kernels, cuBLAS handles
    shapes = [(1, False), (8, False), (8, True)]
    print(f"{'layer':8s} {'batch':>5s} {'prompts':>8s} {'step p50 ms':>12s} {'step mean ms':>13s} {'batches':>8s}")
    for layer in args.layers:
        for batch, padded in shapes:
            ps = prompts(batch, padded, args.prompt, vocab)
            n_before = len(be.batch_sizes)
            if layer == "raw":
                rows = raw(be, ps, args.steps)
            elif layer == "ours":
                rows = ours(be, ps, args.steps)
            else:
                rows = await driver(be, ps, args.steps)
            p50, mean = step_ms(rows)
            formed = be.batch_sizes[n_before:] if layer != "raw" else [batch]
            equal = "unequal" if padded else "equal"
            print(f"{layer:8s} {batch:5d} {equal:>8s} {p50:12.2f} {mean:13.2f} {str(formed):>8s}", flush=True)
    await be.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="preset:llama-3.1-8b")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--prompt", type=int, default=1024, help="prompt tokens (unequal: half to 1.5x)")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch threads (CPU runs: 1 keeps "
                    "the event loop's core free)")
    ap.add_argument("--layers", nargs="+", default=["raw", "ours", "driver"],
                    choices=["raw", "ours", "driver"], help="in this order (repeat one to see it twice)")
    ap.add_argument("--steps", type=int, default=48, help="decode steps per generate")
    asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    main()
