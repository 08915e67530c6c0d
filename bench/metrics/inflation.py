"""Token inflation: tokens per unit of work across the workloads of one suite.

The unit is what a user experiences as one thing done: a chat turn, a RAG query, an agentic
task (all its steps, sub-agents and compactions). The ratio column divides each row's total
tokens per unit by the baseline's (the first chat-turn row, else the smallest row), which is
how much more prefill and decode one agentic task costs than one chat turn. A reasoning run's
output splits into thought and answer tokens per unit (the think markers are the rest).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class InflationRow:
    run: str
    workload: str
    unit: str
    calls: float                           # LLM calls per unit
    prompt_tokens: float
    cached_prompt_tokens: float | None
    output_tokens: float
    total_tokens: float                    # prompt + output per unit
    vs_baseline: float                     # total_tokens / the baseline row's total_tokens
    reasoning_tokens: float | None = None  # of output_tokens: thoughts per unit (reasoning runs only)
    answer_tokens: float | None = None     # of output_tokens: the answer per unit


def per_unit(unit: str, summary: dict[str, float]) -> tuple[float, float, float | None, float] | None:
    """(calls, prompt, cached, output) per unit from a run summary; None without completed work or
    without token totals (a peer's summary imported without them)."""
    if unit == "task":
        if not summary.get("tasks_completed"):
            return None
        return (summary["calls_per_task_mean"], summary["prompt_tokens_per_task_mean"],
                summary.get("cached_prompt_tokens_per_task_mean"), summary["output_tokens_per_task_mean"])
    n = summary.get("completed", 0.0)
    if not n or "prompt_tokens_total" not in summary or "output_tokens_total" not in summary:
        return None
    cached = summary.get("cached_prompt_tokens_total")
    return (1.0, summary["prompt_tokens_total"] / n, cached / n if cached is not None else None,
            summary["output_tokens_total"] / n)


def thought_split(unit: str, summary: dict[str, float]) -> tuple[float | None, float | None]:
    """(thought, answer) tokens per unit from a run summary; (None, None) without reasoning streams."""
    if unit == "task":
        n = summary.get("tasks_completed") or 0
        return (summary.get("reasoning_tokens_per_task_mean"), summary.get("answer_tokens_per_task_mean")) \
            if n else (None, None)
    n = summary.get("completed") or 0
    if not n or summary.get("reasoning_tokens_total") is None:
        return None, None
    return summary["reasoning_tokens_total"] / n, summary["answer_tokens_total"] / n


def inflation_rows(runs: list[tuple[str, str, str, dict[str, float]]]) -> list[InflationRow]:
    """runs: (run label, workload kind, unit, summary) -> one row per run with completed work."""
    raw = []
    for label, kind, unit, summary in runs:
        values = per_unit(unit, summary)
        if values is not None:
            calls, prompt, cached, output = values
            raw.append((label, kind, unit, calls, prompt, cached, output, prompt + output,
                        thought_split(unit, summary)))
    if not raw:
        return []
    turns = [r for r in raw if r[2] == "turn"]
    base = turns[0][7] if turns else min(r[7] for r in raw)
    return [InflationRow(*r[:8], vs_baseline=r[7] / base if base else 0.0, reasoning_tokens=r[8][0],
                         answer_tokens=r[8][1]) for r in raw]


def table(rows: list[InflationRow]) -> dict[str, Any]:
    """What results store: the rows and which one is the baseline."""
    base = next((r.run for r in rows if r.vs_baseline == 1.0), None)
    return {"baseline": base, "rows": [asdict(r) for r in rows]}


def of_runs(runs: list) -> list[InflationRow]:
    """The rows of one suite's plain runs (bench.results.run.Run: no capacity probes, no A/B
    arms), in run order: computed when results are read, from the summaries alone."""
    from bench import registry

    out = []
    for r in runs:
        kind = (r.meta["config"].get("workload") or {}).get("kind")
        try:
            unit = registry.workload_class(kind).unit
        except KeyError:          # a workload this bench no longer has
            continue
        out.append((r.meta.get("label") or r.meta.get("name"), kind, unit, r.summary))
    return inflation_rows(out)
