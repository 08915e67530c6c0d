"""Which runs of two sets ran side by side, and whether the sets alternated in time at all.

A round is one pass of an interleaved design (A B A B ...): the runs of one `bench run` (run.json
`suite`) with the same repetition (`config.repetition`). Two runs of one round share the
machine's state, so their ratio cancels it; runs are paired only so, never by list position.
Sets that did not alternate in time (all of A, then all of B: two sessions, two builds) carry a
drift between sessions that no interval over their runs can see.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.verdicts import DRIFT_ALLOWANCE_PCT
from bench.results import store
from bench.results.run import Run

DRIFT_LINE = ("A and B did not alternate in time (all of one set ran before the other): a drift between "
              "the sessions is in the change and in no interval, so a verdict's interval must clear "
              "+/-{allowance:g}%, not just 0; interleave the sets (treatments in one suite) to cancel it.")


@dataclass(frozen=True)
class Rounds:
    a: list[Run]          # in round order when paired, else as given
    b: list[Run]
    paired: bool          # a[i] and b[i] are one round, for every i
    unmatched: int = 0    # runs of a paired comparison left without a partner (a lost run's)


def _round(r: Run) -> tuple[str, int] | None:
    rep = store.repetition(r)
    suite = r.meta.get("suite")
    return (suite, rep) if suite and rep is not None else None


def match(a: list[Run], b: list[Run]) -> Rounds:
    """Pair a run of A with the run of B of the same round. With >= 2 common rounds the sets are
    those rounds (a run whose partner was lost is left out: its pair is incomplete); otherwise,
    or when a run has no round, the sets are compared unpaired, as wholes."""
    ra, rb = {}, {}
    for runs, by in ((a, ra), (b, rb)):
        for r in runs:
            key = _round(r)
            if key is None or key in by:
                return Rounds(a, b, False)
            by[key] = r
    common = sorted(set(ra) & set(rb))
    unmatched = len(ra) + len(rb) - 2 * len(common)
    if len(common) < 2:
        return Rounds(a, b, False)
    return Rounds([ra[k] for k in common], [rb[k] for k in common], True, unmatched)


def interleaved(a: list[Run], b: list[Run]) -> bool | None:
    """Whether the sets' runs alternated in time: neither set ran wholly before the other (by
    run.json `started_at`); None when a run has no start time."""
    ta = [r.meta.get("started_at") for r in a]
    tb = [r.meta.get("started_at") for r in b]
    if not ta or not tb or None in ta + tb:
        return None
    return not (max(ta) < min(tb) or max(tb) < min(ta))


def drift_line(a: list[Run], b: list[Run]) -> str | None:
    """The one line a comparison of non-interleaved sets carries (None when they alternated)."""
    return DRIFT_LINE.format(allowance=DRIFT_ALLOWANCE_PCT) if interleaved(a, b) is False else None
