"""Workload generation without a model run: determinism, shared blocks, Zipf sharing, trace errors."""

import numpy as np
import pytest

from bench import config
from bench.errors import UserError
from bench.workloads.agentic import AgenticWorkload, stopped
from bench.workloads.chat_multiturn import ChatMultiturnWorkload
from bench.workloads.rag import RagWorkload
from bench.workloads.trace import TraceWorkload, read_trace


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    from bench.models import resolve_model
    return AutoTokenizer.from_pretrained(resolve_model("tiny"))


def make(tokenizer, file, seed=0, **over):
    params = config.resolve_workload({"file": file, **over}, "test")
    cls = {"chat_multiturn": ChatMultiturnWorkload, "rag": RagWorkload, "agentic": AgenticWorkload,
           "trace": TraceWorkload}[params.kind]
    return cls(params, tokenizer, seed)


AGENT = dict(scale=0.05, tool_latency_factor=0.1, context_limit_tokens=8192)


def test_agentic_same_seed_same_plan_and_tokens(tokenizer):
    a, b = make(tokenizer, "agentic", 3, **AGENT), make(tokenizer, "agentic", 3, **AGENT)
    c = make(tokenizer, "agentic", 4, **AGENT)
    for i in range(5):
        assert a.plan(i) == b.plan(i)          # steps, lengths, latencies, spawns, task tokens
        assert a.observation(f"a{i}", 0, 0, 50) == b.observation(f"a{i}", 0, 0, 50)
    assert [a.plan(i) for i in range(5)] != [c.plan(i) for i in range(5)]
    assert a.prefix == c.prefix or len(a.prefix) == len(c.prefix)
    plan = a.plan(0)
    assert 2 <= len(plan.steps) <= 100
    assert plan.steps[-1].tools == () and all(s.tools or s.subagents for s in plan.steps[:-1])


def test_agentic_structure_follows_its_distributions(tokenizer):
    w = make(tokenizer, "agentic", 0, scale=1.0, subagents={"probability": 0.3, "count": {"dist": "fixed", "value": 3},
                                                            "steps": {"dist": "fixed", "value": 5},
                                                            "summary_tokens": {"dist": "fixed", "value": 700}})
    plans = [w.plan(i) for i in range(200)]
    steps = np.array([len(p.steps) for p in plans])
    assert 8 <= np.median(steps) <= 16                     # lognormal median 12
    calls = [len(s.tools) for p in plans for s in p.steps if s.tools]
    assert 0.74 <= calls.count(1) / len(calls) <= 0.86     # 80% single calls
    lat = np.array([t.latency_s for p in plans for s in p.steps for t in s.tools])
    assert 0.60 <= np.mean(lat < 1.0) <= 0.80 and 0.01 <= np.mean(lat > 15) <= 0.09
    spawns = [s for p in plans for s in p.steps if s.subagents]
    assert spawns and all(len(s.subagents) == 3 for s in spawns)
    child = spawns[0].subagents[0]
    assert len(child.steps) == 5 and child.steps[-1].max_output_tokens == 700


def test_prefix_is_shared_across_tasks_and_fits(tokenizer):
    w = make(tokenizer, "agentic", 0, **AGENT)
    assert len(w.prefix) == 300 and w.threshold <= 8192 - len(w.instruction) - w.summary_tokens
    with pytest.raises(UserError, match="context_limit_tokens"):
        config.resolve_workload({"file": "agentic", "context_limit_tokens": 4096}, "test")


def test_stopped_by_eos_or_marker():
    assert stopped((5, 2, 9), eos_id=2, marker=())
    assert stopped((5, 7, 8, 9), eos_id=None, marker=(7, 8))
    assert not stopped((5, 7, 9, 8), eos_id=2, marker=(7, 8))


def test_chat_same_seed_same_conversation(tokenizer):
    a, b = make(tokenizer, "chat_multiturn", 1, scale=0.1), make(tokenizer, "chat_multiturn", 1, scale=0.1)
    assert a.session(7) == b.session(7)
    conv = a.session(7)
    assert 6 <= len(conv.turns) <= 9 and conv.turns[0].think_s == 0 and conv.turns[1].think_s > 0
    assert a.session(7) != make(tokenizer, "chat_multiturn", 2, scale=0.1).session(7)


def test_rag_same_seed_same_prompts(tokenizer):
    a, b = make(tokenizer, "rag", 5, scale=0.1), make(tokenizer, "rag", 5, scale=0.1)
    for i in range(10):
        assert a.session(i).request.prompt_token_ids == b.session(i).request.prompt_token_ids
    r = a.session(0).request
    assert len(r.meta["chunks"]) == 10 and len(set(r.meta["chunks"])) == 10
    assert r.prompt_token_ids[:len(a.system)] == a.system
    # the chunks sit right after the system prompt, in retrieval order
    body = a.system + tuple(t for c in r.meta["chunks"] for t in a.chunk(c))
    assert r.prompt_token_ids[:len(body)] == body


