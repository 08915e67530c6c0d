"""Reasoning workloads without a model: thinking lengths drawn and forced in requests, the history
policies' exact prompt structure, the prefix-cache prediction, the driver's checks, validation."""
import asyncio
import dataclasses
import textwrap

import pytest

from bench import config
from bench.errors import UserError
from bench.run.driver import thinking_error
from bench.types import Request, Sample
from bench.workloads.chat_multiturn import Conversation, Turn
from bench.workloads.thinking import ThinkMarkers, ThoughtContext, cached_prefix_tokens

M = ThinkMarkers(start=(900,), end=(901,))
SYSTEM = (1, 2, 3)


def reply(k: int, thinking: int, answer: int) -> tuple[int, ...]:
    """Turn k's output: thoughts 500+.., </think>, answer 600+.. (distinct per turn)."""
    return tuple(5000 + 100 * k + i for i in range(thinking)) + M.end + tuple(6000 + 100 * k + i for i in range(answer))


def run_conversation(policy: str, turns=3, thinking=4, answer=2) -> list[Request]:
    msgs = [tuple(7000 + 100 * k + i for i in range(3)) for k in range(turns)]
    conv = Conversation("c0", SYSTEM, tuple(Turn(m, answer, 0.0, thinking) for m in msgs), 10_000,
                        markers=M, history=policy)
    sent: list[Request] = []

    async def send(req, scheduled=None):
        sent.append(req)
        k = len(sent) - 1
        return Sample(req.id, req.task_id, 0, 0, (1,) * req.max_output_tokens, (), len(req.prompt_token_ids),
                      None, req.max_output_tokens, output_token_ids=reply(k, thinking, answer))
    asyncio.run(conv.run(send))
    return sent


def test_every_turn_opens_a_thought_and_forces_both_lengths():
    for req in run_conversation("drop"):
        assert req.prompt_token_ids[-1:] == M.start
        assert (req.thinking_tokens, req.answer_tokens, req.max_output_tokens) == (4, 2, 4 + 1 + 2)


def test_keep_extends_each_prompt_by_the_whole_previous_output():
    sent = run_conversation("keep")
    for k in range(1, len(sent)):
        prev, now = sent[k - 1].prompt_token_ids, sent[k].prompt_token_ids
        assert now[:len(prev)] == prev and now[len(prev):len(prev) + 7] == reply(k - 1, 4, 2)


def test_drop_keeps_answers_only():
    sent = run_conversation("drop")
    last = sent[-1].prompt_token_ids
    assert 900 not in last[:-1] and 901 not in last      # no earlier thought survives
    assert last == SYSTEM + (7000, 7001, 7002, 6000, 6001, 7100, 7101, 7102, 6100, 6101, 7200, 7201, 7202, 900)


def test_last_keeps_only_the_newest_thought():
    sent = run_conversation("last")
    last = sent[-1].prompt_token_ids
    assert last == SYSTEM + (7000, 7001, 7002, 6000, 6001, 7100, 7101, 7102) + M.start + reply(1, 4, 2) \
        + (7200, 7201, 7202) + M.start


def test_prefix_cache_prediction_per_policy():
    """What a block cache holding the previous prompt and its output serves the next prompt: keep
    shares all of it, drop only what came before the previous call's opened thought."""
    block = 4
    for policy, shared in (("keep", None), ("drop", len(SYSTEM) + 3)):
        sent = run_conversation(policy, turns=2)
        first, second = sent[0].prompt_token_ids, sent[1].prompt_token_ids
        held = first + reply(0, 4, 2)
        predicted = cached_prefix_tokens(held, second, block)
        lcp = len(held) if shared is None else shared
        assert predicted == lcp // block * block
    assert cached_prefix_tokens((1, 2, 3, 4), (1, 2, 3, 4), 2) == 2     # never the prompt's last token


def test_thought_context_after_compaction_style_replace():
    ctx = ThoughtContext((1,), "last", M)
    ctx.add_reply(reply(0, 2, 1), 2)
    ctx.extend((42,))
    ctx.add_reply(reply(1, 2, 1), 2)
    assert ctx.tokens == [1, 6000, 42] + list(M.start + reply(1, 2, 1))


