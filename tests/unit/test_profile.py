"""`bench profile` on small hand-written logs whose profile is worked out by hand (comments)."""
import json

import numpy as np
import pytest

from bench import cli
from bench.errors import UserError
from bench.profile import fit
from bench.profile.command import read_logs
from bench.profile.profile import build
from tests.helpers.synth import write_run
from tests.helpers.paths import DATA as TEST_DATA

DATA = TEST_DATA / "profile"


def profile_of(name, **kw):
    return build(read_logs([str(DATA / name)], **kw))


def test_otel_spans_give_the_call_tree():
    p = profile_of("otel_agent.jsonl")
    v = p.values
    # trace a: 3 steps (prompts 100, 130, 170); trace b: 2 root steps and a sub-agent of 2 steps
    assert p.tasks == 2 and p.llm_calls == 7 and p.tool_calls == 4
    assert sorted(v["steps_per_task"]) == [2, 3] and sorted(v["calls_per_task"]) == [3, 4]
    # growth: a 130-100-10=20, 170-130-10=30; b root 113-100-5=8 (the summary); child 131-105-6=20
    assert sorted(v["context_growth_tokens"]) == [8, 20, 20, 30]
    # per tool: 20/1, 30/2 (two parallel tools), child 20/1; the spawning step has no tools
    assert sorted(v["observation_tokens"]) == [15, 20, 20]
    assert sorted(v["tool_s"]) == pytest.approx([0.5, 0.5, 0.6, 1.0])
    assert sorted(v["tool_wait_s"]) == pytest.approx([0.5, 0.5, 1.1])
    assert dict(p.fan_out) == {1: 1, 2: 1} and p.spawn_probability == pytest.approx(1 / 3)
    assert list(v["subagent_steps"]) == [2] and list(v["subagent_summary_tokens"]) == [8]
    assert p.cached_share == pytest.approx(240 / 400)          # cached 0+100+140 of prompts 100+130+170
    # no content, first-call cache counts only in one trace: the smallest first prompt, 100
    assert p.prefix_tokens == 100
    # repeated: a 100+110+140, b 100+105, child 100+111 of 849 prompt tokens
    assert p.repeated_prefix_share == pytest.approx(766 / 849)
    assert p.log.skipped == {"invalid JSON (Expecting value)": 1, "LLM span without gen_ai.usage.input_tokens "
                             "and output_tokens": 1, "not a GenAI span (no gen_ai.operation.name; kept as "
                             "structure only)": 1}


def test_otel_python_sdk_layout():
    p = profile_of("otel_sdk.json")
    # one task: 400 -> 40 out, a 3 s tool, then 540: growth 540-400-40 = 100
    assert p.tasks == 1 and list(p.values["steps_per_task"]) == [2]
    assert list(p.values["context_growth_tokens"]) == [100] and list(p.values["tool_s"]) == [3.0]
    assert list(p.values["task_duration_s"]) == [9.0]


def test_openai_log_grouped_by_session():
    p = profile_of("openai_sessions.jsonl", group_by="session_id")
    v = p.values
    assert p.tasks == 3 and sorted(v["steps_per_task"]) == [1, 2, 3]
    assert list(v["context_growth_tokens"]) == [40, 40, 40]   # 260-200-20, 330-260-30, 250-200-10
    # tool calls from the responses' tool_calls, timed by the gap to the next call: s1 2.0 s (1 tool),
    # 2.5 s (2 tools), s2 1.0 s (end = start + latency_ms 500 for its second call is not used)
    assert sorted(v["tool_s"]) == pytest.approx([1.0, 2.0, 2.5, 2.5])
    assert sorted(v["observation_tokens"]) == [20, 40, 40]
    assert dict(p.fan_out) == {1: 2, 2: 1}
    # s1 880, s2 470 tokens; the single-call session s3 200: (880+470)/2 / 200
    assert p.inflation == pytest.approx(3.375)
    assert p.cached_share == pytest.approx(460 / 790)
    # prefix: the system message every first call shares, by its share of the request's characters
    row = json.loads((DATA / "openai_sessions.jsonl").read_text().splitlines()[0])
    msgs = row["request"]["messages"]
    share = len(json.dumps(msgs[:1], sort_keys=True)) / len(json.dumps(msgs, sort_keys=True))
    firsts = [200, 200, 150]
    assert p.prefix_source.startswith("the log's content")
    assert min(firsts) * share - 1 <= p.prefix_tokens <= max(firsts) * share + 1
    assert p.log.skipped == {"no session_id field (the --group-by key)": 1,
                             "no response usage (a failed call or a request without its response)": 1}


