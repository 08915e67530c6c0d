"""The Mooncake (JSONL) and Azure (CSV) request traces -> calls, through the row parsers the
trace-replay workload reads with (mooncake.py, azure.py), counting bad rows instead of stopping.

Every row is one request: a task of one LLM call, starting at its timestamp (the traces have no
durations, so end = start). Mooncake `hash_ids` name the prompt's `block_tokens`-token blocks:
the leading ids a row shares with an earlier row are its repeated prefix.
"""
from __future__ import annotations

from pathlib import Path

from bench.errors import UserError
from bench.logs import azure, jsonl, mooncake
from bench.logs.calls import Call, Log
from bench.logs.trace_rows import Row


def _rows_mooncake(path: Path, log: Log) -> list[tuple[str, Row]]:
    rows = []
    for line in jsonl.rows(path, log.unreadable):
        log.rows += 1
        try:
            rows.append((line.where, mooncake.row(line.value, line.where)))
        except UserError as err:
            log.skip(err.message, err.where)
    return rows


def _rows_azure(path: Path, log: Log) -> list[tuple[str, Row]]:
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:   # a BOM is not part of the header
        for where, d in azure.records(f, path):
            log.rows += 1
            try:
                rows.append((where, azure.row(d, where)))
            except UserError as err:
                log.skip(err.message, err.where)
    return rows


def _shared_blocks(hash_ids: tuple[int, ...], seen: set[int]) -> int:
    """Leading blocks seen before: Mooncake ids are prefix-chained (an id implies its prefix)."""
    k = 0
    while k < len(hash_ids) and hash_ids[k] in seen:
        k += 1
    return k


def read(path: Path, fmt: str, block_tokens: int = 512) -> Log:
    log = Log(files=[str(path)])
    rows = _rows_mooncake(path, log) if fmt == "mooncake" else _rows_azure(path, log)
    t0 = min((r.t_s for _, r in rows), default=0.0)
    seen: set[int] = set()
    for i, (where, r) in enumerate(sorted(rows, key=lambda x: x[1].t_s)):
        prefix = None
        if fmt == "mooncake":
            prefix = min(r.input_tokens, _shared_blocks(r.hash_ids, seen) * block_tokens)
            seen.update(r.hash_ids)
        log.calls.append(Call(f"r{i}", where, None, r.t_s - t0, r.t_s - t0, "llm", r.input_tokens, None,
                              r.output_tokens, prefix_tokens=prefix))
    return log.require_calls(str(path))