def test_thinking_error_reasons():
    req = Request("r", (1,), 7, thinking_tokens=4, answer_tokens=2)
    assert thinking_error(req, 4, 2) is None
    assert thinking_error(req, 3, 3).startswith("thinking_mismatch: 3 thought tokens of 4")
    assert thinking_error(req, 0, None).startswith("no_reasoning")
    assert thinking_error(Request("r", (1,), 7), 0, None) is None


def test_chat_and_agentic_requests_think(tiny_tokenizer):
    from bench.workloads.agentic import AgenticWorkload
    from bench.workloads.chat import ChatWorkload

    markers = ThinkMarkers.of(tiny_tokenizer)
    p = config.resolve_workload({"kind": "chat", "input_tokens": {"dist": "fixed", "value": 5},
                                 "output_tokens": {"dist": "fixed", "value": 3},
                                 "thinking_tokens": {"dist": "uniform", "low": 0, "high": 9}}, "t")
    reqs = [ChatWorkload(p, tiny_tokenizer, 0).session(i).request for i in range(8)]
    assert all(r.prompt_token_ids[-1:] == markers.start and len(r.prompt_token_ids) == 6 for r in reqs)
    assert all(r.max_output_tokens == r.thinking_tokens + 1 + 3 and 0 <= r.thinking_tokens <= 9 for r in reqs)
    assert len({r.thinking_tokens for r in reqs}) > 1
    a = config.resolve_workload({"file": "agentic", "scale": 0.02, "context_limit_tokens": 8192,
                                 "thinking_tokens": {"dist": "fixed", "value": 350}, "thinking_history": "keep"}, "t")
    plan = AgenticWorkload(a, tiny_tokenizer, 0).plan(0)
    assert all(s.thinking_tokens == 7 for s in plan.steps)     # 350 x scale 0.02
    plain = config.resolve_workload({"file": "agentic", "scale": 0.02, "context_limit_tokens": 8192}, "t")
    assert [s.max_output_tokens for s in AgenticWorkload(plain, tiny_tokenizer, 0).plan(0).steps] == \
        [s.max_output_tokens for s in plan.steps]          # thinking draws nothing else anew


