"""How much streamed load Ray load actors (bench.run.ray_pool) generate while keeping the schedule:
chunks/s at p99 send lag < 1 ms, for 1 vs 2 actors, against the stub server (which answers at
once, so the client is what limits), beside the same ladder from this process alone.

    python scripts/bench_ray_client.py [--rates 100,200,400,800,1600] [--seconds 3] [--chunks 16]

With RAY_ADDRESS set it uses that cluster (actors spread over its nodes: put the stub server, or
a real one, where the actors reach it: --base-url); otherwise it starts Ray's local multi-node
test cluster (a head and one more node, one CPU each) on this machine. On one machine the
actors, the stub and this process share its cores, so the numbers say what this host can do, not
what two hosts would (docs/ray.md has the numbers and their caveat).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time

from bench.backends.openai_http import OpenAIBackend
from bench.load.base import RayPlacement
from bench.run.ray_pool import RayPool
from bench.run.server import ManagedServer
from bench.selftest.command import STUB, _point
from bench.telemetry.client import MAX_SEND_LAG_P99_MS


def _cluster():
    import ray
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return None
    from bench.run.ray_pool import local_cluster
    t = time.monotonic()
    c = local_cluster(nodes=2, cpus=1)
    print(f"local Ray cluster of 2 nodes up in {time.monotonic() - t:.1f} s")
    return c


async def _ladder(backend, actors: int, rates: list[float], seconds: float, chunks: int) -> list:
    """actors 0: this process's own Driver, the baseline measured beside the actors."""
    pool = RayPool(backend, lambda s: None, actors, RayPlacement(strategy="SPREAD")) if actors else None
    points = []
    try:
        await _point(backend, "warm-up", None, 200, chunks, 32, pool=pool)
        for rate in rates:
            p = await _point(backend, f"rate {rate:g}/s x{actors}", rate, max(50, int(rate * seconds)),
                             chunks, 32, pool=pool)
            points.append(p)
            print(f"  {actors} actor(s) rate {rate:>6g}/s: {p.request_s:7.0f} req/s {p.chunk_s:8.0f} chunks/s "
                  f"send lag p50 {p.send_lag_ms_p50:.3f} p99 {p.send_lag_ms_p99:.3f} ms, loop lag p99 "
                  f"{p.loop_lag_ms_p99:.2f} ms, errors {p.errors}: {'kept' if p.kept_schedule else 'NOT kept'}",
                  flush=True)
            if p.request_s < 0.8 * rate:
                break   # the client fell short of the rate: higher ones will not be reached either
    finally:
        if pool is not None:
            await pool.close()
    return points


async def _main(args) -> None:
    server = None
    base_url = args.base_url
    if base_url is None:
        server = ManagedServer(STUB, "stub")
        await server.start()
        base_url = server.url + "/v1"
    backend = OpenAIBackend("stub", {"base_url": base_url, "metrics_url": None})
    await backend.start()   # this process's own copy (the baseline); each actor starts its own
    rates = [float(r) for r in args.rates.split(",")]
    try:
        best = {}
        for actors in (0, 1, 2):
            points = await _ladder(backend, actors, rates, args.seconds, args.chunks)
            kept = [p for p in points if p.kept_schedule]
            best[actors] = max(kept, key=lambda p: p.chunk_s) if kept else None
            reached = [p for p in points if p.errors == 0 and p.request_s >= 0.95 * p.target_rate]
            top = max(reached, key=lambda p: p.chunk_s, default=None)
            print(f"  {actors} actor(s): highest rate reached (>= 95% of it, any send lag): " +
                  (f"{top.target_rate:g}/s, {top.chunk_s:.0f} chunks/s, send lag p99 {top.send_lag_ms_p99:.1f} ms"
                   if top else "none"), flush=True)
        for actors, p in best.items():
            who = f"{actors} actor(s)" if actors else "no actor (this process)"
            print(f"{who}: " + (f"{p.chunk_s:.0f} chunks/s ({p.request_s:.0f} req/s x {args.chunks} chunks) "
                                           f"at p99 send lag {p.send_lag_ms_p99:.3f} ms < {MAX_SEND_LAG_P99_MS:g} ms"
                                           if p else f"no tested rate kept p99 send lag < {MAX_SEND_LAG_P99_MS:g} ms"))
        print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on these cores "
              "slows the client: compare runs made side by side)")
    finally:
        await backend.stop()
        if server is not None:
            await server.stop()
            server.log_path.unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="100,200,400,800,1600", help="open-loop rates, ascending")
    p.add_argument("--seconds", type=float, default=3.0, help="per rate")
    p.add_argument("--chunks", type=int, default=16, help="streamed chunks (tokens) per request")
    p.add_argument("--base-url", help="a server's /v1 URL instead of a local stub server")
    args = p.parse_args()
    cluster = _cluster()
    try:
        asyncio.run(_main(args))
    finally:
        import ray
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()


if __name__ == "__main__":
    main()
