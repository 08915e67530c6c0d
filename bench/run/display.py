"""Terminal output: a progress bar (or plain notes) while a run goes, a summary table at the end."""
from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.metrics import inflation, views
from bench.metrics.definitions import column_for
from bench.results.capacity_file import describe
from bench.results.run import Run, is_plain
from bench.run.progress import Progress
from bench.types import Sample

console = Console()


class NoteProgress(Progress):
    """No bar (not a terminal, or --no-progress): the run stage's notes only, on stderr."""

    def note(self, text: str) -> None:
        print(f"bench: {text}", file=sys.stderr)


class BarProgress(NoteProgress):
    def __init__(self):
        self._bar: RichProgress | None = None

    def start(self, label: str, total: int | None) -> None:
        self.stop()
        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(label, total=total)

    def advance(self, sample: Sample) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def summary_table(results: list[Run]) -> Table:
    """Metrics as rows, runs as columns: one run or a whole matrix side by side."""
    table = Table(title="bench summary", show_lines=False)
    table.add_column("metric")
    for r in results:
        head = r.spec.label or r.spec.name
        table.add_column(f"{head}\n[{r.spec.backend.name}] {r.status}", justify="right")
    reasons = sorted({k for r in results for k in r.summary if k.startswith("errors_")})
    keys = list(views.RUN_TABLE)
    at = keys.index("error_rate") + 1
    keys[at:at] = reasons
    for key in keys:
        if not any(key in r.summary for r in results):
            continue
        col = column_for(key)
        cells = [col.fmt.format(r.summary[key]) if key in r.summary else "-" for r in results]
        table.add_row(f"  {col.title}" if key in reasons else col.title, *cells)   # reasons: under error rate
    if any(r.meta.get("warnings") for r in results):
        table.add_row("[yellow]client warnings[/]", *[str(len(r.meta.get("warnings") or [])) for r in results])
    return table


def inflation_table(results: list[Run]) -> Table | None:
    """Tokens per unit of work (chat turn, RAG query, agentic task) and the ratio to the baseline,
    over the suite's plain runs."""
    data = inflation.table(inflation.of_runs([r for r in results if is_plain(r)]))
    if not data["rows"]:
        return None
    table = Table(title=f"token inflation: tokens per unit; x = total / {data['baseline']}'s total")
    for title in ("run", "per", "calls", "prompt", "cached", "output", "total", "x"):
        table.add_column(title, justify="left" if title in ("run", "per") else "right", no_wrap=True)
    for row in data["rows"]:
        cached = "-" if row["cached_prompt_tokens"] is None else f"{row['cached_prompt_tokens']:.0f}"
        table.add_row(row["run"], row["unit"], f"{row['calls']:.1f}",
                      f"{row['prompt_tokens']:.0f}", cached, f"{row['output_tokens']:.0f}",
                      f"{row['total_tokens']:.0f}", f"{row['vs_baseline']:.1f}")
    return table


def capacity_lines(results: list[Run]) -> list[str]:
    """One line per capacity search among the results (from its .capacity.json)."""
    files = dict.fromkeys(r.dir.parent / r.meta["capacity_file"] for r in results if r.meta.get("capacity_file"))
    return [f"capacity at SLO: {describe(json.loads(p.read_text()))}  ({p})" for p in files if p.exists()]


def print_summary(results: list[Run]) -> None:
    probes = [r for r in results if r.meta.get("capacity_probe")]
    results = [r for r in results if not r.meta.get("capacity_probe")]   # probes: one line per search
    if results:
        console.print(summary_table(results))
    kinds = {r.spec.workload.kind for r in results}
    infl = inflation_table(results)
    if infl is not None and (len(kinds) > 1 or any("tasks" in r.summary for r in results)):
        console.print(infl)
    for r in results:
        reasons = r.meta.get("error_reasons") or {}
        if reasons:
            console.print(f"[yellow]{r.run_id}: errors by reason: {reasons}[/]")
        for warning in r.meta.get("warnings") or []:
            console.print(f"[yellow]{r.run_id}: warning: {warning}[/]")
        if r.meta.get("error"):
            console.print(f"[yellow]{r.run_id}: {r.meta['error']}[/]")
        console.print(f"results: {r.dir}")
    for line in capacity_lines(probes):
        console.print(line, highlight=False, soft_wrap=True)
