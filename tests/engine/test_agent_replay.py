"""Closed-loop vs open-loop replay of a recorded session on the real tiny model (HF backend):
a slower backend stretches the closed loop's session wall time, as it would a real agent's,
while open-loop replay keeps the recorded times.

The slower backend is a real setting: the HF backend's `batch_wait_ms` (how long it waits for
stragglers before starting a batch) raised from 1 ms to SLOW_MS, which adds about SLOW_MS to
every call. Session trace_0057 has 8 calls over 109 recorded seconds, replayed at x0.05 (gaps
0.2-1.5 s): closed loop, each call waits for the previous one, so the 8 calls add about
8 x SLOW_MS; open loop, calls leave at their recorded times and only the last call's extra
latency shows in the wall time. Margins are wide: other jobs share these 2 cores.
"""
from __future__ import annotations

import asyncio
import sys

import pytest
import yaml

from bench import cli, config
from bench.backends.hf import HFBackend
from bench.models import resolve_model
from bench.run.driver import Driver
from bench.load.concurrency import Concurrency
from bench.run.runner import SWITCH_INTERVAL_S
from bench.workloads.agent_replay import AgentReplayParams, AgentReplayWorkload
from tests.helpers.paths import DATA as TEST_DATA

pytestmark = pytest.mark.timed   # session wall times (`make test` runs it alone)


DATA = TEST_DATA / "agent_sessions"
FACTOR, SLOW_MS = 0.05, 600


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(resolve_model("tiny"))


def session_wall_s(tokenizer, wait_ms: float, open_loop: bool) -> tuple[float, int]:
    p = config.resolve_workload({"kind": "agent_replay", "path": str(DATA / "trace_0057.json"), "scale": 0.02,
                                 "gap_factor": FACTOR, "time_scale": FACTOR, "open_loop": open_loop}, "test")
    w = AgentReplayWorkload(AgentReplayParams.model_validate(p), tokenizer, seed=0)
    # One torch thread: with several threads on 2 busy cores a 300-token call took 1-5 s, not 0.1 s.
    b = HFBackend(resolve_model("tiny"), {"max_batch_size": 8, "batch_wait_ms": wait_ms, "torch_threads": 1}, 0)
    samples = []

    async def go():
        await b.start()
        try:
            offsets = Concurrency(concurrency=1, requests=1).offsets_s(None)
            stats = await Driver(b, samples.append).run(w.sessions(), offsets, 1, None, None)
            assert not stats.session_errors, stats.session_errors
        finally:
            await b.stop()
    old = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        asyncio.run(go())
    finally:
        sys.setswitchinterval(old)
    assert all(s.ok for s in samples)
    return (max(s.end_ns for s in samples) - min(s.sent_ns for s in samples)) / 1e9, len(samples)


def test_slower_backend_stretches_the_closed_loop_not_the_open_loop(tokenizer):
    walls = {(slow, open_loop): session_wall_s(tokenizer, SLOW_MS if slow else 1, open_loop)
             for open_loop in (False, True) for slow in (False, True)}
    calls = walls[(False, False)][1]
    assert calls == 8 and all(n == calls for _, n in walls.values())
    closed = walls[(True, False)][0] - walls[(False, False)][0]
    opened = walls[(True, True)][0] - walls[(False, True)][0]
    print(f"session wall s: {walls}; closed stretch {closed:.2f} s, open stretch {opened:.2f} s")
    assert closed > 0.6 * calls * SLOW_MS / 1000              # every step waited for the slower call
    assert opened < 0.5 * closed and opened < 3 * SLOW_MS / 1000   # only the last call's delay
    # open loop keeps the recorded span: first call at 0, last at 109 s x FACTOR
    assert walls[(True, True)][0] == pytest.approx(109 * FACTOR + SLOW_MS / 1000, abs=1.5)


def test_bench_run_replays_sessions_as_tasks(tmp_path):
    cfg = {"name": "replay", "model": "tiny",
           "backend": {"name": "hf", "options": {"max_batch_size": 8, "batch_wait_ms": 1}},
           "workload": {"kind": "agent_replay", "path": str(DATA), "count": 3, "scale": 0.01, "gap_factor": 0.001},
           "load": {"kind": "concurrency", "concurrency": 3, "requests": 3, "warmup": 1}, "seed": 0}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main(["run", str(tmp_path / "c.yaml"), "--results-dir", str(tmp_path / "r"), "--no-progress"]) == 0
    run_dir = next(p for p in (tmp_path / "r").iterdir() if p.is_dir())
    import json
    lines = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    measured = [s for s in lines if not s.get("warmup")]
    assert {s["task_id"] for s in measured} == {"s0", "s1", "s2"}
    assert len(measured) == 7 + 3 + 8 and all(s["error"] is None for s in measured)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["summary"]["tasks_completed"] == 3
