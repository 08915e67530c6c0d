"""`bench export-otel RUN --out FILE`: a run's samples as OpenTelemetry GenAI spans (JSONL, one
span per line in the OTLP/JSON span shape), for tracing tools and for `bench profile`.

Per task (samples sharing a task_id; a request-level sample is its own task) one trace:
- an `invoke_agent` span for the task (start: its first send, end: its last token), and one for
  each sub-agent (`meta.agent` like `a3.s5.c1`) under the task's span;
- a `chat` span per LLM call ([sent, last token]) under its agent's span, with
  `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`
  (when the backend reported it), `gen_ai.request.max_tokens`, `bench.step` and, for a compaction
  call, `bench.call_kind: compaction`; a failed call has status ERROR and `error.type`; a call
  whose stream was split in thought and answer (docs/reasoning.md) also has
  `gen_ai.usage.reasoning.output_tokens` (the GenAI conventions' name: thought tokens, counted in
  output_tokens), `bench.usage.answer_tokens` and `bench.ttfa_ms` (time to first answer token);
- `execute_tool` spans for the tool calls of a step (`meta.tool_calls` of it), each covering the
  recorded tool wait (`wait_start_ns`..`wait_end_ns` on the request that followed): the harness
  records when the parallel group ended, not each tool, so each span has the group's duration.
Times: the driver's monotonic clock, anchored so that the run's first send is `started_at` of
run.json (Unix time); durations and gaps are exact, the absolute time is as good as that anchor.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from bench.metrics import sample_values as sv
from bench.results import store
from bench.types import Sample


def _id(n_hex: int, *parts) -> str:
    return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=n_hex // 2).hexdigest()


def _attrs(d: dict) -> list[dict]:
    out = []
    for k, v in d.items():
        if v is None:
            continue
        key = "boolValue" if isinstance(v, bool) else "intValue" if isinstance(v, int) else \
            "doubleValue" if isinstance(v, float) else "stringValue"
        out.append({"key": k, "value": {key: str(v) if key == "intValue" else v}})
    return out


def _span(trace: str, sid: str, parent: str | None, name: str, start: int, end: int, attrs: dict,
          error: str | None = None) -> dict:
    span = {"traceId": trace, "spanId": sid, "parentSpanId": parent or "", "name": name,
            "kind": 3 if name.startswith("chat") else 1, "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end), "attributes": _attrs(attrs)}
    if error:
        span["status"] = {"code": 2, "message": error}
    return span


def _agent_of(s: Sample) -> str:
    return str(s.meta.get("agent") or s.task_id or s.request_id)


def task_spans(run_id: str, task: str, samples: list[Sample], to_unix, model: str) -> list[dict]:
    trace = _id(32, run_id, task)
    root = _id(16, run_id, task, "task")
    agents: dict[str, list[Sample]] = {}
    for s in samples:
        agents.setdefault(_agent_of(s), []).append(s)
    root_agent = min(agents, key=len)   # the task's own loop has the shortest path (a3 vs a3.s5.c1)
    spans = [_span(trace, root, None, f"invoke_agent {task}", to_unix(min(s.sent_ns for s in samples)),
                   to_unix(max(s.end_ns for s in samples)),
                   {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": task})]
    for path, group in agents.items():
        sid = root if path == root_agent else _id(16, run_id, task, path)
        if path != root_agent:
            spans.append(_span(trace, sid, root, f"invoke_agent {path}", to_unix(min(s.sent_ns for s in group)),
                               to_unix(max(s.end_ns for s in group)),
                               {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": path}))
        spans += _calls(run_id, trace, sid, group, to_unix, model)
    return spans


def _reasoning(s: Sample) -> dict:
    """A split stream's thought and answer counts and its time to first answer (none for a
    stream the backend did not split)."""
    if s.answer_tokens is None:
        return {}
    ttfa = sv.ttfa_ms(s)
    return {"gen_ai.usage.reasoning.output_tokens": int(s.reasoning_tokens or 0),
            "bench.usage.answer_tokens": int(s.answer_tokens), "bench.ttfa_ms": None if ttfa is None else float(ttfa)}


def _calls(run_id: str, trace: str, agent_span: str, group: list[Sample], to_unix, model: str) -> list[dict]:
    spans = []
    by_step = {(s.meta.get("step"), s.meta.get("kind")): s for s in group}
    for s in sorted(group, key=lambda s: s.sent_ns):
        compaction = s.meta.get("kind") == "compaction"
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "bench", "gen_ai.request.model": model,
                 "gen_ai.usage.input_tokens": int(s.prompt_tokens), "gen_ai.usage.output_tokens": int(s.output_tokens),
                 "gen_ai.usage.cache_read.input_tokens": s.cached_prompt_tokens, "bench.request_id": s.request_id,
                 "bench.step": s.meta.get("step"), "bench.call_kind": "compaction" if compaction else None,
                 "error.type": s.error.split(":")[0] if s.error else None, **_reasoning(s)}
        spans.append(_span(trace, _id(16, run_id, s.request_id), agent_span, f"chat {model}", to_unix(s.sent_ns),
                           to_unix(s.end_ns), attrs, s.error))
        if s.meta.get("wait_kind") != "tool":
            continue
        step = s.meta.get("step")
        prev = by_step.get((step if compaction else (step or 0) - 1, None))
        for j in range(int(prev.meta.get("tool_calls", 1)) if prev else 1):
            spans.append(_span(trace, _id(16, run_id, s.request_id, "tool", j), agent_span, "execute_tool",
                               to_unix(int(s.meta["wait_start_ns"])), to_unix(int(s.meta["wait_end_ns"])),
                               {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"tool{j}",
                                "bench.parallel_group": True}))
    return spans


def export(run: store.Run, out: Path) -> int:
    """Write the run's measured samples (warm-up excluded) as spans; returns the span count."""
    samples = run.samples()
    if not samples:
        from bench.errors import UserError
        raise UserError(str(run.dir), "no measured samples to export")
    t0 = min(s.sent_ns for s in samples)
    anchor = int(float(run.meta.get("started_at") or 0) * 1e9)
    to_unix = lambda ns: anchor + (ns - t0)  # noqa: E731
    tasks: dict[str, list[Sample]] = {}
    for s in samples:
        tasks.setdefault(s.task_id or s.request_id, []).append(s)
    model = str(run.meta["config"].get("model") or "?")
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w") as f:
        for task, group in tasks.items():
            for span in task_spans(run.run_id, task, group, to_unix, model):
                f.write(json.dumps(span) + "\n")
                n += 1
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder, run_id or a unique part of it")
    p.add_argument("--out", required=True)
    p.add_argument("--results-dir", default="results")


def main(args: argparse.Namespace) -> int:
    run = store.resolve(args.run, args.results_dir)
    n = export(run, Path(args.out))
    print(f"{args.out}: {n} spans from {run.run_id}")
    return 0