GOOD = """
name: t
model: tiny
backend: {name: vllm, options: {reasoning_parser: deepseek_r1}}
workload: {kind: chat_multiturn, turns: {dist: fixed, value: 2}, first_message_tokens: {dist: fixed, value: 8},
           user_message_tokens: {dist: fixed, value: 4}, output_tokens: {dist: fixed, value: 3},
           thinking_tokens: {dist: fixed, value: 5}, thinking_history: keep}
load: {kind: concurrency, concurrency: 1, requests: 2}
"""
BAD = {
    "history_without_thinking": (GOOD.replace("thinking_tokens: {dist: fixed, value: 5}, ", ""),
                                 "thinking_history: needs thinking_tokens"),
    "bad_policy": (GOOD.replace("history: keep", "history: some"),
                   "thinking_history: Input should be 'keep', 'drop' or 'last'"),
    "huge_thinking": (GOOD.replace("value: 5}", "value: 5000000000}"), "thinking_tokens: 5e+09 tokens"),
    "vllm_without_parser": (GOOD.replace("{reasoning_parser: deepseek_r1}", "{}"), "backend.options.reasoning_parser"),
    "openai_completions": (GOOD.replace("name: vllm, options: {reasoning_parser: deepseek_r1}", "name: openai"),
                           "backend.options.endpoint: a reasoning workload"),
    "server_without_parser": (GOOD.replace("name: vllm, options: {reasoning_parser: deepseek_r1}",
                                           "name: openai, options: {endpoint: chat}") + "server: {args: []}\n",
                              "server.args: a reasoning workload (thinking_tokens) needs"),
    "thinking_key_on_rag": (GOOD.replace("workload: {kind: chat_multiturn, turns: {dist: fixed, value: 2},",
                                         "workload: {file: rag, thinking_tokens: {dist: fixed, value: 5}}\nx: {"),
                            "thinking_tokens: unknown key"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_reasoning_config_is_one_line(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(UserError) as err:
        config.load(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_good_reasoning_config_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    spec = config.load(path)[0]
    assert spec.workload.thinking_history == "keep" and spec.workload.thinking_tokens.value == 5


def reasoning_sample(i: int, thought: int, answer: int, task: str | None = None, ok: bool = True) -> Sample:
    """Sent at 0 (+i s), a token every ms from 10 ms: thought tokens, </think>, then the answer."""
    t0 = i * 10**9
    stamps = tuple(t0 + (10 + k) * 10**6 for k in range(thought + 1 + answer))
    return Sample(f"r{i}", task, t0, t0, stamps, stamps, 5, None, len(stamps), error=None if ok else "x: y",
                  reasoning_tokens=thought, answer_tokens=answer, first_answer_ns=stamps[thought + 1])


def test_reasoning_metrics_by_hand():
    """Thought 4, marker, answer 2: first token at 10 ms, first answer token at 15 ms (TTFA),
    5 ms of thinking; a failed request counts nowhere; per task the calls' sums."""
    from bench.metrics import core, sample_values as sv
    from bench.metrics.inflation import inflation_rows
    from bench.metrics.tasks import per_task, summarize_tasks

    samples = [reasoning_sample(0, 4, 2, "t0"), reasoning_sample(1, 8, 1, "t0"),
               reasoning_sample(2, 3, 3, "t1", ok=False)]
    out = core.summarize(samples)
    assert sv.ttfa_ms(samples[0]) == 15.0 and sv.thinking_ms(samples[0]) == 5.0
    assert out["ttfa_ms_p50"] == (15 + 19) / 2 and out["ttfa_ms_n"] == 2 and out["thinking_ms_mean"] == 7.0
    assert out["ttfa_ms_p50"] >= out["ttft_ms_p50"]
    assert (out["reasoning_tokens_total"], out["answer_tokens_total"]) == (12, 3)
    assert out["output_tokens_total"] == 12 + 3 + 2                          # markers are output too
    tasks = summarize_tasks(samples, 2.0)
    assert (tasks["reasoning_tokens_per_task_mean"], tasks["answer_tokens_per_task_mean"]) == (12, 3)
    assert [(t.reasoning_tokens, t.answer_tokens) for t in per_task(samples)] == [(12, 3), (3, 3)]
    row = inflation_rows([("r", "chat", "turn", out)])[0]
    assert (row.reasoning_tokens, row.answer_tokens, row.output_tokens) == (6, 1.5, 8.5)
    plain = core.summarize([Sample("p", None, 0, 0, (5, 6), (5, 6), 3, None, 2)])
    assert "ttfa_ms_p50" not in plain and "reasoning_tokens_total" not in plain


def test_thinking_budget_and_history_policy_are_treatments():
    from bench.treatments import WORKLOAD_BUILTIN

    doc = {"name": "t", "model": "tiny", "backend": {"name": "hf"},
           "workload": {"kind": "chat_multiturn", "turns": {"dist": "fixed", "value": 2},
                        "first_message_tokens": {"dist": "fixed", "value": 8},
                        "user_message_tokens": {"dist": "fixed", "value": 4},
                        "output_tokens": {"dist": "fixed", "value": 3},
                        "thinking_tokens": {"dist": "fixed", "value": 16}},
           "load": {"kind": "concurrency", "concurrency": 1, "requests": 2},
           "treatments": ["think-64", "history-keep",
                          {"name": "think-8", "workload": {"thinking_tokens": {"value": 8}}}]}
    specs = config.load_doc(doc, "t.yaml")
    by = {s.treatment.name: s for s in specs}
    assert by["baseline"].workload.thinking_tokens.value == 16 and by["baseline"].workload.history_policy == "drop"
    assert by["think-64"].workload.thinking_tokens.value == 64 == \
        WORKLOAD_BUILTIN["think-64"]["thinking_tokens"]["value"]
    keep = by["history-keep"].workload
    assert keep.thinking_history == "keep" and keep.thinking_tokens.value == 16
    assert by["think-8"].workload.thinking_tokens.value == 8 and by["think-8"].treatment.workload
    assert by["think-8"].workload.first_message_tokens.value == 8       # the rest of the workload stays
    plain = {**doc, "workload": {**doc["workload"]}, "treatments": ["history-last"]}
    del plain["workload"]["thinking_tokens"]
    with pytest.raises(UserError) as err:
        config.load_doc(plain, "t.yaml")
    assert "thinking_history: needs thinking_tokens" in str(err.value)


def test_a_reasoning_log_profiles_into_a_thinking_workload(tmp_path):
    """Usage's reasoning tokens (chat completions and the Responses API's names) become the
    fitted workload's thinking_tokens; its output_tokens is then the answer (output - thoughts)."""
    import json as _json

    from bench.profile import fit
    from bench.profile.command import read_logs
    from bench.profile.profile import build

    rows = []
    for i, (out, thought) in enumerate([(120, 100), (60, 40), (90, 70), (30, 10)]):
        details = {"completion_tokens_details": {"reasoning_tokens": thought}} if i % 2 == 0 else \
            {"output_tokens_details": {"reasoning_tokens": thought}}
        usage = {"prompt_tokens": 200 + i, "completion_tokens": out, **details}
        rows.append({"start_time": 1000.0 + 10 * i, "end_time": 1001.0 + 10 * i,
                     "request": {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]},
                     "response": {"id": f"c{i}", "usage": usage}})
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(_json.dumps(r) for r in rows) + "\n")
    p = build(read_logs([str(path)]))
    assert sorted(p.values["reasoning_tokens"]) == [10, 40, 70, 100]
    assert sorted(p.values["step_answer_tokens"]) == [20, 20, 20, 20]
    params, fits = fit.workload(p)
    assert params["kind"] == "chat" and params["output_tokens"] == {"dist": "fixed", "value": 20.0}
    assert params["thinking_tokens"]["dist"] in ("lognormal", "empirical")
    out = fit.write(str(tmp_path / "fitted.yaml"), params, fits, p, [str(path)])
    text = out.read_text()
    assert "thinking_tokens:" in text and "thought tokens per call" in text
    assert config.resolve_workload({"file": str(out)}, "t").thinking_tokens is not None


def test_a_model_without_think_tokens_is_a_one_line_error_at_load(tmp_path, tiny_path):
    import json as _json
    import shutil

    folder = tmp_path / "plain-model"
    shutil.copytree(tiny_path, folder)
    tok = _json.loads((folder / "tokenizer.json").read_text())
    tok["added_tokens"] = [t for t in tok["added_tokens"] if "think" not in t["content"]]
    (folder / "tokenizer.json").write_text(_json.dumps(tok))
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("model: tiny", f"model: {folder}"))
    with pytest.raises(UserError) as err:
        config.load(path)
    assert "workload.thinking_tokens: the model's tokenizer has no single token for <think>" in str(err.value)
    assert "\n" not in str(err.value)


def test_ttfa_ms_is_an_slo_key():
    """ttfa_ms holds a threshold like ttft_ms: per request (the summaries' columns and one
    sample at a time agree), per task (its worst call), relative in a capacity search; a plain
    stream answers from its first token, a thought with no answer token at its end."""
    from bench.config import SLO_KEYS, SLOSpec
    from bench.metrics import core, sample_values as sv
    from bench.metrics import slo as slo_rules

    assert "ttfa_ms" in SLO_KEYS
    assert SLOSpec.model_validate({"ttfa_ms": "3x"}).relative() == {"ttfa_ms": 3.0}
    assert "ttfa_ms" not in SLOSpec(ttft_ms=5).model_dump()       # run.json's slo as before when unset
    with pytest.raises(ValueError, match="is not a threshold"):
        SLOSpec.model_validate({"ttfa_ms": 0})
    # TTFT 10 ms each; TTFA 15, 19 ms (thoughts 4, 8); a plain stream (TTFA = TTFT = 10 ms); a thought
    # of 3 with no answer token (ends at 13 ms)
    t3 = 3 * 10**9
    stamps = tuple(t3 + (10 + k) * 10**6 for k in range(4))          # 3 thought tokens and </think>
    no_answer = Sample("r3", None, t3, t3, stamps, stamps, 5, None, 4, reasoning_tokens=3, answer_tokens=0)
    samples = [reasoning_sample(0, 4, 2), reasoning_sample(1, 8, 1),
               Sample("p", None, 5 * 10**9, 5 * 10**9, (5 * 10**9 + 10**7, 5 * 10**9 + 2 * 10**7),
                      (5 * 10**9 + 10**7, 5 * 10**9 + 2 * 10**7), 3, None, 2), no_answer]
    assert [sv.ttfa_slo_ms(s) for s in samples] == [15.0, 19.0, 10.0, 13.0]
    for limit, met in ((16.0, 3), (19.0, 4), (12.0, 1)):
        assert sum(core.meets_slo(s, {"ttfa_ms": limit}) for s in samples) == met
        out = core.summarize(samples, {"ttfa_ms": limit})
        assert out["slo_attainment"] == met / 4, (limit, out["slo_attainment"])
        assert out["ttft_ms_p50"] == 10.0                       # TTFT met by all: the answer is what misses
    # a task's value is its worst call's; a capacity probe's attainment counts tasks
    task = [dataclasses.replace(s, task_id="t") for s in samples[:2]]
    assert slo_rules.unit_value(task, "ttfa_ms") == 19.0
    assert slo_rules.attainment(task, {"ttfa_ms": 18.0}, tasks=True) == (0, 1)
    assert slo_rules.attainment(task, {"ttfa_ms": 19.0}, tasks=True) == (1, 1)


def test_thought_counts_reach_otel_spans_and_profile_back(tmp_path):
    """`bench export-otel` puts each split call's thought count in the GenAI conventions'
    gen_ai.usage.reasoning.output_tokens (with the answer count and TTFA); `bench profile` reads
    it back, so a run's spans profile into a thinking workload. A plain call has none of them."""
    import json as _json

    from bench import cli
    from bench.profile.command import read_logs
    from bench.profile.profile import build
    from tests.helpers.synth import write_run

    samples = []
    for k in range(3):                   # 3 tasks of 2 steps: thoughts 4 and 8, answers 2 and 1
        for j, (thought, answer) in enumerate(((4, 2), (8, 1))):
            s = reasoning_sample(2 * k + j, thought, answer, f"t{k}")
            samples.append(dataclasses.replace(s, request_id=f"t{k}-{j}", meta={"step": j}))
    plain = Sample("p", "t9", 9 * 10**9, 9 * 10**9, (9 * 10**9 + 10**7,), (9 * 10**9 + 10**7,), 3, None, 1)
    run_dir = write_run(tmp_path / "runs", "r1", samples + [plain], workload="agentic")
    out = tmp_path / "spans.jsonl"
    assert cli.main(["export-otel", str(run_dir), "--out", str(out)]) == 0
    chats = {}
    for line in out.read_text().splitlines():
        span = _json.loads(line)
        attrs = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
        if attrs["gen_ai.operation.name"] == "chat":
            chats[attrs["bench.request_id"]] = attrs
    assert chats["t0-0"]["gen_ai.usage.reasoning.output_tokens"] == "4"          # OTLP/JSON ints are strings
    assert chats["t0-0"]["gen_ai.usage.output_tokens"] == "7"                   # thought + </think> + answer
    assert chats["t0-0"]["bench.usage.answer_tokens"] == "2" and chats["t0-0"]["bench.ttfa_ms"] == 15.0
    assert chats["t2-1"]["gen_ai.usage.reasoning.output_tokens"] == "8"
    assert not {"gen_ai.usage.reasoning.output_tokens", "bench.ttfa_ms"} & set(chats["p"])
    p = build(read_logs([str(out)]))
    assert sorted(p.values["reasoning_tokens"]) == [4, 4, 4, 8, 8, 8]
