"""`bench profile` of the 240 recorded coding-agent sessions reproduces the statistics quoted in
../shared/traces/README.md and issue 15, within their rounding; and the session reader's shape
on a small session checkable by hand."""
import json

import pytest

from bench import cli
from bench.profile.command import read_logs
from bench.profile.profile import build, quantiles
from tests.helpers.paths import DATA as TEST_DATA, SHARED_TRACES

DEV = SHARED_TRACES / "agentic" / "cc_traces_dev.tar.xz"
DATA = TEST_DATA / "agent_sessions"


def q(p, name):
    return quantiles(p.values[name])


def test_a_session_by_hand(tmp_path):
    # two calls: the second resends 2 of the first's 2 blocks (64 tokens each), then a sub-agent
    s = {"block_size": 64, "system_tokens": 10, "tool_tokens": 20, "requests": [
        {"t": 0, "type": "n", "in": 150, "out": 7, "hash_ids": [1, 2], "api_time": 2.0, "think_time": 0},
        {"t": 5, "type": "n", "in": 200, "out": 3, "hash_ids": [1, 2, 3], "api_time": 1.0, "think_time": 3},
        {"t": 20, "type": "subagent", "duration_ms": 10000, "requests": [
            {"t": 0, "type": "n", "in": 80, "out": 4, "hash_ids": [9], "api_time": 1.0},
            {"t": 4, "type": "n", "in": 100, "out": 6, "hash_ids": [9], "api_time": 1.0, "think_time": 3}]},
        {"t": 25, "type": "n", "in": 260, "out": 5, "hash_ids": [1, 2, 3, 4], "api_time": 1.0, "think_time": 19}]}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(s))
    p = build(read_logs([str(path)]))
    assert list(p.values["step_prompt_tokens"]) == [150, 200, 260]
    assert list(p.values["new_context_tokens"]) == [200 - 150 - 7, 260 - 200 - 3]
    assert list(p.values["think_s"]) == [0, 3, 19]
    assert p.prefix_tokens == 30                           # system + tool schemas
    assert list(p.values["subagent_steps"]) == [2] and p.tasks_with_subagents == 1
    # resent: 128 of call 2, 192 of call 4; the sub-agent's second call 64; first calls: prefix 30
    assert p.repeated_prefix_share == pytest.approx((30 + 128 + 192 + 64 + 30) / (150 + 200 + 260 + 80 + 100))


def test_profile_command_reads_a_folder_of_sessions(capsys):
    assert cli.main(["profile", str(DATA), "--format", "sessions"]) == 0
    assert "tasks: 7" in capsys.readouterr().out
