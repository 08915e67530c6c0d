"""Task metrics and token inflation from tiny hand-made samples (times in ns, checkable by hand)."""
import pytest

from bench.metrics.inflation import inflation_rows
from bench.metrics.definitions import metric_for
from bench.metrics.tasks import per_task, summarize_tasks, union_ns
from bench.types import Sample


def sample(rid, task, sent, end, prompt=10, out=2, cached=None, wait=None, error=None):
    meta = {"wait_kind": "tool", "wait_start_ns": wait[0], "wait_end_ns": wait[1]} if wait else {}
    return Sample(request_id=rid, task_id=task, scheduled_ns=sent, sent_ns=sent,
                  token_ns=(end - 1, end) if not error else (), chunk_ns=(end - 1, end), prompt_tokens=prompt,
                  cached_prompt_tokens=cached, output_tokens=out if not error else 0, error=error, meta=meta)


MS = 1_000_000


def test_union_of_intervals():
    assert union_ns([(0, 10), (5, 20), (30, 40), (40, 41)]) == 31
    assert union_ns([]) == 0


def test_task_time_splits_into_model_tools_and_client():
    # step 1: 0-100 ms; tool 100-300 ms; step 2 sent at 305 (5 ms client lag), ends 400
    t = per_task([sample("a.s0", "a", 0, 100 * MS, prompt=100, out=5),
                  sample("a.s1", "a", 305 * MS, 400 * MS, prompt=300, out=7, wait=(100 * MS, 300 * MS))])[0]
    assert t.latency_ms == 400 and t.calls == 2
    assert t.model_ms == 195 and t.tool_ms == 200 and t.client_ms == pytest.approx(5)
    assert (t.prompt_tokens, t.output_tokens, t.cached_prompt_tokens) == (400, 12, None)


def test_parallel_subagents_count_model_time_once():
    # two children in flight together 10-50 and 20-60 ms; a child's tool 50-70 overlaps the other's call
    t = per_task([sample("p", "a", 0, 10 * MS), sample("c0", "a", 10 * MS, 50 * MS),
                  sample("c1", "a", 20 * MS, 60 * MS, wait=(50 * MS, 70 * MS)), sample("p2", "a", 70 * MS, 80 * MS)])[0]
    assert t.model_ms == 70 and t.tool_ms == 10 and t.client_ms == 0 and t.latency_ms == 80


def test_summary_goodput_and_failed_tasks():
    samples = [sample("a0", "a", 0, 100 * MS, cached=4), sample("a1", "a", 100 * MS, 200 * MS, cached=6),
               sample("b0", "b", 0, 500 * MS, cached=0),
               sample("c0", "c", 0, 50 * MS, error="BackendError: boom"),
               sample("r", None, 0, 10 * MS)]  # not in a task
    out = summarize_tasks(samples, duration_s=2.0, slo={"task_latency_ms": 300})
    assert out["tasks"] == 3 and out["tasks_completed"] == 2 and out["task_error_rate"] == pytest.approx(1 / 3)
    assert out["tasks_s"] == 1.0 and out["goodput_task_s"] == 0.5 and out["task_slo_attainment"] == pytest.approx(1 / 3)
    assert out["task_latency_ms_p50"] == 350 and out["calls_per_task_mean"] == 1.5
    assert out["cached_prompt_tokens_per_task_mean"] == 5 and out["prompt_tokens_per_task_mean"] == 15
    assert summarize_tasks([sample("r", None, 0, 1)], 1.0) == {}
    assert metric_for("task_latency_ms_p99").higher_is_better is False
    assert metric_for("goodput_task_s").higher_is_better is True


def test_inflation_per_unit_and_ratio_to_chat_turn():
    chat = {"completed": 10, "prompt_tokens_total": 1000, "output_tokens_total": 200}
    rag = {"completed": 4, "prompt_tokens_total": 2000, "output_tokens_total": 40}
    agent = {"tasks_completed": 2, "calls_per_task_mean": 12, "prompt_tokens_per_task_mean": 11_000,
             "output_tokens_per_task_mean": 1_000}
    rows = inflation_rows([("chat", "chat_multiturn", "turn", chat), ("rag", "rag", "query", rag),
                           ("agent", "agentic", "task", agent), ("empty", "rag", "query", {"completed": 0})])
    assert [r.run for r in rows] == ["chat", "rag", "agent"]
    assert rows[0].total_tokens == 120 and rows[0].vs_baseline == 1.0
    assert rows[1].total_tokens == 510 and rows[1].vs_baseline == pytest.approx(4.25)
    assert rows[2].calls == 12 and rows[2].vs_baseline == pytest.approx(100)
    no_chat = inflation_rows([("rag", "rag", "query", rag), ("agent", "agentic", "task", agent)])
    assert no_chat[0].vs_baseline == 1.0   # the smallest row is the baseline without a chat turn
