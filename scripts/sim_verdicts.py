"""Seeded simulation of the verdict rule between two sets of runs (bench.analysis.verdicts).

The run is the unit, so a run is simulated as its values: each metric of the family
(bench.metrics.views.VERDICT_FAMILY) is lognormal around its true value with a run-to-run CV, the
metrics independent of each other (the worst case for a family: real TPOT and throughput move
together), and each run's error rate is its own draw (binomial over its requests). The real
code judges every simulated comparison: verdicts.usable, verdicts.judge and verdicts.rates_change,
each family key at 0.05 / 4 (Bonferroni), as bench compare does.

Claims, each printed with PASS or FAIL:
- A/A, 5 vs 5 runs: a false verdict (any regression or improvement in the family) <= 5% of the
  time, at each CV; also with one crashed run of five (every request failed: its latency and
  throughput missing, its error rate 100%), and with a session drift between non-interleaved
  sets (a 2% systematic shift of every metric, which no interval sees; such sets are judged with
  the drift allowance, verdicts.DRIFT_ALLOWANCE_PCT).
- Power: a +50% change at 5 vs 5 runs and 10% CV, and +20% at 3% CV, found >= 90% of the time
  (interleaved sets, no allowance; and, for the record, the same sets judged as non-interleaved).
Then a table of the minimum detectable effect by runs per side and run-to-run CV.

    python scripts/sim_verdicts.py [--sims 1500] [--seed 0]    # about a minute
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats as sps

from bench.analysis import stats, verdicts
from bench.metrics.views import VERDICT_FAMILY

VALUES = {"ttft_ms_p50": 40.0, "tpot_ms_p50": 12.0, "output_tok_s": 300.0}     # true run values
REQUESTS = 200          # per run
ERROR_P = 0.002         # a healthy run's chance per request of an error
ALPHA_EACH = verdicts.ALPHA / len(VERDICT_FAMILY)
MARGIN_PCT = stats.MIN_EFFECT_PCT


def draw(rng: np.random.Generator, n: int, cv: float, shift: float = 0.0, crashed: int = 0,
         rounds: dict | None = None) -> dict:
    """n runs: each metric lognormal with sd(log) from the CV, latency scaled by (1 + shift)
    and throughput by 1 / (1 + shift) (shift > 0 is worse); the last `crashed` runs failed
    every request. rounds: a log factor per metric and run shared with the other side's run of
    the same round (the machine's drift while both ran)."""
    sd = math.sqrt(math.log1p(cv ** 2))
    out = {}
    for key, v in VALUES.items():
        worse = (1 + shift) if stats.higher_is_better(key) is False else 1 / (1 + shift)
        x = v * worse * np.exp(rng.normal(-sd ** 2 / 2, sd, n) + (rounds[key] if rounds else 0))
        x[n - crashed:] = np.nan
        out[key] = x
    rates = rng.binomial(REQUESTS, ERROR_P, n) / REQUESTS
    rates[n - crashed:] = 1.0
    out["error_rate"] = rates
    return out


def family(a: dict, b: dict, interleaved: bool = True, paired: bool = False) -> dict[str, str]:
    """The verdict of each family key, as bench compare gives it."""
    out = {}
    allowance = 0.0 if interleaved else verdicts.DRIFT_ALLOWANCE_PCT
    for key in VALUES:
        va, vb, p = verdicts.usable(a[key], b[key], paired)
        base = stats.Change(key, None, None, None, None, None, "", drift_allowance_pct=allowance)
        out[key] = verdicts.judge(base, va, vb, p, ALPHA_EACH, MARGIN_PCT).verdict
    out["error_rate"] = verdicts.finalize(verdicts.rates_change(a["error_rate"], b["error_rate"]),
                                          ALPHA_EACH, MARGIN_PCT, None).verdict
    return out


def rate(rng, sims: int, n: int, cv: float, shift: float = 0.0, crashed: int = 0, drift: bool = False,
         key: str | None = None, want: tuple[str, ...] = ("regression", "improvement"),
         round_cv: float = 0.0) -> float:
    """Share of simulated comparisons with a verdict in `want` (any family key, or `key`);
    drift: the shift is a session drift between sets that did not alternate in time;
    round_cv > 0: the runs ran in rounds sharing a drift of that CV, judged paired."""
    hits = 0
    rsd = math.sqrt(math.log1p(round_cv ** 2))
    for _ in range(sims):
        rounds = {k: rng.normal(-rsd ** 2 / 2, rsd, n) for k in VALUES} if round_cv else None
        v = family(draw(rng, n, cv, rounds=rounds), draw(rng, n, cv, shift, crashed, rounds),
                   interleaved=not drift, paired=bool(round_cv))
        hits += any(v[k] in want for k in ([key] if key else v))
    return hits / sims


def mde_pct(n: int, cv: float) -> float:
    """MDE of one family key, unpaired, n runs a side (df 2n - 2; the Welch df at equal spread)."""
    sd = math.sqrt(math.log1p(cv ** 2))
    df = 2 * n - 2
    q = sps.t.ppf(1 - ALPHA_EACH / 2, df) + sps.t.ppf(verdicts.POWER, df)
    return (math.exp(q * sd * math.sqrt(2 / n)) - 1) * 100


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sims", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    ok = True

    def claim(text: str, value: float, limit: float, below: bool) -> None:
        nonlocal ok
        good = value <= limit if below else value >= limit
        ok &= good
        print(f"| {text} | {value:.1%} | {'<=' if below else '>='} {limit:.0%} | {'PASS' if good else 'FAIL'} |")

    print(f"family: {', '.join(VERDICT_FAMILY)}; each at {1 - ALPHA_EACH:.2%} (simultaneous 95%), margin "
          f"+/-{MARGIN_PCT:g}%; {args.sims} simulated comparisons per row, seed {args.seed}\n")
    print("| claim (5 vs 5 runs; unpaired unless said) | share | limit | |")
    print("|---|---|---|---|")
    for cv in (0.03, 0.10, 0.20):
        claim(f"A/A false verdict, CV {cv:.0%}", rate(rng, args.sims, 5, cv), 0.05, True)
    for cv in (0.03, 0.10):
        claim(f"A/A false verdict, one crashed run of five in B, CV {cv:.0%}",
              rate(rng, args.sims, 5, cv, crashed=1), 0.05, True)
    for cv in (0.01, 0.03, 0.05, 0.10):
        claim(f"A/A false verdict, 2% session drift (not interleaved), CV {cv:.0%}",
              rate(rng, args.sims, 5, cv, shift=0.02, drift=True), 0.05, True)
    claim("A/A false verdict, paired rounds: round drift CV 10%, own CV 3%",
          rate(rng, args.sims, 5, 0.03, round_cv=0.10), 0.05, True)
    claim("power: +50% (output_tok_s / 1.5), CV 10%",
          rate(rng, args.sims, 5, 0.10, shift=0.5, key="output_tok_s", want=("regression",)), 0.90, False)
    claim("power: +20% (output_tok_s / 1.2), CV 3%",
          rate(rng, args.sims, 5, 0.03, shift=0.2, key="output_tok_s", want=("regression",)), 0.90, False)
    claim("power: +20%, paired rounds: round drift CV 10%, own CV 3%",
          rate(rng, args.sims, 5, 0.03, shift=0.2, key="output_tok_s", want=("regression",), round_cv=0.10),
          0.90, False)
    claim("power: +50%, CV 10%, sets not interleaved (drift allowance)",
          rate(rng, args.sims, 5, 0.10, shift=0.5, drift=True, key="output_tok_s", want=("regression",)), 0.90, False)
    claim("power: +20%, CV 3%, sets not interleaved (drift allowance)",
          rate(rng, args.sims, 5, 0.03, shift=0.2, drift=True, key="output_tok_s", want=("regression",)), 0.90, False)

    cvs, ns = (1, 3, 5, 10, 20), (2, 3, 4, 5, 8, 10)
    print(f"\nMDE (%) of one family key by runs per side and run-to-run CV: the change found 80% of "
          f"the time at {1 - ALPHA_EACH:.2%} per key; a verdict also needs the change beyond +/-{MARGIN_PCT:g}%\n")
    print("| runs per side | " + " | ".join(f"CV {c}%" for c in cvs) + " |")
    print("|---|" + "---|" * len(cvs))
    for n in ns:
        print(f"| {n} | " + " | ".join(f"{mde_pct(n, c / 100):.1f}" for c in cvs) + " |")
    print("\n| CV | runs per side for an MDE of 5% |")
    print("|---|---|")
    for c in cvs:
        need = verdicts.runs_needed(math.sqrt(math.log1p((c / 100) ** 2)), ALPHA_EACH, MARGIN_PCT)
        print(f"| {c}% | {need if need <= verdicts.RUNS_NEEDED_MAX else '> 100'} |")
    print(f"\n{'ALL PASS' if ok else 'SOME FAIL'} ({time.time() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
