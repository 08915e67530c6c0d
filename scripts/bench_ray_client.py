"""How much streamed load Ray load actors (bench.run.ray_pool) generate while keeping the schedule:
the highest chunks/s at which p99 send lag stays within 1 ms, for 1 and 2 actors, against the
stub server (which answers at once, so the client is what limits).

    python scripts/bench_ray_client.py [--start 100] [--step 2] [--max-rate 6400] [--seconds 2]
                                       [--refine 2] [--chunks 16] [--actors 1,2] [--baseline]

For each number of actors: open-loop rates from --start, each --step times the last, each for
--seconds, until a rate misses (p99 send lag over 1 ms, or an error: a client that cannot keep
up sends late, which is what send lag measures; a miss counts only if a second try of that rate
misses too: one busy moment on a shared host is not the client's limit); then --refine
bisection steps between the highest rate kept and the lowest missed. A table at the end: per
actor count, the highest rate kept, its chunks/s and send lag, and the rate that missed. About
1-2 minutes with the defaults.

With RAY_ADDRESS set it uses that cluster (actors spread over its nodes: put the stub server, or
a real one, where the actors reach it: --base-url); otherwise it starts Ray's local multi-node
test cluster (a head and one more node, one CPU each) on this machine. On one machine the
actors, the stub and this process share its cores, so the numbers say what this host can do, not
what two hosts would (docs/ray.md has the numbers and their caveat); run it on an idle machine.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from dataclasses import dataclass, field

from bench.backends.openai_http import OpenAIBackend
from bench.load.base import RayPlacement
from bench.run.ray_pool import RayPool
from bench.run.server import ManagedServer
from bench.selftest.command import STUB, Point, _point
from bench.telemetry.client import MAX_SEND_LAG_P99_MS

@dataclass
class Search:
    actors: int                                          # 0: this process alone, no actor
    points: list[Point] = field(default_factory=list)    # in the order tried
    best: Point | None = None                            # the highest rate kept
    missed: Point | None = None                          # the lowest rate missed above it

    @property
    def who(self) -> str:
        return f"{self.actors} actor{'s' if self.actors > 1 else ''}" if self.actors else "this process"


def _cluster():
    import ray
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return None
    from bench.run.ray_pool import local_cluster
    t = time.monotonic()
    c = local_cluster(nodes=2, cpus=1)
    print(f"local Ray cluster of 2 nodes up in {time.monotonic() - t:.1f} s", flush=True)
    return c


async def _search(backend, actors: int, args) -> Search:
    pool = RayPool(backend, lambda s: None, actors, RayPlacement(strategy="SPREAD")) if actors else None
    found = Search(actors)

    async def attempt(rate: float) -> bool:
        """The rate kept? A miss is tried once more before it counts."""
        for tries in (1, 2):
            p = await _point(backend, f"{rate:g}/s x{actors}", rate, max(50, int(rate * args.seconds)),
                             args.chunks, 32, pool=pool)
            found.points.append(p)
            ok = p.kept_schedule   # p99 send lag within the goal, no errors
            print(f"  {found.who:>12s} {rate:>7g}/s: {p.request_s:7.0f} req/s {p.chunk_s:8.0f} chunks/s, "
                  f"send lag p50 {p.send_lag_ms_p50:.3f} p99 {p.send_lag_ms_p99:.3f} ms, "
                  f"loop lag p99 {p.loop_lag_ms_p99:.2f} ms, errors {p.errors}: "
                  f"{'kept' if ok else 'missed'}{' (try 2)' if tries == 2 else ''}", flush=True)
            if ok:
                if found.best is None or rate > found.best.target_rate:
                    found.best = p
                return True
        if found.missed is None or rate < found.missed.target_rate:
            found.missed = p
        return False

    try:
        t = time.monotonic()
        await _point(backend, "warm-up", None, 200, args.chunks, 32, pool=pool)   # starts the actors
        print(f"  {found.who:>12s}: started and warmed up in {time.monotonic() - t:.1f} s", flush=True)
        rate = args.start
        while rate <= args.max_rate and await attempt(rate):
            rate *= args.step
        for _ in range(args.refine):   # bisect (geometrically) between the highest kept and the lowest missed
            if found.best is None or found.missed is None:
                break
            mid = round(math.sqrt(found.best.target_rate * found.missed.target_rate))
            if mid <= found.best.target_rate or mid >= found.missed.target_rate:
                break
            await attempt(mid)
    finally:
        if pool is not None:
            await pool.close()
    return found


def table(searches: list[Search], chunks: int) -> list[str]:
    """The result, one row per actor count."""
    head = (f"{'client':>12s} | {'highest rate kept':>17s} | {'chunks/s':>8s} | {'req/s':>7s} | "
            f"{'send lag p50 ms':>15s} | {'p99 ms':>6s} | {'lowest rate missed (p99 ms)':>27s} | points")
    rows = [head, "-" * len(head)]
    for s in searches:
        b, m = s.best, s.missed
        miss = (f"{m.target_rate:g}/s ({m.send_lag_ms_p99:.2f})" if m else "none up to --max-rate")
        if b is None:
            rows.append(f"{s.who:>12s} | {'none':>17s} | {'':>8s} | {'':>7s} | {'':>15s} | {'':>6s} | {miss:>27s} | "
                        f"{len(s.points)}")
        else:
            rows.append(f"{s.who:>12s} | {f'{b.target_rate:g}/s':>17s} | {b.chunk_s:8.0f} | {b.request_s:7.0f} | "
                        f"{b.send_lag_ms_p50:15.3f} | {b.send_lag_ms_p99:6.3f} | {miss:>27s} | {len(s.points)}")
    by = {s.actors: s.best for s in searches}
    if by.get(1) and by.get(2):
        rows.append(f"2 actors / 1 actor: {by[2].chunk_s / by[1].chunk_s:.2f}x the chunks/s at p99 send lag "
                    f"<= {MAX_SEND_LAG_P99_MS:g} ms")
    rows.append(f"({chunks} chunks per request; kept: p99 send lag <= {MAX_SEND_LAG_P99_MS:g} ms and no errors; "
                "req/s: completed per second, which a short Poisson schedule's own span moves)")
    return rows


async def _main(args) -> list[Search]:
    server = None
    base_url = args.base_url
    if base_url is None:
        server = ManagedServer(STUB, "stub")
        await server.start()
        base_url = server.url + "/v1"
    backend = OpenAIBackend("stub", {"base_url": base_url, "metrics_url": None})
    await backend.start()   # this process's own copy (the baseline); each actor starts its own
    try:
        counts = ([0] if args.baseline else []) + [int(a) for a in args.actors.split(",")]
        return [await _search(backend, n, args) for n in counts]
    finally:
        await backend.stop()
        if server is not None:
            await server.stop()
            server.log_path.unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", type=float, default=100, help="first open-loop rate, requests/s")
    p.add_argument("--step", type=float, default=2.0, help="each rate this many times the last (> 1)")
    p.add_argument("--max-rate", type=float, default=6400, help="no rate above this is tried")
    p.add_argument("--seconds", type=float, default=2.0, help="per point")
    p.add_argument("--refine", type=int, default=2, help="bisection steps between kept and missed")
    p.add_argument("--chunks", type=int, default=16, help="streamed chunks (tokens) per request")
    p.add_argument("--actors", default="1,2", help="actor counts to search, comma-separated")
    p.add_argument("--baseline", action="store_true", help="also this process alone, without actors")
    p.add_argument("--base-url", help="a server's /v1 URL instead of a local stub server")
    args = p.parse_args()
    if args.step <= 1:
        p.error("--step must be > 1")
    t = time.monotonic()
    load_before = os.getloadavg()
    cluster = _cluster()
    try:
        searches = asyncio.run(_main(args))
    finally:
        import ray
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    print()
    print("\n".join(table(searches, args.chunks)))
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()
    print(f"{time.monotonic() - t:.0f} s in all; load average {load_before[0]:.2f} before, {load[0]:.2f} after "
          f"on {cores} cores" + (" (other work on these cores: the numbers are a busy host's)"
                                 if load_before[0] > cores / 2 else ""))


if __name__ == "__main__":
    main()
