"""The client's own capacity against the instant stub server (a separate process), and a soak
that checks open file descriptors and memory do not grow after warm-up."""
import asyncio

import pytest

from bench.selftest import command as selftest

pytestmark = pytest.mark.timed   # a rate and a CPU cost per chunk (`make test` runs it alone)


def test_selftest_measures_and_soak_does_not_leak(capsys):
    out = asyncio.run(selftest._selftest([50.0], 1.0, 8, 32, 3000, print, workers=2))
    (point,) = out["points"]
    assert point.requests == 50 and point.errors == 0
    assert point.chunks == 50 * 8 and 0 < point.cpu_us_per_chunk < 100_000   # parsed, not assumed
    (pooled,) = out["pooled"]["points"]
    assert pooled.requests == 50 and pooled.chunks == 400 and pooled.errors == 0
    assert pooled.cpu_s > 0 and out["pooled"]["closed"].chunks == out["pooled"]["closed"].requests * 8
    assert 25 < point.request_s < 100 and point.chunk_s == pytest.approx(point.request_s * 8, rel=0.2)
    assert point.send_lag_ms_p50 < point.send_lag_ms_p99 < 1000
    closed = out["closed"]
    assert closed.errors == 0 and closed.request_s > point.request_s   # closed loop outruns 50/s
    marks = out["soak"]
    assert [m[0] for m in marks] == list(range(300, 3001, 300))
    warm, end = marks[2], marks[-1]                      # after 900 requests vs after 3000
    assert end[1] <= warm[1] + 2, marks                  # open fds: pooled connections only
    assert end[2] - warm[2] < 15, marks                  # RSS MiB
    selftest.report(out, 8)
    text = capsys.readouterr().out
    assert "soak    3000 requests" in text and "1 worker: closed-loop ceiling" in text
    assert "2 workers: closed-loop ceiling" in text and "us per chunk" in text


def test_chunks_per_second_count_what_arrived():
    from bench.selftest.command import _chunks_received
    from tests.helpers.synth import sample
    full = sample(0, 0, 1.0, 10**9, output=8)                       # 8 chunks in 1 s
    cut = sample(1, 0, 1.0, 10**9 // 2, output=3)                   # a stream cut after 3
    assert _chunks_received([full, cut], {"duration_s": 1.0}) == 11
