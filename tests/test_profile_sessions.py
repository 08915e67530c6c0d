"""`bench profile` of the 240 recorded coding-agent sessions reproduces the statistics quoted in
../shared/traces/README.md and issue 15, within their rounding; and the session reader's shape
on a small session checkable by hand."""
import json
import tarfile
from pathlib import Path

import pytest

from bench import cli
from bench.profile.command import read_logs
from bench.profile.profile import build, quantiles

DEV = Path(__file__).resolve().parents[2] / "shared" / "traces" / "agentic" / "cc_traces_dev.tar.xz"
DATA = Path(__file__).parent / "data" / "agent_sessions"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    if not DEV.exists():
        pytest.skip("the 240 recorded dev sessions (../shared/traces/agentic beside the checkout) "
                    "are not on this machine")
    d = tmp_path_factory.mktemp("cc")
    with tarfile.open(DEV) as tar:
        tar.extractall(d, filter="data")
    return build(read_logs([str(d / "traces")]))


def q(p, name):
    return quantiles(p.values[name])


@pytest.mark.engine   # reads all 240 recorded sessions (slow, not an engine)
def test_dev_sessions_statistics_as_published(dev):
    assert dev.tasks == 240 and len(dev.values["step_prompt_tokens"]) == 15_442
    steps = q(dev, "steps_per_task")                       # calls per session (its own loop)
    assert round(steps["p50"]) == 41 and round(steps["p90"]) == 151
    prompt = q(dev, "step_prompt_tokens")
    assert round(prompt["p50"] / 1000) == 104 and round(prompt["p90"] / 1000) == 213
    out = q(dev, "output_tokens")
    assert round(out["p50"]) == 216 and round(out["p90"]) == 869
    new = q(dev, "new_context_tokens")                     # prompt(k+1) - prompt(k) - output(k)
    assert round(new["p50"]) == 295 and round(new["p90"], -1) == 2950
    assert round(dev.repeated_prefix_share, 2) == 0.96
    think = q(dev, "think_s")
    assert round(think["p50"]) == 10 and round(think["p90"]) == 136
    assert dev.tasks_with_subagents == 9 and len(dev.values["subagent_steps"]) == 31


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
