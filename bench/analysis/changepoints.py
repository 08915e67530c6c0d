"""Step changes in a series of run values: E-divisive means with a permutation test.

Why this method: it is what Apache Otava (Hunter, MongoDB's signal processing) uses on exactly
this kind of data (one value per benchmark run, ordered by commit): it assumes no distribution,
finds a step of the mean or of the spread, and its permutation test says how sure a change is
(a p-value; a change needs p < 0.01, as the smallest p of a clean 6/6 split of 12
runs is 1/924), which a penalised search such as PELT (ruptures) does not give; a penalty would be
one more knob users must tune per metric. Series are short (tens to hundreds of runs), so the
O(n^2) statistic and a few hundred permutations cost milliseconds in numpy.

Method (Matteson & James 2014, "A nonparametric approach for multiple change point analysis"):
for a split at tau, the divergence between the left and right parts is
    Q(tau) = tau (n - tau) / n * (2 E|X - Y| - E|X - X'| - E|Y - Y'|)
with X, X' left and Y, Y' right values. The best split's Q is compared with the best Q of
`permutations` shuffles of the same values (seeded): p = (1 + #{Q_perm >= Q}) / (1 + permutations).
A split with p < alpha is a change point, and each side is searched again (bisection), as in
Hunter. A single outlying run is not a step: each side of a split holds at least `min_size` runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.01
PERMUTATIONS = 999
MIN_SIZE = 2


@dataclass(frozen=True)
class ChangePoint:
    index: int            # the first run of the new level (0-based); "after run `index`" 1-based
    before: float         # mean of the segment before (to the previous change point)
    after: float          # mean of the segment after (to the next change point)
    change_pct: float     # 100 * (after / before - 1)
    p_value: float        # permutation test of this split within its segment


def _q_all(x: np.ndarray, min_size: int) -> np.ndarray:
    """Q(tau) of each row of x (k, n) for every tau in [min_size, n - min_size] (others -inf),
    via 2-D prefix sums: shape (k, n + 1). Rows are the series and its shuffles, computed at once."""
    k, n = x.shape
    d = np.abs(x[:, :, None] - x[:, None, :])
    s = np.zeros((k, n + 1, n + 1))
    s[:, 1:, 1:] = d.cumsum(1).cumsum(2)
    q = np.full((k, n + 1), -np.inf)
    t = np.arange(min_size, n - min_size + 1)
    if len(t) == 0:
        return q
    m = n - t
    within_l = s[:, t, t] / (t * t)
    within_r = (s[:, n, n][:, None] - s[:, t, n] - s[:, n, t] + s[:, t, t]) / (m * m)
    between = (s[:, t, n] - s[:, t, t]) / (t * m)
    q[:, t] = t * m / n * (2 * between - within_l - within_r)
    return q


def _best_of(x: np.ndarray, min_size: int) -> np.ndarray:
    """The best split's Q of each row."""
    return _q_all(x, min_size).max(axis=1)


def _split(x: np.ndarray, lo: int, hi: int, rng: np.random.Generator, alpha: float,
           permutations: int, min_size: int, found: list[tuple[int, float]]) -> None:
    seg = x[lo:hi]
    if len(seg) < 2 * min_size or np.ptp(seg) == 0:
        return
    q_seg = _q_all(seg[None, :], min_size)[0]
    t, q = int(np.argmax(q_seg)), float(q_seg.max())
    # shuffles in batches (numpy over the batch; a batch's prefix sums stay under ~16 MB), in
    # the order drawn, so stopping early reads the same counts as one shuffle at a time would
    batch = max(1, 2_000_000 // (len(seg) + 1) ** 2)
    exceed, done = 0, 0
    while done < permutations:
        b = min(batch, permutations - done)
        hits = _best_of(np.stack([rng.permutation(seg) for _ in range(b)]), min_size) >= q - 1e-12
        counts = exceed + np.cumsum(hits)
        if ((1 + counts) / (1 + permutations) >= alpha).any():    # cannot become significant: stop
            return
        exceed, done = int(counts[-1]), done + b
    p = (1 + exceed) / (1 + permutations)
    found.append((lo + t, p))
    _split(x, lo, lo + t, rng, alpha, permutations, min_size, found)
    _split(x, lo + t, hi, rng, alpha, permutations, min_size, found)


def detect(values, alpha: float = ALPHA, permutations: int = PERMUTATIONS, min_size: int = MIN_SIZE,
           seed: int = 0) -> list[ChangePoint]:
    """Change points of a series (oldest first; NaN values are dropped), oldest first."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    keep = np.flatnonzero(~np.isnan(x))
    x = x[keep]
    found: list[tuple[int, float]] = []
    _split(x, 0, len(x), np.random.default_rng(seed), alpha, permutations, min_size, found)
    found.sort()
    edges = [0, *[i for i, _ in found], len(x)]
    out = []
    for k, (i, p) in enumerate(found):
        before, after = float(x[edges[k]:i].mean()), float(x[i:edges[k + 2]].mean())
        change = (after / before - 1) * 100 if before else float("inf") if after else 0.0
        out.append(ChangePoint(int(keep[i]), before, after, change, p))
    return out
