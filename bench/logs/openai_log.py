"""OpenAI-style request/response logs (JSONL, one call per line) -> calls.

A row holds the request (`request.messages`, or top-level `messages`) and the response's `usage`
(`response.usage` or `usage`: `prompt_tokens`, `completion_tokens`,
`prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`; the Responses
API's `input_tokens`/`output_tokens`/`output_tokens_details.reasoning_tokens` too).
Times: `start_time` (or `timestamp`, `created_at`, `request_time`: Unix seconds, ms or ns, or
ISO-8601) and `end_time` (or `response_time`), else start + `latency_ms`/`duration_ms`/`latency_s`.

Rows are grouped into tasks by the field the user names (`--group-by metadata.session_id`, a dotted
path looked up in the row, then in its `metadata`, `request` and `request.metadata`); without it every row
is its own task. Tool calls are not separate rows in these logs: a response with k `tool_calls`
followed by another call of the same task gives k tool calls spanning the gap between them (the
application ran them in that gap; their own durations are not in the log). The static prefix of
a call is the run of leading messages (and the `tools` schemas) that every task's first call
shares, counted in tokens by its share of the request's characters.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.logs import jsonl
from bench.logs.calls import Call, Log
from bench.logs.timestamps import unix_s

START = ("start_time", "timestamp", "created_at", "request_time")
END = ("end_time", "response_time")
DURATION = (("latency_ms", 1e-3), ("duration_ms", 1e-3), ("latency_s", 1.0), ("duration_s", 1.0))


@dataclass
class _Row:
    task: str
    call_id: str
    start: float
    end: float
    usage: dict
    messages: list
    tools: list
    tool_calls: int
    where: str


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _group(row: dict, field: str) -> Any:
    for base in (row, row.get("metadata"), row.get("request"), _get(row, "request.metadata")):
        v = _get(base, field)
        if v is not None:
            return v
    return None


def _times(row: dict) -> tuple[float | None, float | None]:
    start = next((unix_s(row[k]) for k in START if row.get(k) is not None), None)
    end = next((unix_s(row[k]) for k in END if row.get(k) is not None), None)
    if end is None and start is not None:
        dur = next((float(row[k]) * f for k, f in DURATION if isinstance(row.get(k), (int, float))), 0.0)
        end = start + dur
    return start, end


def _tool_calls(resp: dict) -> int:
    msg = _get(resp, "choices") or []
    if msg and isinstance(msg[0], dict):
        return len(_get(msg[0], "message.tool_calls") or [])
    return sum(1 for o in resp.get("output") or [] if isinstance(o, dict) and o.get("type") == "function_call")


def _parse(row: Any, where: str, group_by: str | None, n: int, log: Log) -> _Row | None:
    if not isinstance(row, dict):
        log.skip("not a JSON object", where)
        return None
    req = row.get("request") if isinstance(row.get("request"), dict) else row
    resp = row.get("response") if isinstance(row.get("response"), dict) else row
    usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else None
    if usage is None:
        log.skip("no response usage (a failed call or a request without its response)", where)
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    output = usage.get("completion_tokens", usage.get("output_tokens"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (prompt, output)):
        log.skip("usage without integer prompt_tokens and completion_tokens", where)
        return None
    task = _group(row, group_by) if group_by else f"row{n}"
    if task is None:
        log.skip(f"no {group_by} field (the --group-by key)", where)
        return None
    start, end = _times(row)
    if start is None:
        log.skip(f"no timestamp ({', '.join(START)})", where)
        return None
    messages = req.get("messages") or req.get("input") or []
    return _Row(str(task), str(resp.get("id") or where), start, max(start, end), usage,
                messages if isinstance(messages, list) else [messages], req.get("tools") or [],
                _tool_calls(resp), where)


def _common_prefix(lists: list[list]) -> int:
    k = 0
    while lists and all(len(x) > k for x in lists) and all(x[k] == lists[0][k] for x in lists):
        k += 1
    return k


def _chars(x: Any) -> int:
    return len(json.dumps(x, sort_keys=True))


def read(path: Path, group_by: str | None = None) -> Log:
    log = Log(files=[str(path)])
    rows: list[_Row] = []
    for line in jsonl.rows(path, log.unreadable):
        log.rows += 1
        row = _parse(line.value, line.where, group_by, line.number, log)
        if row is not None:
            rows.append(row)
    tasks: dict[str, list[_Row]] = {}
    for r in sorted(rows, key=lambda r: r.start):
        tasks.setdefault(r.task, []).append(r)
    firsts = [t[0].messages for t in tasks.values()]
    shared = _common_prefix(firsts) if len(firsts) > 1 else 0
    for task, group in tasks.items():
        for i, r in enumerate(group):
            log.calls.append(_llm(r, shared))
            nxt = group[i + 1] if i + 1 < len(group) else None
            if nxt is not None:
                log.calls += [Call(task, f"{r.call_id}.tool{j}", None, r.end, max(r.end, nxt.start), "tool")
                              for j in range(r.tool_calls)]
    return log.require_calls(str(path))


def _llm(r: _Row, shared: int) -> Call:
    u = r.usage
    cached = _get(u, "prompt_tokens_details.cached_tokens")
    cached = _get(u, "input_tokens_details.cached_tokens") if cached is None else cached
    prompt = int(u.get("prompt_tokens", u.get("input_tokens")))
    total = _chars(r.messages) + _chars(r.tools)
    head = (_chars(r.messages[:shared]) + _chars(r.tools)) if shared else 0
    prefix = int(round(prompt * head / total)) if total and shared else None
    reasoning = _get(u, "completion_tokens_details.reasoning_tokens")
    reasoning = _get(u, "output_tokens_details.reasoning_tokens") if reasoning is None else reasoning
    return Call(r.task, r.call_id, None, r.start, r.end, "llm", prompt,
                int(cached) if isinstance(cached, int) else None,
                int(u.get("completion_tokens", u.get("output_tokens"))), prefix_tokens=prefix,
                reasoning_tokens=reasoning if isinstance(reasoning, int) and reasoning >= 0 else None)
