"""Terminal output: a progress bar (or plain notes) while a run goes, a summary table at the end."""
from __future__ import annotations

import json
import re
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.metrics import inflation, views
from bench.metrics.definitions import column_for
from bench.results.capacity_file import describe
from bench.results.run import Run, is_plain
from bench.run.progress import Progress
from bench.types import Sample

# Tables are laid out for at least 100 columns: a pipe or a file (no terminal: rich assumes 80)
# and a narrow terminal get whole headers, not "a…"; wider run tables are split (split_runs).
MIN_WIDTH = 100


def wide_console(**kw) -> Console:
    probe = Console(**kw)
    return Console(width=max(MIN_WIDTH, probe.width if probe.is_terminal else 0), **kw)


console = wide_console()


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


def _head(r: Run) -> tuple[str, str]:
    return r.spec.label or r.spec.name, f"[{r.spec.backend.name}] {r.status}"   # plain text, not markup


def _keys(results: list[Run], brief: bool = False) -> tuple[list[str], list[str]]:
    """The metric keys the table shows (errors by reason under the error rate), and the reasons."""
    reasons = sorted({k for r in results for k in r.summary if k.startswith("errors_")})
    keys = list(views.RUN_TABLE_BRIEF if brief else views.RUN_TABLE)
    at = keys.index("error_rate") + 1
    keys[at:at] = reasons
    return [k for k in keys if any(k in r.summary for r in results)], reasons


def split_runs(results: list[Run], width: int = MIN_WIDTH, brief: bool = False) -> list[list[Run]]:
    """The runs in groups whose summary table fits `width` columns (each column: its widest
    cell, 2 of padding, 1 of border)."""
    keys, _ = _keys(results, brief)
    first = max([len("metric"), *(len(column_for(k).title) + 2 for k in keys)]) + 4
    groups: list[list[Run]] = [[]]
    used = first
    for r in results:
        cells = [*_head(r), *(column_for(k).fmt.format(r.summary[k]) for k in keys if k in r.summary)]
        w = max(len(c) for c in cells) + 3
        if groups[-1] and used + w > width:
            groups.append([])
            used = first
        groups[-1].append(r)
        used += w
    return groups


def summary_table(results: list[Run], title: str = "bench summary", brief: bool = False) -> Table:
    """Metrics as rows, runs as columns: one run or a whole matrix side by side."""
    table = Table(title=title, show_lines=False)
    table.add_column("metric", no_wrap=True)
    for r in results:
        table.add_column(escape("\n".join(_head(r))), justify="right", no_wrap=True)
    keys, reasons = _keys(results, brief)
    for key in keys:
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
    # Reasoning runs split their output into thoughts and answer (markers are the rest).
    thinks = any(row.get("reasoning_tokens") is not None for row in data["rows"])
    titles = ("run", "per", "calls", "prompt", "cached", "output", *(("thought", "answer") if thinks else ()),
              "total", "x")
    for title in titles:
        table.add_column(title, justify="left" if title in ("run", "per") else "right", no_wrap=True)

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"
    for row in data["rows"]:
        split = (num(row.get("reasoning_tokens")), num(row.get("answer_tokens"))) if thinks else ()
        table.add_row(row["run"], row["unit"], f"{row['calls']:.1f}",
                      f"{row['prompt_tokens']:.0f}", num(row["cached_prompt_tokens"]), f"{row['output_tokens']:.0f}",
                      *split, f"{row['total_tokens']:.0f}", f"{row['vs_baseline']:.1f}")
    return table


def capacity_lines(results: list[Run]) -> list[str]:
    """One line per capacity search among the results (from its .capacity.json)."""
    files = dict.fromkeys(r.dir.parent / r.meta["capacity_file"] for r in results if r.meta.get("capacity_file"))
    return [f"capacity at SLO: {describe(json.loads(p.read_text()))}\n  file: {p}" for p in files if p.exists()]


def warning_lines(results: list[Run]) -> list[str]:
    """One line per kind of client warning (its numbers aside), naming the runs that had it and
    the first one's words: a loaded machine warns of loop lag in many runs of a suite at once."""
    kinds: dict[str, list[tuple[Run, str]]] = {}
    for r in results:
        for w in r.meta.get("warnings") or []:
            kinds.setdefault(re.sub(r"\d+(\.\d+)?", "#", w), []).append((r, w))
    out = []
    for seen in kinds.values():
        if len(seen) == 1:
            out.append(f"{seen[0][0].run_id}: warning: {seen[0][1]}")
        else:
            first = seen[0][0].run_id.split("Z-", 1)[-1]   # the id less its time
            out.append(f"warning in {len(seen)} runs (the first {first}): {seen[0][1]}")
    return out


def print_summary(results: list[Run], brief: bool = False) -> None:
    """The suite's own runs as tables of metrics (split to fit the console), token inflation,
    a few lines per capacity search; A/B arms in one line (the experiment's table follows).
    `brief`: the table's headline rows, no token table, the run folders in one line."""
    probes = [r for r in results if r.meta.get("capacity_probe")]
    arms = [r for r in results if not r.meta.get("capacity_probe") and not is_plain(r)]
    results = [r for r in results if is_plain(r)]
    groups = split_runs(results, console.width, brief) if results else []
    for i, group in enumerate(groups):
        title = "bench summary" + (f" ({i + 1}/{len(groups)})" if len(groups) > 1 else "")
        console.print(summary_table(group, title, brief))
    kinds = {r.spec.workload.kind for r in results}
    infl = None if brief else inflation_table(results)
    if infl is not None and (len(kinds) > 1 or any("tasks" in r.summary for r in results)):
        console.print(infl)
    for r in results + arms:
        reasons = r.meta.get("error_reasons") or {}
        if reasons:
            console.print(f"[yellow]{r.run_id}: errors by reason: {escape(str(reasons))}[/]", soft_wrap=True)
        if r.meta.get("error"):
            console.print(f"[yellow]{r.run_id}: {escape(r.meta['error'])}[/]", soft_wrap=True)
    for line in warning_lines(results + arms):
        console.print(f"[yellow]{escape(line)}[/]", soft_wrap=True)
    folders = sorted({str(r.dir.parent) for r in results})
    if brief and results:
        console.print(f"results: {len(results)} runs in {', '.join(folders)}", highlight=False, soft_wrap=True)
    for r in [] if brief else results:
        console.print(f"results: {r.dir}", highlight=False, soft_wrap=True)
    if arms:
        folders = sorted({str(r.dir.parent) for r in arms})
        console.print(f"A/B arms: {len(arms)} runs in {', '.join(folders)} (the experiment's tables follow)",
                      highlight=False, soft_wrap=True)
    for line in capacity_lines(probes):
        console.print(line, highlight=False, soft_wrap=True)
