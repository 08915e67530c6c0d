"""OpenTelemetry GenAI spans (JSON or JSONL) -> calls.

Accepted layouts, detected per file or line:
- OTLP/JSON as exported by the collector's file exporter: `{"resourceSpans": [{"scopeSpans":
  [{"spans": [...]}]}]}` (one document per file, or one per line), spans with `traceId`, `spanId`,
  `parentSpanId`, `startTimeUnixNano`, `endTimeUnixNano` and `attributes` as `[{key, value}]`;
- spans one per line (or a JSON list of them) in that same span shape, as `bench export-otel` writes;
- the Python SDK's console/JSON layout: `context: {trace_id, span_id}`, `parent_id`, ISO
  `start_time`/`end_time` and `attributes` as a mapping.

A task is a trace. `gen_ai.operation.name` says what a span is: `chat`, `text_completion`,
`generate_content` (or any span with `gen_ai.usage.*` tokens) is an LLM call, `execute_tool` a
tool call, `invoke_agent`/`create_agent` an agent. Other spans are kept only as structure (the
parent chain goes through them) and counted as not used. An LLM call's thought tokens (of its
output) come from `gen_ai.usage.reasoning.output_tokens` (or OpenLLMetry's `gen_ai.usage.reasoning_tokens`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from bench.logs import jsonl
from bench.logs.calls import Call, Log
from bench.logs.timestamps import unix_s

LLM_OPS = {"chat", "text_completion", "generate_content"}
AGENT_OPS = {"invoke_agent", "create_agent"}
INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHED = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
          "gen_ai.usage.cached_tokens")
# Thought tokens of the output: the GenAI conventions' name, then OpenLLMetry's.
REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")


def _attr_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in v:
            return int(v[key]) if key == "intValue" else v[key]
    if "arrayValue" in v:
        return [_attr_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def _attrs(span: dict) -> dict[str, Any]:
    a = span.get("attributes") or {}
    if isinstance(a, list):
        return {x.get("key"): _attr_value(x.get("value")) for x in a if isinstance(x, dict)}
    return dict(a) if isinstance(a, dict) else {}


def _nanos(v: Any) -> float | None:
    try:
        return int(v) / 1e9 if not isinstance(v, bool) else None
    except (TypeError, ValueError):
        return None


def _span_times(span: dict) -> tuple[float | None, float | None]:
    """OTLP's `*UnixNano` fields are nanoseconds whatever their size; other layouts are guessed."""
    if "startTimeUnixNano" in span or "endTimeUnixNano" in span:
        return _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    return unix_s(span.get("start_time")), unix_s(span.get("end_time"))


def _hex(v: Any) -> str | None:
    if not isinstance(v, str) or not v.strip():
        return None
    v = v.strip().lower()
    return v[2:] if v.startswith("0x") else v


def _ids(span: dict) -> tuple[str | None, str | None, str | None]:
    ctx = span.get("context") if isinstance(span.get("context"), dict) else {}
    trace = span.get("traceId") or span.get("trace_id") or ctx.get("trace_id")
    sid = span.get("spanId") or span.get("span_id") or ctx.get("span_id")
    parent = span.get("parentSpanId") or span.get("parent_span_id") or span.get("parent_id")
    return _hex(trace), _hex(sid), _hex(parent)


def _spans(doc: Any) -> Iterator[dict]:
    if isinstance(doc, list):
        for x in doc:
            yield from _spans(x)
    elif isinstance(doc, dict) and "resourceSpans" in doc:
        for rs in doc.get("resourceSpans") or []:
            for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
                yield from (s for s in ss.get("spans") or [])
    elif isinstance(doc, dict):
        yield doc


def _documents(path: Path, log: Log) -> Iterator[tuple[str, Any]]:
    try:
        yield str(path), json.loads(path.read_text())
        return
    except json.JSONDecodeError:
        pass
    for line in jsonl.rows(path, log.unreadable):
        yield line.where, line.value


def _first(attrs: dict, keys: tuple[str, ...]) -> Any:
    return next((attrs[k] for k in keys if attrs.get(k) is not None), None)


def _kind(attrs: dict) -> str | None:
    op = attrs.get("gen_ai.operation.name")
    if op in LLM_OPS or (op is None and _first(attrs, INPUT + OUTPUT) is not None):
        return "llm"
    return {"execute_tool": "tool", **{a: "agent" for a in AGENT_OPS}}.get(op)


def read(path: Path) -> Log:
    log = Log(files=[str(path)])
    spans: dict[tuple[str, str], dict] = {}   # (trace, span) -> what we know
    for where, doc in _documents(path, log):
        for span in _spans(doc):
            log.rows += 1
            if not isinstance(span, dict):
                log.skip("not a span object", where)
                continue
            trace, sid, parent = _ids(span)
            if not trace or not sid:
                log.skip("no trace id or span id", where)
                continue
            attrs = _attrs(span)
            start, end = _span_times(span)
            spans[(trace, sid)] = {"parent": parent, "attrs": attrs, "start": start, "end": end,
                                   "where": where, "kind": _kind(attrs), "name": span.get("name", "")}
    for (trace, sid), s in spans.items():
        call = _call(trace, sid, s, spans, log)
        if call is not None:
            log.calls.append(call)
    return log.require_calls(str(path))


def _agent_parent(trace: str, parent: str | None, spans: dict) -> str | None:
    seen = set()
    while parent and (trace, parent) in spans and parent not in seen:
        seen.add(parent)
        p = spans[(trace, parent)]
        if p["kind"] == "agent":
            return parent
        parent = p["parent"]
    return None


def _int_attr(v: Any) -> int | None:
    try:
        return int(v) if v is not None and int(v) >= 0 else None
    except (TypeError, ValueError):
        return None


def _call(trace: str, sid: str, s: dict, spans: dict, log: Log) -> Call | None:
    kind, attrs, where = s["kind"], s["attrs"], s["where"]
    if kind is None:
        op = attrs.get("gen_ai.operation.name")
        log.skip(f"not a GenAI call span (operation {op!r}; kept as structure only)" if op else
                 "not a GenAI span (no gen_ai.operation.name; kept as structure only)", where)
        return None
    if s["start"] is None or s["end"] is None:
        log.skip("no start or end time", where)
        return None
    if s["end"] < s["start"]:
        log.skip("ends before it starts", where)
        return None
    prompt = output = 0
    cached = reasoning = None
    if kind == "llm":
        prompt, output = _int_attr(_first(attrs, INPUT)), _int_attr(_first(attrs, OUTPUT))
        if prompt is None or output is None:
            log.skip("LLM span without gen_ai.usage.input_tokens and output_tokens", where)
            return None
        cached = _int_attr(_first(attrs, CACHED))
        reasoning = _int_attr(_first(attrs, REASONING))
    return Call(task_id=trace, call_id=sid, parent=_agent_parent(trace, s["parent"], spans),
                start_s=s["start"], end_s=s["end"], kind=kind, prompt_tokens=prompt, cached_tokens=cached,
                output_tokens=output, label=str(attrs.get("bench.call_kind") or ""), reasoning_tokens=reasoning)
