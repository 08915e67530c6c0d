"""Reading recorded agent sessions for replay: the session format, OTel GenAI spans (our own
export's layout) and TraceLab round logs, each into agents of calls with prefix block ids."""
import json

import pytest

from bench import config
from bench.errors import UserError
from bench.logs import agent_sessions
from bench.workloads.agent_replay import AgentReplayParams, AgentReplayWorkload, Prompts, continued
from tests.helpers.profile_logs import app_log
from tests.helpers.paths import DATA as TEST_DATA

DATA = TEST_DATA / "agent_sessions"


def test_session_file_calls_and_sub_agents():
    a = agent_sessions.read_session(DATA / "trace_0274_head.json", 0)
    kids = [x for x in a.items if isinstance(x, agent_sessions.Agent)]
    assert len(kids) == 3 and len(a.calls) == 5
    raw = json.loads((DATA / "trace_0274_head.json").read_text())["requests"]
    sub = raw[1]
    # a sub-agent's t is when it returned; it started duration_ms earlier
    assert kids[0].start_s == pytest.approx(sub["t"] - sub["duration_ms"] / 1000)
    assert kids[0].end_s == sub["t"] and len(kids[0].calls) == len(sub["requests"])
    assert a.calls[1].think_s == raw[4]["think_time"]


def test_tracelab_rounds(tmp_path):
    rounds = [{"session_id": "x", "input_tokens_total": 1000, "prefix_tokens": 0, "newly_append_tokens": 1000,
               "output_tokens": 50, "tools": [{"tool_wall_latency_ms": 1500}, {"tool_wall_latency_ms": 500}]},
              {"session_id": "x", "input_tokens_total": 1300, "prefix_tokens": 1050, "newly_append_tokens": 250,
               "output_tokens": 20, "tools": []},
              {"session_id": "y", "input_tokens_total": 200, "prefix_tokens": 0, "newly_append_tokens": 200,
               "output_tokens": 5}]
    p = tmp_path / "rounds.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rounds) + "\n")
    x, y = agent_sessions.read([p], "auto")
    c0, c1 = x.calls
    assert (c0.in_tokens, c0.out_tokens, c1.in_tokens, c1.out_tokens) == (1000, 50, 1300, 20)
    assert c1.think_s == 2.0 and c1.t_s == 2.0              # the two tools, one after the other
    assert c0.hash_ids == tuple(range(1, 16))               # 1000 // 64 blocks
    assert c1.hash_ids[:15] == c0.hash_ids and len(c1.hash_ids) == 1300 // 64
    assert len(y.calls) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rounds[0], "output_tokens": "many"}) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:1: output_tokens"):
        agent_sessions.read([bad], "tracelab")


def test_otel_export_layout_becomes_sessions(tmp_path):
    app_log(tmp_path / "app.jsonl", n_tasks=5)
    sessions = agent_sessions.read([tmp_path / "app.jsonl"], "auto")
    assert len(sessions) == 5
    for s in sessions:
        calls = s.calls
        assert len(calls) >= 2 and all(b.t_s > a.t_s for a, b in zip(calls, calls[1:]))
        # each step resent the previous prompt: its blocks lead the next call's
        for k in range(1, len(calls)):
            assert continued(calls, k) == k - 1


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    from bench.models import resolve_model
    return AutoTokenizer.from_pretrained(resolve_model("tiny"))


def test_prompts_keep_block_ids_and_lengths(tokenizer):
    p = config.resolve_workload({"kind": "agent_replay", "path": str(DATA / "trace_0598.json"), "scale": 0.05}, "t")
    w = AgentReplayWorkload(AgentReplayParams.model_validate(p), tokenizer, 0)
    agent = w.agents[0]
    prompts, built = Prompts(w, "s0"), []
    for k, c in enumerate(agent.calls):
        tokens, shared = prompts.build(agent, k, ())
        assert len(tokens) == max(1, round(c.in_tokens * 0.05))
        built.append((tokens, shared))
    for k in range(1, len(agent.calls)):
        a, b = agent.calls[k - 1].hash_ids, agent.calls[k].hash_ids
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        end = prompts.pos(agent, same)
        assert built[k][0][:end] == built[k - 1][0][:end]          # shared ids: the same tokens
        assert built[k][1] == end                                  # and nothing more is shared
        if end < len(built[k - 1][0]):
            assert built[k][0][end] != built[k - 1][0][end]
    # another session's same ids are other tokens (ids are local to a session)
    assert Prompts(w, "s1").build(agent, 0, ())[0][:20] != built[0][0][:20]
