"""Treatment expansion, verdict directions and the metric math of experiments, from records
checkable by hand (no engine): KV bytes, acceptance from counters and chunks, greedy fidelity."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import config, registry
from bench.analysis.runsets import NO_DRIFT
from bench.analysis import experiment
from bench.metrics import fidelity
from bench.metrics import kv as kv_metrics
from bench.metrics import speculative as spec_metrics
from bench.analysis import stats
from bench.errors import UserError
from bench.types import Sample

DOC = {"name": "t", "model": "tiny", "workload": {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
                                                   "output_tokens": {"dist": "fixed", "value": 4}},
       "load": {"kind": "concurrency", "requests": 4}, "matrix": {"load.concurrency": [1, 4]},
       "backend": {"name": "hf", "options": {"generate_kwargs": {"top_k": 5}, "max_batch_size": 2}}}


def _specs(**extra):
    return config.load_doc({**DOC, **extra}, "t.yaml")


def test_arms_interleave_per_load_point_and_merge_options():
    specs = _specs(repetitions=2, treatments=[
        {"name": "quant", "options": {"generate_kwargs": {"cache_implementation": "static"}}}, "spec-ngram"])
    got = [(s.load.concurrency, s.treatment.repetition, s.treatment.name) for s in specs]
    arms = ["baseline", "quant", "spec-ngram"]
    assert got == [(c, r, a) for c in (1, 4) for r in (0, 1) for a in arms]
    quant = specs[1].backend.options
    assert quant["generate_kwargs"] == {"top_k": 5, "cache_implementation": "static"}   # deep-merged
    assert quant["max_batch_size"] == 2
    assert specs[2].backend.options["generate_kwargs"] == {"top_k": 5, "prompt_lookup_num_tokens": 3}
    assert specs[0].backend.options == DOC["backend"]["options"]
    assert {s.treatment.experiment for s in specs} == {"t#0"}
    assert "treatment=quant" in specs[1].label and "rep=1" in specs[4].label


def test_runs_entries_are_separate_experiments():
    doc = {**DOC, "backend": "hf", "runs": [{"treatments": ["static-cache"]},
                                            {"backend": {"name": "vllm"}, "treatments": ["kv-fp8"]}]}
    specs = config.load_doc(doc, "t.yaml")
    assert [s.treatment.experiment for s in specs] == ["t#0"] * 4 + ["t#1"] * 4
    assert specs[-1].backend.options == {"kv_cache_dtype": "fp8"}


@pytest.mark.parametrize("extra, msg", [
    ({"treatments": ["kv-fp8"]}, "not a built-in treatment for backend 'hf'"),
    ({"treatments": [{"name": "baseline"}]}, "reserved"),
    ({"treatments": [{"name": "a"}, {"name": "a"}]}, "appears twice"),
    ({"treatments": [{"name": "a", "opts": {}}]}, "treatments[0].opts: unknown key"),
    ({"treatments": [{"name": "a", "options": {"max_batch_size": 0}}]}, "backend.options.max_batch_size"),
    ({"repetitions": 0}, "repetitions"),
    ({"treatments": []}, "non-empty list"),
])
def test_bad_treatments_are_one_line_errors(extra, msg):
    with pytest.raises(UserError) as err:
        _specs(**extra)
    assert msg in str(err.value) and "\n" not in str(err.value)


def _sample(i: int, sent_ms: float, ttft_ms: float, gap_ms: float, n: int = 5, ids=None) -> Sample:
    sent = int(sent_ms * 1e6)
    tokens = tuple(sent + int((ttft_ms + k * gap_ms) * 1e6) for k in range(n))
    return Sample(f"r{i}", None, sent, sent, tokens, tokens, 10, None, n, tuple(ids or range(n)))


def _run(ttft_ms: float, gap_ms: float, jitter: float = 0.0, n_req: int = 40) -> list[Sample]:
    """Requests one after another (concurrency 1); small deterministic spread between them."""
    out, t = [], 0.0
    for i in range(n_req):
        wobble = 1 + jitter * ((i * 7) % 5 - 2) / 2
        s = _sample(i, t, ttft_ms * wobble, gap_ms * wobble)
        out.append(s)
        t = (s.token_ns[-1]) / 1e6
    return out


def test_verdict_respects_each_metric_direction():
    base = [_run(20, 10, 0.05)] * 2                       # two repetitions per arm: verdicts allowed
    faster, slower = [_run(10, 5, 0.05)] * 2, [_run(40, 20, 0.05)] * 2
    for treat, expect in ((faster, "improvement"), (slower, "regression")):
        rows = {r["metric"]: r for r in experiment._effects("x", 1, base, treat, {})}
        for key in ("ttft_ms_p50", "tpot_ms_p50", "output_tok_s"):           # the verdict family
            assert rows[key]["verdict"] == expect, (key, rows[key])
        for key in ("e2e_ms_p50", "request_s"):                               # shown, not judged
            assert rows[key]["verdict"] == "not judged" and rows[key]["ci_low"] is not None
        # lower latency and higher throughput are both "improvement": ratios go opposite ways
        assert (rows["tpot_ms_p50"]["ratio"] < 1) == (rows["output_tok_s"]["ratio"] > 1)
    assert stats.verdict(-20, -25, -15, higher_better=False) == "improvement"
    assert stats.verdict(-20, -25, -15, higher_better=True) == "regression"


def test_identical_runs_give_no_verdict():
    base, same = [_run(20, 10, 0.2)] * 2, [_run(20, 10, 0.2)] * 2
    for row in experiment._effects("same", 1, base, same, {}):
        assert row["verdict"] in ("equivalent", "not judged"), row
        assert row["ratio"] == pytest.approx(1.0)


def test_one_repetition_per_arm_gives_no_verdict():
    rows = experiment._effects("x", 1, [_run(20, 10, 0.05)], [_run(40, 20, 0.05)], {})
    assert rows and all(r["verdict"] == NO_DRIFT for r in rows if r["ci_low"] is not None)


def test_zero_spread_arms_get_a_verdict():
    """Forced lengths make a token count the same in every run: a difference with no spread is
    certain (interval = the point), no spread and no difference is equivalent; never a crash."""
    from bench.analysis import verdicts

    base = stats.Change("reasoning_tokens_per_task_mean", 192.0, 768.0, None, None, None, "")
    a, b = np.full(3, 192.0), np.full(3, 768.0)
    for paired in (True, False):
        c = verdicts.judge(base, a, b, paired, 0.05 / 6, stats.MIN_EFFECT_PCT)
        assert c.verdict == "regression" and c.change_pct == pytest.approx(300)      # fewer is better
        assert c.ci_low_pct == pytest.approx(300) and c.ci_high_pct == pytest.approx(300)
        assert c.mde_pct == pytest.approx(0, abs=1e-9)
        assert verdicts.judge(base, b, a, paired, 0.05, stats.MIN_EFFECT_PCT).verdict == "improvement"
        assert verdicts.judge(base, a, a.copy(), paired, 0.05, stats.MIN_EFFECT_PCT).verdict == "equivalent"
    one = verdicts.judge(base, a[:1], b, False, 0.05, stats.MIN_EFFECT_PCT)      # one run against a steady side
    assert one.verdict == "regression"


def _task_run(thought: int, step_ms: float, tasks: int = 4, steps: int = 3, wobble: float = 0.0) -> list[Sample]:
    """Tasks one after another, `steps` calls each thinking `thought` tokens then answering 2."""
    out, t = [], 0
    for k in range(tasks):
        for j in range(steps):
            n = thought + 1 + 2
            gap = int(step_ms * (1 + wobble * ((k + j) % 3 - 1)) * 1e6 / n)
            stamps = tuple(t + (i + 1) * gap for i in range(n))
            out.append(Sample(f"t{k}-{j}", f"t{k}", t, t, stamps, stamps, 10, None, n, reasoning_tokens=thought,
                              answer_tokens=2, first_answer_ns=stamps[thought + 1]))
            t = stamps[-1]
    return out


def test_an_experiment_judges_the_keys_its_config_names():
    """`judge` adds keys to the family: thought tokens per task (no spread: certain) and task
    latency get verdicts; without it they are shown, not judged."""
    specs = _specs(repetitions=2, treatments=["spec-ngram"], judge=["task_latency_ms_p50",
                                                                    "reasoning_tokens_per_task_mean"])
    assert all(s.treatment.judge == ["task_latency_ms_p50", "reasoning_tokens_per_task_mean"] for s in specs)
    assert "judge" not in _specs(repetitions=2, treatments=["spec-ngram"])[0].treatment.model_dump()
    base = [_task_run(64, 100, wobble=0.02), _task_run(64, 104, wobble=0.03)]
    treat = [_task_run(256, 380, wobble=0.02), _task_run(256, 400, wobble=0.03)]
    extra = ("reasoning_tokens_per_task_mean", "task_latency_ms_p50")
    rows = {r["metric"]: r for r in experiment._effects("think-256", 1, base, treat, {}, True, extra)}
    tok = rows["reasoning_tokens_per_task_mean"]
    assert (tok["baseline"], tok["value"]) == (192, 768) and tok["ratio"] == pytest.approx(4)
    assert tok["verdict"] == "regression"
    assert tok["ci_low"] == pytest.approx(4) and tok["ci_high"] == pytest.approx(4)
    assert rows["task_latency_ms_p50"]["ratio"] > 3 and rows["task_latency_ms_p50"]["verdict"] == "regression"
    assert rows["ttft_ms_p50"]["verdict"] != "not judged" and rows["e2e_ms_p50"]["verdict"] == "not judged"
    assert rows["ttft_ms_p50"]["ci_level"] == pytest.approx(1 - 0.05 / 5)          # five judged together
    plain = {r["metric"]: r for r in experiment._effects("think-256", 1, base, treat, {}, True)}
    assert plain["reasoning_tokens_per_task_mean"]["verdict"] == "not judged"
    assert "reasoning_tokens_per_task_mean" in experiment.stats_rule(extra)


@pytest.mark.parametrize("extra,msg", [
    ({"judge": ["ttft_ms_p50"]}, "judge: only an A/B experiment judges"),
    ({"treatments": ["spec-ngram"], "judge": "ttft_ms_p50"}, "judge: 'ttft_ms_p50': expected a non-empty list"),
    ({"treatments": ["spec-ngram"], "judge": ["ttft_ms_p50", "ttft_ms_p50"]}, "appears twice"),
    ({"treatments": ["spec-ngram"], "judge": ["ttft"]}, "judge[0]: 'ttft' cannot be judged (not a summary key"),
    ({"treatments": ["spec-ngram"], "judge": ["tasks_s", "answer_tokens_p50"]},
     "judge[1]: 'answer_tokens_p50' cannot be judged (neither direction is better)"),
])
def test_bad_judge_keys_are_one_line_errors(extra, msg):
    with pytest.raises(UserError) as err:
        _specs(**extra)
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_fp8_kv_bytes_are_half_of_bf16(tiny_path):
    cfg = json.loads((Path(tiny_path) / "config.json").read_text())
    per_elem = 2 * 2 * 2 * 64                       # K and V, 2 layers, 2 kv heads, head_dim 64
    vllm, hf_ = registry.backend_class("vllm"), registry.backend_class("hf")   # what each declares
    bf16 = kv_metrics.kv_bytes_per_token(cfg, vllm, {"dtype": "bfloat16"})
    assert bf16 == per_elem * 2
    for dtype in ("fp8", "fp8_e4m3", "fp8_e5m2", "int8_per_token_head"):
        assert kv_metrics.kv_bytes_per_token(cfg, vllm, {"dtype": "bfloat16", "kv_cache_dtype": dtype}) == bf16 / 2
    assert kv_metrics.kv_bytes_per_token(cfg, vllm, {"dtype": "bfloat16",
                                                     "kv_cache_dtype": "int4_per_token_head"}) == bf16 / 4
    hf = kv_metrics.kv_bytes_per_token(cfg, hf_, {})                # float32 on the CPU
    q4 = kv_metrics.kv_bytes_per_token(cfg, hf_, {"generate_kwargs": {
        "cache_implementation": "quantized", "cache_config": {"backend": "quanto", "nbits": 4}}})
    assert (hf, q4) == (per_elem * 4, per_elem / 2)


def test_acceptance_from_vllm_counters():
    engine = {"spec_decode_num_drafts": 10, "spec_decode_num_draft_tokens": 30,
              "spec_decode_num_accepted_tokens": 15, "spec_decode_num_accepted_tokens_per_pos.0": 8,
              "spec_decode_num_accepted_tokens_per_pos.1": 5, "spec_decode_num_accepted_tokens_per_pos.2": 2}
    m = spec_metrics.from_engine(engine)
    assert m["spec_acceptance_rate"] == 0.5 and m["spec_mean_accept_len"] == 2.5
    assert (m["spec_accept_rate_pos0"], m["spec_accept_rate_pos1"], m["spec_accept_rate_pos2"]) == (0.8, 0.5, 0.2)
    assert spec_metrics.from_engine({"spec_decode_num_drafts": 0}) == {}


def test_acceptance_from_hf_chunks():
    # chunks of 4, 4, 2 and a final 1: three verification steps count (the last one is cut short)
    stamps = (1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4)
    s = Sample("r0", None, 0, 0, stamps, (1, 2, 3, 4), 5, None, len(stamps))
    m = spec_metrics.from_chunks([s], fixed_draft_len=3)
    assert m["spec_mean_accept_len"] == pytest.approx(10 / 3)
    assert m["spec_acceptance_rate"] == pytest.approx((10 / 3 - 1) / 3)
    assert "spec_acceptance_rate" not in spec_metrics.from_chunks([s], fixed_draft_len=None)
    opts = {"assistant_model": "tiny", "assistant_generation": {
        "num_assistant_tokens": 3, "num_assistant_tokens_schedule": "constant", "assistant_confidence_threshold": 0}}
    assert spec_metrics.fixed_draft_len(opts) == 3
    assert spec_metrics.fixed_draft_len({"assistant_model": "tiny"}) is None


def test_greedy_fidelity_matches_by_request_id():
    base = [_sample(0, 0, 1, 1, 4, (1, 2, 3, 4)), _sample(1, 0, 1, 1, 4, (5, 6, 7, 8)),
            _sample(2, 0, 1, 1, 4, (9, 9, 9, 9))]
    treat = [_sample(1, 0, 1, 1, 4, (5, 6, 0, 8)), _sample(0, 0, 1, 1, 4, (1, 2, 3, 4)),
             _sample(3, 0, 1, 1, 4, (1, 1, 1, 1))]           # r3 has no baseline: not compared
    m = fidelity.greedy(base, treat)
    assert m["fid_requests"] == 2 and m["fid_diverged"] == 1
    assert m["fid_token_agreement"] == 7 / 8
    assert m["fid_prefix_agreement"] == (1 + 2 / 4) / 2
    assert m["fid_exact_match_rate"] == 0.5 and m["fid_first_divergence_mean"] == 2


def test_topk_kl_and_forced_top1():
    same = {1: -0.1, 2: -2.5, 3: -4.0}
    assert fidelity.topk_kl(same, same) == 0.0
    # the treatment moves mass from token 1 to 2; token 4 is listed by the treatment only
    moved = {2: -0.1, 1: -2.5, 4: -5.0}
    kl = fidelity.topk_kl(same, moved)
    assert kl > 1.0
    m = fidelity.forced_metrics([[same, same]], [[same, moved]], [(1, 1)])
    assert m["tf_top1_agreement"] == 0.5 and m["tf_kl_mean"] == pytest.approx(kl / 2)
    assert m["tf_requests"] == 1.0


def test_repetitions_without_treatments_repeat_the_sweep_interleaved():
    specs = _specs(repetitions=3)
    assert [(s.load.concurrency, s.repetition) for s in specs] == [(c, r) for r in range(3) for c in (1, 4)]
    assert all(s.treatment is None for s in specs) and specs[3].label == "concurrency=4,rep=1"
    with_arms = _specs(repetitions=2, treatments=["spec-ngram"])
    assert [s.repetition for s in with_arms] == [s.treatment.repetition for s in with_arms]


def test_a_repeated_suite_warms_each_config_up_with_one_discarded_run_first():
    from bench.run.runner import warm_up_first
    specs = _specs(repetitions=3)
    assert [warm_up_first(s, specs) for s in specs] == [True, True, False, False, False, False]
    once = _specs()
    assert not any(warm_up_first(s, once) for s in once)
    suite = specs + [s.model_copy(update={"name": "other"}) for s in once]     # a suite of both
    assert [warm_up_first(s, suite) for s in suite] == [True, True] + [False] * 6
