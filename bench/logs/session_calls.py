"""Recorded agent sessions (the agentic session format, one JSON file per session) -> calls,
through the reader the replay workload uses (agent_sessions.py), so a file the replay refuses is
refused here with the same message.

A session is a task. Its top-level calls are the task's own loop; a sub-agent becomes an agent
call with its calls under it. The recorded gap before a call (think or tool time) becomes one
tool call spanning that gap, unless sub-agents ran in it (then they are what the step waited
for). The leading tokens a call shares with the previous call of its agent come from the hash
ids (`resent_tokens`), and the first call's static prefix is the file's `system_tokens` +
`tool_tokens` (system prompt and tool schemas, the same in every session of one agent build).
"""
from __future__ import annotations

import json
from pathlib import Path

from bench.logs import agent_sessions
from bench.logs.agent_sessions import Agent
from bench.logs.calls import Call, Log


def _shared(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def _calls(agent: Agent, task: str, parent: str | None, t0: float, static: int | None) -> list[Call]:
    out: list[Call] = []
    prev, prev_ids = None, ()
    sub_since = False
    k = 0
    for item in agent.items:
        if isinstance(item, Agent):
            aid = f"{task}/{item.path}"
            out.append(Call(task, aid, parent, t0 + item.start_s, t0 + item.end_s, "agent"))
            out += _calls(item, task, aid, t0 + item.start_s, None)
            sub_since = True
            continue
        start = t0 + item.t_s
        if prev is not None and not sub_since:
            # lasting the recorded think time (whole seconds: it may overlap the call by a fraction)
            t_tool = max(prev.end_s, start - item.think_s)
            out.append(Call(task, f"{task}/{agent.path}.g{k}", parent, t_tool, t_tool + item.think_s, "tool"))
        resent = None if prev is None else min(item.in_tokens, _shared(prev_ids, item.hash_ids) * agent.block_tokens)
        c = Call(task, f"{task}/{agent.path}.c{k}", parent, start, max(start, t0 + item.end_s), "llm",
                 item.in_tokens, None, item.out_tokens, prefix_tokens=static if k == 0 else None,
                 resent_tokens=resent, think_s=item.think_s)
        out.append(c)
        prev, prev_ids, sub_since, k = c, item.hash_ids, False, k + 1
    return out


def read(path: Path) -> Log:
    """One session file -> its calls (a malformed file is a UserError, as for the replay)."""
    agent = agent_sessions.read_session(path, 0)
    head = json.loads(path.read_text())
    static = sum(int(head.get(k) or 0) for k in ("system_tokens", "tool_tokens"))
    log = Log(files=[str(path)])
    log.calls = _calls(agent, path.stem, None, 0.0, static)
    log.rows = sum(c.kind == "llm" for c in log.calls)
    return log.require_calls(str(path))
