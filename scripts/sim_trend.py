"""Seeded simulation of `bench trend --fail-on-regression`'s gate (bench.analysis.trend.gate):
how often it fails the newest commit when it should and when it should not.

    python scripts/sim_trend.py [--trials 200] [--cv 5] [--step 30] [--seed 0]

Each trial is a series of 12 synthetic runs in four commits; a run's requests take
(20 + i % 5) ms times the run's level times its run-to-run noise (lognormal, --cv percent),
so its e2e_ms_p50 is known by construction. The runs are held in memory (store.Run with their
samples), and the gate is the CLI's own function: trend.gate -> change points of the earlier
runs -> compare.compare_sets(before, newest) on e2e_ms_p50 (a family of one metric; the CLI
judges all its metrics at once, a wider simultaneous interval). Scenarios:

- step at the newest commit: +step% confined to the newest commit's 3 runs (runs 9-11 of 12);
  claim: the gate fails it >= 80% of the time.
- old step: +step% after run 4 of 12 (commits of 4, 2, 3 and 3 runs), the newest commit's 3
  runs at the new level; claim: the gate fails the newest commit <= 5% of the time.
- old step at the previous commit: +step% after run 6 (commits of 6, 3 and 3 runs): the
  segment before the newest is only the previous commit's 3 runs; claim: <= 5%.
- A/A: no step; claim: <= 5%.

Prints one row per scenario (gate regression rate with its 95% Wilson interval, the mean
number of runs in the segment before) and PASS/FAIL per claim; exit 1 on a FAIL.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analysis import trend
from bench.metrics import core as metrics
from bench.results import store
from bench.types import Sample
from tests.helpers.synth import MS, sample

KEY = "e2e_ms_p50"
REQUESTS = 20


@dataclass(frozen=True)
class HeldRun(store.Run):
    """A run whose samples live in memory (no folder): the same type every reader takes."""
    held: tuple[Sample, ...] = ()

    def samples(self, include_warmup: bool = False) -> list[Sample]:
        return list(self.held)


def make_run(i: int, commit: str, factor: float) -> HeldRun:
    out, t = [], 10**12
    for k in range(REQUESTS):
        dur_ms = (20 + k % 5) * factor
        out.append(sample(k, t, dur_ms / 4, t + int(dur_ms * MS), output=8))
        t += int(dur_ms * MS)
    meta = {"run_id": f"r{i:02d}", "status": "complete", "started_at": float(i),
            "config": {"name": "sim", "slo": {}}, "env": {"git_sha": commit * 40},
            "summary": metrics.summarize(out, {})}
    return HeldRun(Path(f"r{i:02d}"), meta, tuple(out))


@dataclass(frozen=True)
class Scenario:
    name: str
    levels: tuple[float, ...]       # each run's true level (1 = baseline)
    commits: str                    # each run's commit, one letter per run
    claim: str                      # ">= x" or "<= x": the gate's regression rate
    bound: float


def scenarios(step_pct: float) -> list[Scenario]:
    up = 1 + step_pct / 100
    return [Scenario(f"+{step_pct:g}% at the newest commit (runs 9-11)", (1.0,) * 9 + (up,) * 3,
                     "aaabbbcccddd", ">=", 0.80),
            Scenario(f"+{step_pct:g}% old step after run 4", (1.0,) * 4 + (up,) * 8, "aaaabbcccddd", "<=", 0.05),
            Scenario(f"+{step_pct:g}% old step at the previous commit (after run 6)", (1.0,) * 6 + (up,) * 6,
                     "aaaaaabbbccc", "<=", 0.05),
            Scenario("A/A: no step", (1.0,) * 12, "aaabbbcccddd", "<=", 0.05)]


def trial(sc: Scenario, cv: float, rng: np.random.Generator) -> trend.Gate:
    sigma = np.sqrt(np.log(1 + cv ** 2))              # lognormal noise with this CV
    noise = rng.lognormal(-sigma ** 2 / 2, sigma, len(sc.levels))
    runs = [make_run(i, c, lv * e) for i, (c, lv, e) in enumerate(zip(sc.commits, sc.levels, noise))]
    values = {KEY: [r.summary[KEY] for r in runs]}
    return trend.gate(runs, values, (KEY,))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    mid, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (mid - half) / (1 + z * z / n)), min(1.0, (mid + half) / (1 + z * z / n))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--cv", type=float, default=5.0, help="run-to-run CV of a run's value, percent")
    ap.add_argument("--step", type=float, default=30.0, help="size of the step, percent (slower)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"gate on {KEY}: 12 runs, {REQUESTS} requests each, run-to-run CV {args.cv:g}%, "
          f"{args.trials} trials per scenario, seed {args.seed}, min effect 5%")
    print(f"{'scenario':<52} {'gate fails':>10} {'95% CI':>15} {'runs before':>11} {'claim':>8}  result")
    ok = True
    t0 = time.perf_counter()
    for sc in scenarios(args.step):
        gates = [trial(sc, args.cv / 100, rng) for _ in range(args.trials)]
        k = sum(bool(g.regressions) for g in gates)
        rate, (lo, hi) = k / args.trials, wilson(k, args.trials)
        passed = rate >= sc.bound if sc.claim == ">=" else rate <= sc.bound
        ok &= passed
        before = np.mean([len(g.before) for g in gates])
        print(f"{sc.name:<52} {rate:>10.1%} {f'[{lo:.1%}, {hi:.1%}]':>15} {before:>11.1f} "
              f"{sc.claim + f' {sc.bound:.0%}':>8}  {'PASS' if passed else 'FAIL'}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