def test_mooncake_and_azure_through_the_trace_readers():
    p = profile_of("mooncake.jsonl")
    assert p.tasks == 4 and list(p.values["prompt_tokens"]) == [1500, 1400, 300, 2000]
    # shared leading blocks of 512: row 2 shares [1, 2], row 4 shares [1, 2, 3]
    assert p.repeated_prefix_share == pytest.approx((2 * 512 + 3 * 512) / 5200)
    assert list(p.log.skipped.values()) == [1] and "output_length" in next(iter(p.log.skipped))
    a = profile_of("azure.csv")
    assert list(a.values["prompt_tokens"]) == [1000, 3000, 500] and list(a.values["output_tokens"]) == [10, 30, 5]
    assert a.log.first_skip == {"ContextTokens, GeneratedTokens: expected integers": f"{DATA / 'azure.csv'}:3"}


def test_unusable_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"usage": {"prompt_tokens": 1}}\n{"messages": []}\n')
    with pytest.raises(UserError, match="no usable LLM calls"):
        read_logs([str(bad)])
    assert cli.main(["profile", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}:1" in err and "usage without integer" in err
    assert cli.main(["profile", str(tmp_path / "missing.jsonl")]) == 2


def test_fit_families():
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(200), 0.8, 400)
    f = fit.fit(x)
    assert f.dist["dist"] == "lognormal" and f.ks_p > 0.01
    assert f.dist["median"] == pytest.approx(200, rel=3 * 1.2533 * 0.8 / 20)
    assert fit.fit([5, 5, 5]).dist == {"dist": "fixed", "value": 5.0}
    assert fit.fit([0, 1, 2, 3]).dist["dist"] == "empirical"
    assert fit.fit([1, 2, 2, 1, 2, 1, 1, 2]).dist["dist"] == "empirical"      # few repeating counts
    u = fit.fit(rng.uniform(0, 1, 2000) + 1, integer=False)                  # far from lognormal
    assert u.dist["dist"] == "empirical" and "KS" in u.family


def test_cli_writes_workload_report_and_json(tmp_path, capsys):
    out, html = tmp_path / "w" / "mine.yaml", tmp_path / "p.html"
    assert cli.main(["profile", str(DATA / "openai_sessions.jsonl"), "--group-by", "session_id",
                     "--write-workload", str(out), "--report", str(html)]) == 0
    text = out.read_text()
    assert "kind: agentic" in text and "# tool latency (s): lognormal by MLE" in text
    from bench import config
    w = config.resolve_workload({"file": str(out)}, "test")
    assert w.tool_calls_per_step == {1: pytest.approx(2 / 3, abs=1e-3), 2: pytest.approx(1 / 3, abs=1e-3)}
    page = html.read_text()
    assert "Token-usage profile" in page and "observation_tokens" in page and "data:image/png" in page
    capsys.readouterr()
    assert cli.main(["profile", str(DATA / "mooncake.jsonl"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["distributions"]["prompt_tokens"]["n"] == 4 and d["skipped"]


def _task_sweep_point(root, c: int, rate: float, n: int = 40):
    """Tasks of one 100-token call each, sent 1/rate apart, each lasting 1/rate: tasks_s == rate."""
    from bench.types import Sample
    t0, gap = 10**12, int(1e9 / rate)
    samples = [Sample(f"t{i}.s0", f"t{i}", t0 + i * gap, t0 + i * gap, (t0 + i * gap + gap // 2, t0 + (i + 1) * gap),
                      (t0 + (i + 1) * gap,), 98, None, 2) for i in range(n)]
    write_run(root, f"run-c{c}", samples, load={"kind": "concurrency", "concurrency": c, "requests": n},
              slo={"task_latency_ms": 1000.0}, started_at=c)
    return 1000 / rate


def test_forecast_from_a_profile(tmp_path, capsys):
    assert _task_sweep_point(tmp_path, 1, 10.0) == 100 and _task_sweep_point(tmp_path, 2, 20.0) == 50
    # every load meets task_latency_ms_p99 <= 1000: capacity is the highest point, 20 tasks/s;
    # 180,000 tasks/hour = 50/s -> ceil(50 / 20) = 3 replicas x $2 = $6/hour -> $6 / 180,000 per task
    assert cli.main(["profile", str(DATA / "otel_agent.jsonl"), "--forecast-from", str(tmp_path),
                     "--tasks-per-hour", "180000", "--price-per-gpu-hour", "2",
                     "--slo", "task_latency_ms_p99=1000"]) == 0
    out = capsys.readouterr().out
    assert "180000 tasks/hour need 3 replica(s) at these SLOs, costing $3.333e-05 per task ($6/hour)" in out
    assert "warning: the sweep's tasks carry" in out          # 100 tokens per task vs 469 in the log
