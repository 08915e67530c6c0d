"""Load strategies: arrival processes and the driver's schedule keeping (on a trivial backend)."""
import asyncio
import itertools

import numpy as np
import pytest

from bench import load as loads
from bench.load.concurrency import Concurrency
from bench.load.rate import Rate
from bench.run.driver import Driver, seeded
from bench.types import Request, SingleRequest
from tests.helpers.fake_backend import FakeBackend


def test_poisson_and_bursty_rates():
    for shape in (1.0, 0.25):
        offs = list(itertools.islice(Rate(rate=50, burstiness=shape, requests=1).offsets_s(seeded(0)), 20001))
        gaps = np.diff(offs)
        assert gaps.mean() == pytest.approx(1 / 50, rel=0.05)
        # gamma(k): coefficient of variation 1/sqrt(k): 1 for Poisson, 2 for shape 0.25
        assert gaps.std() / gaps.mean() == pytest.approx(1 / np.sqrt(shape), rel=0.08)


def test_each_kind_answers_what_the_driver_needs():
    closed = loads.parse({"kind": "concurrency", "concurrency": 3, "requests": 1})
    assert closed == Concurrency(concurrency=3, requests=1)
    assert (closed.max_in_flight, closed.open_loop, closed.scheduled, closed.offered) == (3, False, False, 3)
    assert next(closed.offsets_s(seeded(0))) is None          # sends wait for a free slot
    open_ = loads.parse({"kind": "rate", "rate": 2.0, "requests": 1})
    assert (open_.max_in_flight, open_.open_loop, open_.scheduled, open_.offered) == (None, True, True, 2.0)
    capped = loads.parse({"kind": "rate", "rate": 2.0, "requests": 1, "concurrency": 4})
    assert (capped.max_in_flight, capped.open_loop) == (4, False)     # a cap the user asked for closes the loop
    offline = loads.parse({"kind": "offline", "requests": 5})
    assert (offline.max_in_flight, offline.scheduled, next(offline.offsets_s(seeded(0)))) == (None, True, 0.0)
    assert loads.parse({"requests": 2, "concurrency": 1}).kind == "concurrency"   # the default kind
    # what run.json records when the run starts
    assert open_.point() == {"kind": "rate", "value": 2.0, "per_second": True, "open_loop": True, "max_in_flight": None}


def sessions():
    for i in itertools.count():
        yield SingleRequest(Request(id=f"r{i}", prompt_token_ids=(1, 2), max_output_tokens=2))


def test_concurrency_cap_and_count():
    backend, got = FakeBackend(delay_s=0.01), []
    driver = Driver(backend, got.append)
    asyncio.run(driver.run(sessions(), Concurrency(concurrency=3, requests=12).offsets_s(seeded(0)), 3, 12, None))
    assert len(got) == 12 and backend.peak == 3
    assert all(s.output_tokens == 2 and s.ok for s in got)


def test_rate_keeps_schedule_and_duration_limit():
    backend, got = FakeBackend(delay_s=0.01), []
    driver = Driver(backend, got.append)
    stats = asyncio.run(driver.run(sessions(), Rate(rate=100, duration_s=0.3).offsets_s(seeded(1)), None, None, 0.3))
    # about 30 arrivals in 0.3 s at 100/s; none starts after the deadline
    assert 15 <= len(got) <= 50
    assert all(s.sent_ns < stats.t0_ns + 0.3e9 for s in got)
    lags = np.sort([(s.sent_ns - s.scheduled_ns) / 1e6 for s in got])
    assert lags[int(0.9 * len(lags))] < 20  # the client kept its schedule within a few ms
