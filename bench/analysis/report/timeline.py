"""The task timeline: each task's LLM calls, tool waits, sub-agents and compactions as swim lanes
over the run's time, from samples.jsonl alone.

What a sample says (bench/workloads/agentic.py, steps.py): `task_id`; `meta.agent` is the agent's
path ("a3", or "a3.s2.c1" for a child spawned by step 2 of task 3: one lane each); `meta.kind ==
"compaction"` marks a compaction call; `meta.subagents` > 0 marks a step whose children run
before the next step; `meta.wait_kind/wait_start_ns/wait_end_ns` is the modelled wait (a tool, a
user's think time) before the request. Any workload with tasks draws: a chat conversation is one
lane of turns and think times.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.report.page import Section
from bench.analysis.report.runs import fmt
from bench.results import store
from bench.types import Sample

MAX_TASKS = 8            # per run: more lanes than a screen holds say less, not more
MAX_RUNS = 3
# Colours by kind; the LLM call is split where the first token arrived (waiting+prefill | decode).
KINDS = {"LLM: to first token": "#1f77b4", "LLM: decode": "#aec7e8", "compaction": "#9467bd",
         "tool wait": "#ff7f0e", "think wait": "#e7ba52", "sub-agents running": "#c7e9c0",
         "failed call": "#d62728"}


@dataclass(frozen=True, slots=True)
class Span:
    task: str
    lane: str              # the agent's path (or the task id)
    kind: str              # a key of KINDS, or "<wait_kind> wait"
    start_s: float         # from the run's first send
    end_s: float
    text: str              # hover text


def _lane(s: Sample) -> str:
    return str(s.meta.get("agent") or s.task_id)


def _call(s: Sample, lane: str, t0: int) -> list[Span]:
    rel = lambda ns: (ns - t0) / 1e9   # noqa: E731
    m = s.meta
    info = (f"{s.request_id}<br>prompt {s.prompt_tokens} tok, output {s.output_tokens} tok"
            + (f", cached {s.cached_prompt_tokens}" if s.cached_prompt_tokens else ""))
    if not s.ok or not s.token_ns:
        return [Span(s.task_id, lane, "failed call", rel(s.sent_ns), rel(s.end_ns), f"{info}<br>{s.error}")]
    first, last = s.token_ns[0], s.token_ns[-1]
    if m.get("kind") == "compaction":
        return [Span(s.task_id, lane, "compaction", rel(s.sent_ns), rel(last),
                     f"compaction {info}<br>{(last - s.sent_ns) / 1e6:.1f} ms")]
    ttft = (first - s.sent_ns) / 1e6
    out = [Span(s.task_id, lane, "LLM: to first token", rel(s.sent_ns), rel(first), f"{info}<br>TTFT {ttft:.1f} ms")]
    if last > first:
        out.append(Span(s.task_id, lane, "LLM: decode", rel(first), rel(last),
                        f"{info}<br>decode {(last - first) / 1e6:.1f} ms"))
    return out


def spans(samples: list[Sample]) -> list[Span]:
    """Every span of every task in `samples`, times in seconds from the first send."""
    mine = [s for s in samples if s.task_id is not None]
    if not mine:
        return []
    t0 = min(s.sent_ns for s in mine)
    out: list[Span] = []
    ends: dict[str, int] = {}
    for s in mine:
        lane = _lane(s)
        ends[lane] = max(ends.get(lane, 0), s.end_ns)
    for s in sorted(mine, key=lambda s: s.sent_ns):
        lane, m = _lane(s), s.meta
        if m.get("wait_start_ns") is not None and m.get("wait_end_ns") is not None:
            kind = str(m.get("wait_kind") or "client")
            key = "tool wait" if kind == "tool" else f"{kind} wait"
            dur = (m["wait_end_ns"] - m["wait_start_ns"]) / 1e6
            out.append(Span(s.task_id, lane, key, (m["wait_start_ns"] - t0) / 1e9, (m["wait_end_ns"] - t0) / 1e9,
                            f"{key} before {s.request_id}<br>{dur:.1f} ms"
                            + (f", {m['tool_calls']} call(s)" if m.get("tool_calls") else "")))
        out += _call(s, lane, t0)
        if m.get("subagents"):
            kids = [ends[k] for k in ends if k.startswith(f"{lane}.s{m.get('step')}.c")]
            if kids:
                out.append(Span(s.task_id, lane, "sub-agents running", (s.end_ns - t0) / 1e9, (max(kids) - t0) / 1e9,
                                f"{m['subagents']} sub-agent(s) spawned by {s.request_id}<br>"
                                f"{(max(kids) - s.end_ns) / 1e6:.1f} ms until the last returned"))
    return out


def lane_order(all_spans: list[Span], max_tasks: int = MAX_TASKS) -> tuple[list[str], int]:
    """Lanes of the first `max_tasks` tasks to start, each task's children under it; and how many
    tasks there were in all."""
    start: dict[str, float] = {}
    for sp in all_spans:
        start[sp.task] = min(start.get(sp.task, sp.start_s), sp.start_s)
    tasks = sorted(start, key=start.get)[:max_tasks]
    lanes = []
    for t in tasks:
        mine = {sp.lane: sp.start_s for sp in all_spans if sp.task == t}
        lanes += sorted(mine, key=lambda lane: ("." in lane, mine[lane]))   # the task's own lane first
    return lanes, len(start)


def _lane_title(lane: str) -> str:
    """'a3.s2.c1' -> 'a3 ↳ s2.c1' (a child under its task)."""
    head, _, rest = lane.partition(".")
    return f"{head} ↳ {rest}" if rest else lane


def timeline_figure(run: store.Run, label: str):
    import plotly.graph_objects as go

    from bench.analysis.report.runs import figure, two_lines

    all_spans = spans(run.samples())
    lanes, n_tasks = lane_order(all_spans)
    if not lanes:
        return None, 0
    shown = [sp for sp in all_spans if sp.lane in set(lanes)]
    titles = [_lane_title(lane) for lane in lanes]
    title = two_lines(f"{label}: {min(n_tasks, MAX_TASKS)} of {n_tasks} task(s)", run.run_id)
    fig = figure(title, "seconds from the run's first send",
                 "", width=1300, height=int(24 * len(lanes) + 170), barmode="overlay",
                 yaxis={"type": "category", "categoryarray": titles, "autorange": "reversed"},
                 legend={"orientation": "h", "y": -0.12 if len(lanes) > 8 else -0.3, "font": {"size": 10}})
    kinds = list(KINDS) + sorted({sp.kind for sp in shown} - set(KINDS))
    for kind in kinds:
        sp = [s for s in shown if s.kind == kind]
        if not sp:
            continue
        fig.add_trace(go.Bar(
            y=[_lane_title(s.lane) for s in sp], x=[max(s.end_s - s.start_s, 1e-4) for s in sp],
            base=[s.start_s for s in sp], orientation="h", name=kind,
            marker={"color": KINDS.get(kind, "#bcbd22"), "line": {"width": 0.5, "color": "white"}},
            hovertext=[f"<b>{_lane_title(s.lane)}</b> ({fmt(s.start_s)}-{fmt(s.end_s)} s)<br>{s.text}" for s in sp],
            hovertemplate="%{hovertext}<extra></extra>"))
    return fig, n_tasks


def timeline_section(runs: list[store.Run], names: dict[str, str]) -> Section | None:
    """Runs whose tasks have more than one call (agent loops first), up to MAX_RUNS."""
    cands = []
    for r in runs:
        samples = r.samples()
        tasks = {s.task_id for s in samples if s.task_id is not None}
        if tasks and len(samples) > len(tasks):
            cands.append((not any("agent" in s.meta for s in samples), r))
    cands.sort(key=lambda c: c[0])
    figs = []
    for _, r in cands[:MAX_RUNS]:
        fig, _n = timeline_figure(r, names[r.run_id])
        if fig is not None:
            figs.append(fig)
    if not figs:
        return None
    more = f" {len(cands) - MAX_RUNS} more run(s) with tasks are not drawn." if len(cands) > MAX_RUNS else ""
    return Section("Task timeline", figures=figs, png_name="timeline.png", note=(
        "one lane per agent (sub-agents indented under their task): dark blue = waiting for the first "
        "token (queue + prefill), light blue = decoding, purple = compaction call, orange = tool wait, "
        "yellow = a chat user's think time, green = the parent waiting for its sub-agents, red = a failed "
        "call. Hover a bar for the call's tokens and times; "
        "drag to zoom, double-click to reset." + more))
