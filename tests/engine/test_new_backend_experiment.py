"""A new backend measured in an A/B experiment is its file plus one registry line.

tests/helpers/loop_backend.py (a real greedy decode loop over the tiny model with transformers, not part
of the package) is registered by one line and run through `bench run` with three treatments: the
same settings, a bfloat16 model and KV cache, and prompt-lookup speculation. KV bytes per token,
acceptance and fidelity reach the experiment file because the backend declares what it can report
(bench.backends.base.Backend), not because anything tests its name. The experiment file is derived
from the run folders alone: `bench experiment DIR` recreates it.
"""
from __future__ import annotations

import json

import pytest
import yaml

from bench import cli, registry
from bench.metrics.fidelity import TEACHER_FORCED_FILE
from bench.results.files import read_run


PER_ELEMENT = 2 * 2 * 2 * 64           # K and V x 2 layers x 2 kv heads x head_dim 64 (tiny)
DOC = {
    "name": "exp-loop", "model": "tiny", "seed": 3,
    "workload": {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 20, "high": 40},
                 "output_tokens": {"dist": "fixed", "value": 24}},
    "load": {"kind": "concurrency", "concurrency": 1, "requests": 4, "warmup": 1},
    "backend": {"name": "loop"},
    "treatments": [{"name": "same", "options": {}},
                   {"name": "kv-bf16", "options": {"dtype": "bfloat16"}},
                   {"name": "lookup", "options": {"lookup_tokens": 3}}],
}


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp-loop")
    (tmp / "exp-loop.yaml").write_text(yaml.safe_dump(DOC))
    registry.register_backend("loop", "tests.helpers.loop_backend:LoopBackend")      # the one line
    try:
        rc = cli.main(["run", str(tmp / "exp-loop.yaml"), "--results-dir", str(tmp / "results"),
                       "--no-progress"])
    finally:
        registry.BACKENDS.pop("loop")
    [path] = (tmp / "results").glob("*.experiment.json")
    return rc, json.loads(path.read_text())["experiments"][0], tmp / "results"


def _arm(e, name):
    return next(a for a in e["arms"] if a["treatment"] == name)


def test_the_experiment_ran_every_arm(exp):
    rc, e, _ = exp
    assert rc == 0 and e["backend"] == "loop"
    assert [a["treatment"] for a in e["arms"]] == ["baseline", "same", "kv-bf16", "lookup"]
    assert {r["metric"] for r in _arm(e, "kv-bf16")["effects"]} >= {"tpot_ms_p50", "output_tok_s"}


def test_kv_bytes_per_token_follow_the_declared_element_size(exp):
    _, e, _ = exp
    assert _arm(e, "baseline")["kv"]["kv_bytes_per_token"] == PER_ELEMENT * 4       # float32
    assert _arm(e, "kv-bf16")["kv"]["kv_bytes_per_token"] == PER_ELEMENT * 2
    assert _arm(e, "lookup")["kv"]["kv_bytes_per_token"] == PER_ELEMENT * 4


def test_live_teacher_forced_fidelity(exp):
    _, e, _ = exp
    same, bf16 = _arm(e, "same")["fidelity"], _arm(e, "kv-bf16")["fidelity"]
    assert same["fid_token_agreement"] == 1.0 and same["fid_requests"] == 4
    assert same["tf_top1_agreement"] == 1.0 and same["tf_kl_mean"] == pytest.approx(0, abs=1e-9)
    assert bf16["tf_requests"] == 4 and 0 < bf16["tf_top1_agreement"] <= 1
    assert bf16["tf_kl_mean"] > 0       # bfloat16 rounding moves the next-token distributions


def test_acceptance_from_the_backends_own_counters(exp):
    _, e, _ = exp
    arm = _arm(e, "lookup")
    s = arm["spec"]
    assert s["spec_drafts"] > 0 and s["spec_draft_tokens"] <= 3 * s["spec_drafts"]
    assert 0 <= s["spec_acceptance_rate"] <= 1
    assert s["spec_mean_accept_len"] == pytest.approx(1 + s["spec_accepted_tokens"] / s["spec_drafts"])
    # greedy verification keeps the baseline's tokens; no teacher-forced pass for a speculative arm
    assert arm["fidelity"]["fid_token_agreement"] == 1.0
    assert "tf_top1_agreement" not in arm["fidelity"]
    assert _arm(e, "baseline")["spec"] == {}


def test_run_folders_carry_the_arm_and_nothing_written_after_the_run(exp):
    _, e, results = exp
    runs = {d.name: read_run(d) for d in results.iterdir() if d.is_dir()}
    bf16 = next(r for r in runs.values() if r["config"]["treatment"]["name"] == "kv-bf16")
    assert bf16["config"]["treatment"]["experiment"] == e["experiment"]
    # what the analysis derives lives in the experiment file, never added to run.json afterwards
    assert not {"kv", "fidelity", "treatment_effects", "experiment_file", "inflation"} & set().union(*runs.values())
    # the live teacher-forced pass, measured while the engines were up, sits in the arm's own folder
    first = _arm(e, "kv-bf16")["runs"][0]
    assert json.loads((results / first / TEACHER_FORCED_FILE).read_text())["tf_requests"] == 4


def test_bench_experiment_recreates_the_file_from_the_run_folders(exp, capsys):
    _, e, results = exp
    [path] = results.glob("*.experiment.json")
    before = json.loads(path.read_text())
    path.unlink()
    registry.register_backend("loop", "tests.helpers.loop_backend:LoopBackend")
    try:
        assert cli.main(["experiment", str(results)]) == 0
    finally:
        registry.BACKENDS.pop("loop")
    [again] = results.glob("*.experiment.json")
    assert again.name == path.name and json.loads(again.read_text()) == before
    assert "kv-bf16" in capsys.readouterr().out
