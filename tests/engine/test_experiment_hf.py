"""A/B experiment end to end on the real HF backend (tiny model): an identical treatment, the model
as its own draft, a different-seed draft and a 2-bit quantized KV cache, arms interleaved."""
from __future__ import annotations

import json

import pytest

from bench import config
from bench.analysis import experiment
from bench.analysis import report
from bench.run import runner
from bench.results import store
from bench.results.files import read_run


CONST_DRAFT = {"num_assistant_tokens": 3, "num_assistant_tokens_schedule": "constant",
               "assistant_confidence_threshold": 0}
DOC = {
    "name": "exp-hf", "model": "tiny", "seed": 1,
    "workload": {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 20, "high": 60},
                 "output_tokens": {"dist": "fixed", "value": 16}},
    "load": {"kind": "concurrency", "concurrency": 1, "requests": 8, "warmup": 1},
    "backend": {"name": "hf", "options": {"max_batch_size": 1, "torch_threads": 1}},
    "repetitions": 2,
    "treatments": [
        {"name": "same", "options": {}},
        {"name": "draft-self", "options": {"assistant_model": "tiny", "assistant_generation": CONST_DRAFT}},
        {"name": "draft-s1", "options": {"assistant_model": "tiny-s1", "assistant_generation": CONST_DRAFT}},
        {"name": "kv-quanto2", "options": {"generate_kwargs": {
            "cache_implementation": "quantized", "cache_config": {"backend": "quanto", "nbits": 2}}}},
    ],
}


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    specs = config.load_doc(json.loads(json.dumps(DOC)), "exp-hf.yaml")
    results = runner.run_all(specs, out)
    (path,) = experiment.write(results, out)     # what `bench run` does next (bench.cli.cmd_run)
    assert [r.status for r in results] == ["complete"] * 10
    return results, json.loads(path.read_text())["experiments"][0], out


def _arm(e, name):
    return next(a for a in e["arms"] if a["treatment"] == name)


def test_identical_treatment_gets_no_verdict(exp):
    _, e, _ = exp
    same = _arm(e, "same")
    assert {r["metric"] for r in same["effects"]} >= {"tpot_ms_p50", "e2e_ms_p50", "output_tok_s"}
    for row in same["effects"]:
        assert row["verdict"] not in ("regression", "improvement"), row
        assert row["ci_low"] < 1 < row["ci_high"] or row["ci_low"] <= row["ratio"] <= row["ci_high"]
    f = same["fidelity"]
    assert f["fid_token_agreement"] == 1.0 and f["fid_requests"] == 16
    assert f["tf_top1_agreement"] == 1.0 and f["tf_kl_mean"] == pytest.approx(0, abs=1e-9)


def test_model_as_its_own_draft_accepts_everything(exp):
    _, e, _ = exp
    a = _arm(e, "draft-self")
    assert a["spec"]["spec_acceptance_rate"] == 1.0
    assert a["spec"]["spec_mean_accept_len"] == 4.0          # 3 drafts accepted + the target's token
    assert a["fidelity"]["fid_token_agreement"] == 1.0
    assert "tf_kl_mean" not in a["fidelity"]                  # speculative arm: not computed, by design


def test_different_seed_draft_accepts_little(exp):
    _, e, _ = exp
    a = _arm(e, "draft-s1")
    assert a["spec"]["spec_acceptance_rate"] < 0.3
    assert a["spec"]["spec_mean_accept_len"] < 2
    assert a["fidelity"]["fid_token_agreement"] == 1.0        # verification keeps greedy output exact


def test_quantized_kv_cache_costs_fidelity_and_bytes(exp):
    _, e, _ = exp
    a, base = _arm(e, "kv-quanto2"), _arm(e, "baseline")
    assert a["kv"]["kv_bytes_per_token"] == base["kv"]["kv_bytes_per_token"] / 16   # 2 bits vs float32
    assert a["fidelity"]["tf_kl_mean"] > 1e-6
    assert 0 < a["fidelity"]["tf_top1_agreement"] <= 1
    assert a["spec"] == {} and base["spec"] == {}


def test_runs_carry_their_arm_and_the_report_shows_effects(exp, tmp_path):
    results, e, out = exp
    metas = [read_run(r.dir) for r in results]
    assert [store.treatment_name(m) for m in metas[:5]] == [None, "same", "draft-self", "draft-s1", "kv-quanto2"]
    files = sorted(out.glob("*.experiment.json"))
    sec = report.effects_section(store.find_runs([out]), files)
    assert sec is not None and len(sec.rows[1]) == sum(len(a.get("effects", [])) for a in e["arms"])
    # without the file, the report derives the same rows the same way (bench.analysis.experiment)
    again = report.effects_section(store.find_runs([out]))
    assert again is not None and again.rows == sec.rows
    text = experiment.render([e])
    assert "draft-self" in text and "accept" in text and "not judged" in text
