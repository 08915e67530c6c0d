"""Recorded agent sessions -> one shape: agents (a loop of LLM calls) that may start sub-agents.

Three sources:
- the agentic session format (one JSON file per session; callanjfox/agentic-coding-analysis,
  docs/TRACE_FORMAT.md): calls with `in`, `out`, `hash_ids` (one id per full `block_size`-token
  block of the prompt), `t`, `api_time`, `think_time`; a sub-agent entry's `t` is when it
  returned (its `duration_ms` earlier it started) and its calls' `t` count from its start;
- OpenTelemetry GenAI spans (bench.logs.otel, so also `bench export-otel` output);
- a TraceLab round log (JSONL, one round per line: `input_tokens_total`, `prefix_tokens`,
  `newly_append_tokens`, `output_tokens`, `tools[].tool_wall_latency_ms`; a `session_id`
  / `trajectory_id` / `task_id` key groups rounds into sessions, else the file is one session).
The last two name no blocks: a call's prompt is taken to resend the previous call's prompt
(TraceLab: its `prefix_tokens`) and the rest is new, spelled as block ids of `SYNTH_BLOCK` tokens.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.logs import jsonl, otel

SYNTH_BLOCK = 64


@dataclass(frozen=True, slots=True)
class Call:
    where: str                    # file + call, for messages
    t_s: float                    # recorded start, from the agent's start
    end_s: float                  # recorded end (start + API time)
    in_tokens: int
    out_tokens: int
    hash_ids: tuple[int, ...]     # one per full block of the prompt
    think_s: float                # recorded gap before this call (think or tool time)


@dataclass(frozen=True, slots=True)
class Agent:
    path: str                     # "s3" for a session, "s3.a1" for its sub-agent
    start_s: float                # recorded start, from the parent's start (0 for a session)
    end_s: float
    items: tuple[Call | Agent, ...]
    block_tokens: int
    where: str

    @property
    def calls(self) -> list[Call]:
        return [x for x in self.items if isinstance(x, Call)]


def _num(d: dict, key: str, where: str, low: float = 0, required: bool = True) -> float | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < low:
        raise UserError(where, f"{key}: expected a number >= {low:g}, got {v!r}")
    return float(v)


def _count(d: dict, key: str, where: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise UserError(where, f"{key}: expected a token count (an integer >= 0), got {v!r}")
    return v


def _session_call(r: dict, where: str, prev_end: float | None) -> Call:
    for key in ("in", "out"):
        if key not in r:
            raise UserError(where, f"a call without {key!r} (needs in, out, hash_ids, t)")
    ids = r.get("hash_ids", [])
    if not isinstance(ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in ids):
        raise UserError(where, "hash_ids: expected a list of integers")
    t = _num(r, "t", where)
    api = _num(r, "api_time", where, required=False) or 0.0
    think = _num(r, "think_time", where, required=False)
    if think is None:   # not recorded: the gap since the previous call ended
        think = max(0.0, t - prev_end) if prev_end is not None else 0.0
    return Call(where, t, t + api, _count(r, "in", where), _count(r, "out", where), tuple(ids), think)


def _session_agent(reqs, path: str, where: str, block: int, start: float, end: float | None) -> Agent:
    if not isinstance(reqs, list):
        raise UserError(where, "requests: expected a list")
    items: list[Call | Agent] = []
    prev_end = None
    for i, r in enumerate(reqs):
        w = f"{where}[{i}]"
        if not isinstance(r, dict):
            raise UserError(w, "expected a JSON object (a call or a sub-agent)")
        if r.get("type") == "subagent":
            done = _num(r, "t", w)
            dur = (_num(r, "duration_ms", w, required=False) or 0.0) / 1000
            items.append(_session_agent(r.get("requests"), f"{path}.a{i}", f"{w}.requests", block,
                                        max(0.0, done - dur), done))
        else:
            c = _session_call(r, w, prev_end)
            items.append(c)
            prev_end = c.end_s
    if not any(isinstance(x, Call) for x in items):
        raise UserError(where, "an agent without calls")
    last = max(x.end_s for x in items)
    return Agent(path, start, end if end is not None else start + last, tuple(items), block, where)


def read_session(path: Path, index: int) -> Agent:
    """One session file of the agentic format; any defect is a UserError naming file and call."""
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}", f"invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise UserError(str(path), "not a UTF-8 JSON file") from None
    if not isinstance(d, dict) or "requests" not in d:
        raise UserError(str(path), "expected a JSON object with `requests` (an agentic session)")
    block = d.get("block_size", 64)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise UserError(f"{path}: block_size", f"expected an integer >= 1, got {block!r}")
    return _session_agent(d["requests"], f"s{index}", f"{path}: requests", block, 0.0, None)


def synth_ids(prev: tuple[int, ...], shared_tokens: int, n_tokens: int, next_id: int) -> tuple[tuple[int, ...], int]:
    """Block ids for a prompt whose first `shared_tokens` resend the previous prompt's blocks."""
    keep = min(len(prev), shared_tokens // SYNTH_BLOCK)
    new = n_tokens // SYNTH_BLOCK - keep
    return prev[:keep] + tuple(range(next_id, next_id + max(0, new))), next_id + max(0, new)


def from_calls(calls, path: str, where: str) -> Agent:
    """Log calls (bench.logs.calls.Call) of one task -> an Agent; sub-agents from agent spans."""
    llm = sorted((c for c in calls if c.kind == "llm" and c.label != "compaction"), key=lambda c: c.start_s)
    if not llm:
        raise UserError(where, "no LLM calls")
    t0 = min(c.start_s for c in calls)
    agents = {c.call_id: c for c in calls if c.kind == "agent"}
    own_parent = None if any(c.parent is None for c in llm) else \
        min((a for a in agents.values() if a.parent is None), key=lambda a: a.start_s).call_id
    return _agent_of(llm, agents, own_parent, path, where, t0, 0.0, [1])


def _agent_of(llm, agents, key, path, where, t0, start, next_id) -> Agent:
    mine = [c for c in llm if c.parent == key]
    kids = [a for a in agents.values()
            if a.parent == key and a.call_id != key and any(c.parent == a.call_id for c in llm)]
    items: list[tuple[float, Call | Agent]] = []
    prev_ids: tuple[int, ...] = ()
    prev = None
    base = t0 + start
    for c in mine:
        resent = prev.prompt_tokens if prev and c.prompt_tokens >= prev.prompt_tokens + prev.output_tokens else 0
        ids, next_id[0] = synth_ids(prev_ids, resent, c.prompt_tokens, next_id[0])
        think = max(0.0, c.start_s - prev.end_s) if prev else max(0.0, c.start_s - base)
        items.append((c.start_s, Call(f"{where} call {c.call_id}", c.start_s - base, c.end_s - base,
                                      c.prompt_tokens, c.output_tokens, ids, think)))
        prev, prev_ids = c, ids
    for j, a in enumerate(kids):
        sub = _agent_of(llm, agents, a.call_id, f"{path}.a{j}", where, t0, a.start_s - t0, next_id)
        items.append((a.start_s, Agent(sub.path, a.start_s - base, a.end_s - base, sub.items, SYNTH_BLOCK, where)))
    items.sort(key=lambda x: x[0])
    end = max((c.end_s for c in mine), default=base) - base
    return Agent(path, start, start + end, tuple(x for _, x in items), SYNTH_BLOCK, where)


def read_otel(path: Path, first_index: int) -> list[Agent]:
    by_task: dict[str, list] = {}
    for c in otel.read(path).calls:
        by_task.setdefault(c.task_id, []).append(c)
    return [from_calls(cs, f"s{first_index + i}", f"{path}: trace {t}") for i, (t, cs) in enumerate(by_task.items())]


GROUP_KEYS = ("session_id", "trajectory_id", "task_id")


def _round(d, where: str) -> tuple[int, int, int, float]:
    if not isinstance(d, dict):
        raise UserError(where, "expected a JSON object (a round)")
    total, prefix = _count(d, "input_tokens_total", where), _count(d, "prefix_tokens", where)
    _count(d, "newly_append_tokens", where)
    out = _count(d, "output_tokens", where)
    tools = d.get("tools") or []
    if not isinstance(tools, list):
        raise UserError(where, "tools: expected a list")
    # Tools of a round ran one after another before the next round (TraceLab records each).
    tool_s = sum(_num(t if isinstance(t, dict) else {}, "tool_wall_latency_ms", f"{where} tools[{k}]") / 1000
                 for k, t in enumerate(tools))
    return total, prefix, out, tool_s


def read_tracelab(path: Path, first_index: int) -> list[Agent]:
    groups: dict[str, list[tuple[str, tuple]]] = {}
    for line in jsonl.rows(path):
        d = line.value
        key = next((str(d[k]) for k in GROUP_KEYS if isinstance(d, dict) and k in d), "")
        groups.setdefault(key, []).append((line.where, _round(d, line.where)))
    if not groups:
        raise UserError(str(path), "no rounds")
    agents = []
    for i, rounds in enumerate(groups.values()):
        items, prev_ids, next_id, gap = [], (), 1, 0.0
        for where, (total, prefix, out, tool_s) in rounds:
            ids, next_id = synth_ids(prev_ids, prefix, total, next_id)
            items.append(Call(where, 0.0, 0.0, total, out, ids, gap))   # no clock: gaps only
            prev_ids, gap = ids, tool_s
        agents.append(Agent(f"s{first_index + i}", 0.0, 0.0, _clocked(items), SYNTH_BLOCK, rounds[0][0]))
    return agents


def _clocked(calls: list[Call]) -> tuple[Call, ...]:
    """Recorded times for a log that has gaps only (model time taken as zero)."""
    t, out = 0.0, []
    for c in calls:
        t += c.think_s
        out.append(Call(c.where, t, t, c.in_tokens, c.out_tokens, c.hash_ids, c.think_s))
    return tuple(out)


def detect(path: Path) -> str:
    if path.suffix == ".json":
        return "sessions"
    with open(path, errors="replace") as f:
        head = f.read(4096)
    if "input_tokens_total" in head:
        return "tracelab"
    return "otel"


def read(paths: list[Path], fmt: str) -> list[Agent]:
    """Every session of the files, in order; `fmt` auto picks by suffix and content."""
    out: list[Agent] = []
    for p in paths:
        kind = detect(p) if fmt == "auto" else fmt
        if kind == "sessions":
            out.append(read_session(p, len(out)))
        elif kind == "tracelab":
            out += read_tracelab(p, len(out))
        else:
            out += read_otel(p, len(out))
    return out
