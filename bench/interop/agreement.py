"""Ours against a peer's, over repeated runs of each: the difference of the means and whether it
lies within the run-to-run spread (pure; bench crosscheck prints it).

The spread is each side's standard deviation over its runs; the difference is called within the
spread when it is under twice the standard error of the difference of the two means
(sqrt(sd_a^2/n_a + sd_b^2/n_b)), about a 95% band for a handful of runs. With one run per side
there is no spread and no call.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# The keys a cross-check prints: what the issue holds the peers to (output throughput, mean
# TTFT) and the latencies whose definitions agree across vLLM bench serve and ours.
KEYS = ("output_tok_s", "request_s", "ttft_ms_mean", "ttft_ms_p50", "tpot_ms_mean", "e2e_ms_mean")


@dataclass(frozen=True)
class Row:
    key: str
    ours: float
    peer: float
    diff_pct: float | None          # peer / ours - 1, in percent
    ours_sd_pct: float | None       # run-to-run standard deviation, % of the side's mean
    peer_sd_pct: float | None
    band_pct: float | None          # 2 x the standard error of the difference, % of ours
    within: bool | None             # |diff| <= band; None: no spread (one run a side)


def _sd(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def row(key: str, ours: list[float], peer: list[float]) -> Row:
    mo, mp = statistics.fmean(ours), statistics.fmean(peer)
    so, sp = _sd(ours), _sd(peer)
    diff = (mp / mo - 1) * 100 if mo else None
    band = None
    if so is not None and sp is not None and mo:
        band = 2 * math.sqrt(so ** 2 / len(ours) + sp ** 2 / len(peer)) / mo * 100
    return Row(key, mo, mp, diff, so / mo * 100 if so is not None and mo else None,
               sp / mp * 100 if sp is not None and mp else None, band,
               None if band is None or diff is None else abs(diff) <= band)


def rows(ours: list[dict[str, float]], peer: list[dict[str, float]], keys: tuple[str, ...] = KEYS) -> list[Row]:
    return [row(k, [s[k] for s in ours], [s[k] for s in peer]) for k in keys
            if all(k in s for s in ours + peer)]


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def render(table: list[Row], peer_name: str, n_ours: int, n_peer: int) -> str:
    head = ["metric", f"bench ({n_ours} runs)", f"{peer_name} ({n_peer} runs)", "difference",
            "run-to-run sd (bench / peer)", "2 SE band", "within spread"]
    body = [[r.key, _f(r.ours), _f(r.peer), _f(r.diff_pct, "{:+.1f}%"),
             f"{_f(r.ours_sd_pct, '{:.1f}%')} / {_f(r.peer_sd_pct, '{:.1f}%')}", _f(r.band_pct, "+/-{:.1f}%"),
             {True: "yes", False: "NO", None: "-"}[r.within]] for r in table]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])