@pytest.mark.parametrize("s", [0.0, 0.8, 1.2])
def test_rag_chunk_sharing_follows_zipf(tokenizer, s):
    """Inclusion frequency of popularity rank r falls as r^-s (fit over ranks where k*p is small)."""
    w = make(tokenizer, "rag", 0, scale=0.1, documents=300, zipf_s=s)
    rng = np.random.default_rng(0)
    counts = np.zeros(len(w.by_rank))
    rank_of = np.argsort(w.by_rank)
    for _ in range(4000):
        for c in w.retrieve(rng):
            counts[rank_of[c]] += 1
    ranks = np.arange(30, 400)
    slope = np.polyfit(np.log(ranks + 1), np.log(counts[ranks] + 0.5), 1)[0]
    assert abs(-slope - s) < 0.15, (s, slope)
    top = counts[:10].sum() / counts.sum()
    if s >= 1.0:
        assert top > 0.1                                  # a few chunks serve a large share
    if s == 0.0:
        assert top < 0.01


def test_mooncake_shared_hash_ids_share_exact_leading_tokens(tokenizer):
    w = make(tokenizer, "mooncake", 0, scale=0.05)
    rows = w.rows
    block = w.block
    checked = 0
    by_first = {}
    for i, r in enumerate(rows):
        by_first.setdefault(r.hash_ids[0], []).append(i)
    pairs = [(g[0], j) for g in by_first.values() for j in g[1:4]][:60]
    for i, j in pairs:
            a, b = rows[i].hash_ids, rows[j].hash_ids
            k = next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            if k == 0:
                continue
            pa, pb = w.prompt(rows[i], i), w.prompt(rows[j], j)
            shared = min(k * block, len(pa), len(pb))
            assert pa[:shared] == pb[:shared]
            if k < min(len(a), len(b)):                  # the next block differs
                assert pa[k * block:(k + 1) * block] != pb[k * block:(k + 1) * block]
            checked += 1
    assert checked >= 10
    assert all(len(w.prompt(r, i)) == max(1, round(r.input_tokens * 0.05)) for i, r in enumerate(rows[:50]))


def test_trace_window_time_scale_and_lengths(tokenizer):
    w = make(tokenizer, "mooncake", 0, scale=0.02, start_s=5.0, duration_s=10.0, time_scale=0.5)
    assert w.rows and all(5.0 <= r.t_s < 15.0 for r in w.rows)
    reqs = [s.request for s in w.sessions()]
    assert len(reqs) == len(w.rows)
    assert reqs[0].scheduled_s == pytest.approx((w.rows[0].t_s - 5.0) * 0.5)
    az = make(tokenizer, "azure_code", 0, scale=0.1, count=20)
    reqs = [s.request for s in az.sessions()]
    assert len(reqs) == 20 and reqs[0].scheduled_s == 0.0
    assert reqs[1].scheduled_s == pytest.approx(0.052, abs=1e-6)   # 18:17:04.03196 - 18:17:03.97996
    assert len(reqs[0].prompt_token_ids) == round(4808 * 0.1) and reqs[0].max_output_tokens == 1


@pytest.mark.parametrize("line, message", [
    ('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0]}\n'
     '{"timestamp": 5, "input_length": -3, "output_length": 2, "hash_ids": [1]}', "2: input_length"),
    ('{"timestamp": 0, "input_length": 10}', "1: missing key 'output_length'"),
    ('{"timestamp": 0, "input_length": 10, "output_length": 2}\nnot json', "2: invalid JSON"),
    ('{"timestamp": "x", "input_length": 10, "output_length": 2}', "1: timestamp"),
    ('{"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": ["a"]}', "1: hash_ids"),
])
def test_bad_mooncake_rows_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(UserError) as err:
        config.resolve_workload({"kind": "trace", "format": "mooncake", "path": str(path)}, "test")
    assert str(err.value).startswith(f"{path}:") and message in str(err.value)


def test_bad_azure_rows_name_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10,2\n"
                    "2023-11-16 18:17:04.00,ten,2\n")
    with pytest.raises(UserError, match=r"bad.csv:3: ContextTokens"):
        read_trace("azure", str(path))
    (tmp_path / "hdr.csv").write_text("time,in,out\n1,2,3\n")
    with pytest.raises(UserError, match=r"hdr.csv:1: header"):
        read_trace("azure", str(tmp_path / "hdr.csv"))


def test_runs_section_gives_each_workload_its_own_load():
    specs = config.load("configs/workloads-cpu.yaml")
    kinds = [s.workload.kind for s in specs]
    assert kinds == ["chat_multiturn", "rag", "agentic", "trace"]
    assert specs[3].load.kind == "offline" and specs[1].load.requests == 16
    assert specs[2].load.concurrency == 4 and specs[2].workload.scale == 0.02
    with pytest.raises(UserError, match="runs: expected"):
        config.load_doc({"runs": "x", "load": {"requests": 1, "concurrency": 1}}, "c.yaml")
