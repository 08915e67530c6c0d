"""A thinking-budget A/B on the real HF backend (tiny model, in process: no engine start): the
larger budget thinks and outputs more per task and takes longer per task, and the experiment
judges thought tokens per task (named in `judge`) with a verdict. Forced thinking lengths make that
count the same in every run, so the verdict must fire (a difference with no spread is certain).
Two repetitions of 4 two-step tasks per arm thinking 16 vs 64 tokens a step (and a discarded
warm-up run of each arm)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench import config
from bench.analysis import experiment
from bench.run import runner

STEPS, ANSWER = 2, 8
DOC = {
    "name": "think-budget", "model": "tiny", "seed": 0,
    "backend": {"name": "hf", "options": {"max_batch_size": 2, "torch_threads": 1}},
    "workload": {"kind": "agentic", "prefix_tokens": 60, "task_tokens": {"dist": "fixed", "value": 20},
                 "steps": {"dist": "fixed", "value": STEPS}, "output_tokens": {"dist": "fixed", "value": ANSWER},
                 "thinking_tokens": {"dist": "fixed", "value": 16},
                 "observation_tokens": {"dist": "fixed", "value": 10},
                 "tool_latency": [{"weight": 1, "latency_s": {"dist": "fixed", "value": 0.005}}],
                 "compaction": {"instruction_tokens": 10, "summary_tokens": 16}, "context_limit_tokens": 2048},
    "load": {"kind": "concurrency", "concurrency": 2, "requests": 4, "warmup": 1},
    "repetitions": 2,
    "treatments": ["think-64"],
    "judge": ["reasoning_tokens_per_task_mean", "task_latency_ms_p50"],
}


@pytest.fixture(scope="module")
def budget(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    results = runner.run_all(config.load_doc(json.loads(json.dumps(DOC)), "think-budget.yaml"), out)
    (path,) = experiment.write(results, out)
    assert [r.status for r in results] == ["complete"] * 4
    return results, json.loads(path.read_text())["experiments"][0]


def test_a_larger_budget_thinks_more_and_takes_longer_per_task(budget):
    results, _ = budget
    by_arm: dict[str, list[dict]] = {}
    for r in results:
        assert all(s.ok for s in r.samples()), [s.error for s in r.samples() if not s.ok][:1]
        by_arm.setdefault(r.spec.treatment.name, []).append(r.summary)
    for arm, thought in (("baseline", 16), ("think-64", 64)):
        for s in by_arm[arm]:       # exactly what was forced, in every run
            assert s["reasoning_tokens_per_task_mean"] == STEPS * thought
            assert s["output_tokens_per_task_mean"] == STEPS * (thought + 1 + ANSWER)     # + </think>
    base = np.mean([s["task_latency_ms_p50"] for s in by_arm["baseline"]])
    more = np.mean([s["task_latency_ms_p50"] for s in by_arm["think-64"]])
    assert more > base, (base, more)


def test_thought_tokens_per_task_get_a_verdict(budget):
    _, e = budget
    assert e["judged"][-2:] == ["reasoning_tokens_per_task_mean", "task_latency_ms_p50"]
    (arm,) = [a for a in e["arms"] if a["treatment"] == "think-64"]
    rows = {r["metric"]: r for r in arm["effects"]}
    tok = rows["reasoning_tokens_per_task_mean"]
    assert tok["ratio"] == pytest.approx(4) and tok["ci_low"] == pytest.approx(4) == tok["ci_high"]
    assert tok["verdict"] == "regression" and tok["paired"]           # more thought per task costs more
    lat = rows["task_latency_ms_p50"]
    assert lat["ratio"] > 1 and lat["verdict"] != "not judged"        # judged (noise may leave it inconclusive)
    assert rows["e2e_ms_p50"]["verdict"] == "not judged"
    text = experiment.render([e])
    assert "reasoning_tokens_per_task_mean" in text and "regression" in text
