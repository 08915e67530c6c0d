"""A/B experiment on the real vLLM engine: the model as its own draft (speculative_config with a
draft model), its acceptance from vLLM's own spec-decode counters. Two engines, both kept up while
the arms interleave; each engine's counters must stay its own. A treatment identical to the
baseline shares the baseline's engine (same settings): its teacher-forced fidelity, computed
live through prompt logprobs, must be perfect."""
from __future__ import annotations

import json

import pytest

from bench import config
from bench.analysis import experiment
from bench.experiments.hooks import hooks
from bench.metrics.fidelity import TEACHER_FORCED_FILE
from bench.run import runner
from bench.results.files import read_run
from tests.helpers.vllm_present import skip_without_vllm


skip_without_vllm()

DOC = {
    "name": "exp-vllm", "model": "tiny", "seed": 2,
    "workload": {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 20, "high": 60},
                 "output_tokens": {"dist": "fixed", "value": 16}},
    "load": {"kind": "concurrency", "concurrency": 1, "requests": 6},
    "backend": {"name": "vllm", "options": {"dtype": "bfloat16", "max_model_len": 256,
                                            "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}},
    "repetitions": 2,
    "treatments": [{"name": "same", "options": {}}, {"name": "draft-self", "options": {
        "speculative_config": {"model": "tiny", "num_speculative_tokens": 3}}}],
}


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    specs = config.load_doc(json.loads(json.dumps(DOC)), "exp-vllm.yaml")
    results = runner.run_all(specs, out, hooks=hooks(print))     # as `bench run` (bench.cli.cmd_run)
    (path,) = experiment.write(results, out)
    assert [r.status for r in results] == ["complete"] * 6
    return results, json.loads(path.read_text())["experiments"][0]


def test_self_draft_acceptance_from_vllm_counters(exp):
    results, e = exp
    arm = next(a for a in e["arms"] if a["treatment"] == "draft-self")
    s = arm["spec"]
    assert s["spec_drafts"] > 0 and s["spec_draft_tokens"] == 3 * s["spec_drafts"]
    assert s["spec_acceptance_rate"] == 1.0
    assert s["spec_mean_accept_len"] == 4.0
    assert [s[f"spec_accept_rate_pos{i}"] for i in range(3)] == [1.0, 1.0, 1.0]
    assert arm["fidelity"]["fid_token_agreement"] == 1.0 and arm["fidelity"]["fid_requests"] == 12


def test_each_engine_keeps_its_own_counters(exp):
    results, e = exp
    base = next(a for a in e["arms"] if a["treatment"] == "baseline")
    assert base["spec"] == {}
    # the baseline's second run came after the draft engine started: still no drafts of its own
    engine = read_run(results[3].dir)["engine"]
    assert results[3].spec.treatment.name == "baseline" and results[3].spec.treatment.repetition == 1
    assert engine.get("spec_decode_num_drafts", 0) == 0
    assert engine["generation_tokens"] == 6 * 16
    for arm in e["arms"]:
        assert arm["kv"]["kv_cache_tokens_capacity"] > 0 and arm["kv"]["kv_cache_max_concurrency"] > 0
        assert arm["kv"]["kv_bytes_per_token"] == 2 * 2 * 2 * 64 * 2      # bf16


def test_teacher_forced_through_prompt_logprobs(exp):
    results, e = exp
    same = next(a for a in e["arms"] if a["treatment"] == "same")["fidelity"]
    assert same["tf_requests"] == 6 and same["tf_top1_agreement"] == 1.0
    assert same["tf_kl_mean"] < 1e-6
    # measured while the engines were up, kept in the arm's first run folder
    run = next(r for r in results if r.spec.treatment.name == "same")
    assert json.loads((run.dir / TEACHER_FORCED_FILE).read_text())["tf_top1_agreement"] == 1.0
    # speculative arms: not computed (the target model verifies every token)
    draft = next(a for a in e["arms"] if a["treatment"] == "draft-self")["fidelity"]
    assert "tf_top1_agreement" not in draft
