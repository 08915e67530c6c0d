"""A capacity probe's watch (bench.run.capacity): it wraps the runner's Progress, keeps each unit's
samples, and answers the driver's `stop` check: the one interim look of a probe (slo.interim_call)
and, past `end_s`, the end of the send window once the probe holds enough effective units."""
from __future__ import annotations

from itertools import takewhile

from bench.config import RunSpec
from bench.load.base import LoadKind
from bench.metrics import saturation, slo
from bench.run.driver import now_ns, seeded
from bench.run.progress import Progress
from bench.types import Sample

# A session due this little before a look or a stop may not have been sent yet, the client being
# on time: it is no miss. One due longer before was late.
SEND_GRACE_NS = 50_000_000
ENOUGH_EVERY_NS = 500_000_000   # how often past end_s the watch counts its effective units


def schedule_ns(load: LoadKind, seed: int, t0_ns: int, end_ns: int) -> list[int]:
    """The due times the driver gave an open loop's sessions before `end_ns` (its own offsets,
    from the same seed, stamped as bench.run.driver.schedule stamps them)."""
    due = (t0_ns + int(o * 1e9) for o in load.offsets_s(seeded(seed)))
    return list(takewhile(lambda d: d < end_ns, due))


class Watch:
    """Wraps the runner's Progress: keeps each unit's samples and answers the driver's `stop`
    check, which looks at the units' outcomes once, at `look_s` into the run (slo.interim_call),
    never before; and ends the send window at `end_s` once it holds `units_wanted` effective
    units (a count, weighed by the units' correlation, not an outcome: the final verdict is taken
    after the drain, in ProbeMarks)."""

    def __init__(self, inner: Progress, spec: RunSpec, thresholds: dict[str, float], target: float,
                 tasks: bool, alpha: float, look_s: float | None, met_stops: bool = True,
                 end_s: float | None = None, units_wanted: int = 0):
        self.inner, self.spec, self.thresholds, self.target = inner, spec, thresholds, target
        self.tasks, self.alpha, self.look_s, self.met_stops = tasks, alpha, look_s, met_stops
        self.end_s, self.units_wanted = end_s, units_wanted
        self.counted_ns = 0
        self.scheduled = spec.load.scheduled       # an open loop: latency from the due time
        self.units: dict[str, list[Sample]] = {}
        self.t0_ns: int | None = None
        self.stop_ns: int | None = None          # when the look ended the send window
        self.reason: str | None = None           # the interim look's call
        self.looked = False

    def start(self, label: str, total: int | None) -> None:
        self.inner.start(label, total)

    def stop(self) -> None:
        self.inner.stop()

    def note(self, text: str) -> None:
        self.inner.note(text)

    def advance(self, sample: Sample) -> None:
        self.inner.advance(sample)
        if not sample.warmup:
            self.units.setdefault(slo.unit_key(sample, self.tasks), []).append(sample)

    def samples(self) -> list[Sample]:
        return [x for u in self.units.values() for x in u]

    def units_at(self, end_ns: int, finished: set[str] | None) -> list[slo.Unit]:
        """The units so far, with (open loop) the ones due before `end_ns` (less the send grace)
        that no sample shows."""
        units = slo.units_of(self.samples(), self.thresholds, self.tasks, self.scheduled, finished)
        if self.scheduled and self.t0_ns is not None:
            due_by = end_ns - SEND_GRACE_NS
            units += slo.missing_units(schedule_ns(self.spec.load, self.spec.seed, self.t0_ns, due_by), units, due_by)
        return sorted(units, key=lambda u: u.start_ns)

    def window_end(self, duration_s: float) -> int:
        """The end of the send window: the deadline, or where this watch stopped the drive (the
        stop comes just before a session due by then would start: SEND_GRACE_NS keeps it)."""
        t0 = self.t0_ns if self.t0_ns is not None else now_ns()
        return self.stop_ns if self.stop_ns is not None else t0 + int(duration_s * 1e9)

    def _enough(self, now: int) -> bool:
        """Whether the units the verdict will judge (an open loop's due ones, answered or not; a
        closed loop's answered ones; after the warm-up share), weighed by their correlation,
        reach `units_wanted`. Counted at most every ENOUGH_EVERY_NS (it is asked before each start)."""
        if now - self.counted_ns < ENOUGH_EVERY_NS:
            return False
        self.counted_ns = now
        n = (self.spec.load.offered * (now - (self.t0_ns or now)) / 1e9 if self.scheduled
             else len(self.units)) * (1 - slo.WARMUP_SHARE)
        units = slo.units_of(self.samples(), self.thresholds, self.tasks, self.scheduled)
        return n * slo.effective_share([u.pressure for u in units]) >= self.units_wanted

    def check(self, stats) -> str | None:
        self.t0_ns = stats.t0_ns
        now = now_ns()
        if not self.looked and self.look_s is not None and now >= stats.t0_ns + int(self.look_s * 1e9):
            self.looked = True
            units = self.units_at(now, set(stats.finished_ids))
            self.reason = slo.interim_call(units, stats.t0_ns, now, self.target, self.alpha, self.scheduled,
                                           self.met_stops)
            if self.reason:
                self.stop_ns = now
                return self.reason
        if self.end_s is not None and now >= stats.t0_ns + int(self.end_s * 1e9):
            if self._enough(now):
                self.stop_ns = now
                return "end"
            # running on for units: a backlog that grows is past saturation, whatever the units say
            if self.scheduled and self.counted_ns == now and self._saturated(stats, now):
                self.stop_ns, self.reason = now, "saturated"
                return self.reason
        return None

    def _saturated(self, stats, now: int) -> bool:
        units = self.units_at(now, set(stats.finished_ids))
        return saturation.past_saturation(saturation.backlog(units, slo.warmup_end_ns(units, stats.t0_ns, now), now))
