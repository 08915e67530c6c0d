"""NVIDIA AIPerf's per-request export, `profile_export.jsonl` (AIPerf 0.13, export level `records`).

Each line is one request: `metadata` (request_start_ns, request_end_ns, credit_issued_ns: wall
clock ns; benchmark_phase), `metrics` ({name: {value, unit}}: time_to_first_token,
inter_chunk_latency [list], request_latency, output_sequence_length, input_sequence_length ...)
and `error`. Each becomes a sample: sent at request_start_ns, its first chunk TTFT later, the
next chunks at its inter-chunk gaps; our summary is computed from them. The version and config
come from `profile_export_aiperf.json` beside it when it is there (bench.interop.importers.aiperf_summary).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.interop.importers import aiperf_summary
from bench.interop.importers.base import Imported, PeerFileError, Shape, need, spread_tokens, to_ns, unknown
from bench.types import Sample

TOOL = "aiperf"
WHAT = "AIPerf profile_export.jsonl records (metadata, metrics)"
JSONL = True
RECORD_KEYS = {"metadata", "metrics", "error", "trace_data", "spec_decode_acceptance"}
METADATA_KEYS = {"session_num", "x_request_id", "x_correlation_id", "conversation_id", "turn_index",
                 "source_trace_id", "source_outer_idx", "source_inner_idx", "source_kind", "credit_issued_ns",
                 "request_start_ns", "request_ack_ns", "request_end_ns", "worker_id", "record_processor_id",
                 "benchmark_phase", "phase_index", "profiling_index", "phase_name", "phase_kind", "was_cancelled",
                 "context_overflow_skip", "agent_depth", "root_correlation_id", "parent_correlation_id"}


def sniff(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) and \
        "metadata" in doc[0] and "request_start_ns" in (doc[0].get("metadata") or {})


def _metric(path: Path, metrics: dict, name: str, line: int) -> Any:
    m = metrics.get(name)
    if m is None:
        return None
    if not isinstance(m, dict) or "value" not in m:
        raise PeerFileError(path, f"line {line}: metrics.{name} as {{value, unit}}", repr(m)[:60])
    return m


def _sample(path: Path, rec: dict, line: int) -> Sample:
    meta = need(path, rec, "metadata", f"line {line}: a record with metadata", dict)
    sent = int(need(path, meta, "request_start_ns", f"line {line}: metadata", int))
    end = meta.get("request_end_ns")
    metrics = rec.get("metrics") or {}
    err = rec.get("error")
    error = None
    if err:
        error = f"peer_error: {err.get('type') or err.get('code')}: {err.get('message')}" if isinstance(err, dict) \
            else f"peer_error: {err}"
    chunks: list[int] = []
    ttft = _metric(path, metrics, "time_to_first_token", line)
    if error is None and ttft is not None:
        t = sent + to_ns(path, ttft["value"], ttft.get("unit", "ns"), f"line {line}: time_to_first_token")
        chunks = [int(round(t))]
        icl = _metric(path, metrics, "inter_chunk_latency", line)
        for gap in (icl["value"] if icl else []):
            t += to_ns(path, gap, icl.get("unit", "ns"), f"line {line}: inter_chunk_latency")
            chunks.append(int(round(t)))
    osl = _metric(path, metrics, "output_sequence_length", line) or _metric(path, metrics, "output_token_count", line)
    isl = _metric(path, metrics, "input_sequence_length", line) or _metric(path, metrics, "usage_prompt_tokens", line)
    n_out = int(osl["value"]) if osl else len(chunks)
    tokens = spread_tokens(chunks, n_out) if chunks else []
    return Sample(request_id=str(meta.get("x_request_id") or f"r{line}"), task_id=meta.get("conversation_id"),
                  scheduled_ns=int(meta.get("credit_issued_ns") or sent), sent_ns=sent, token_ns=tuple(tokens),
                  chunk_ns=tuple(chunks), prompt_tokens=int(isl["value"]) if isl else 0,
                  cached_prompt_tokens=None, output_tokens=n_out if error is None else 0, error=error,
                  warmup=meta.get("benchmark_phase") == "warmup", done_ns=int(end) if end else None)


def read(path: Path, doc: Any = None) -> Imported:
    from bench.interop.importers.base import read_jsonl
    records = read_jsonl(path, WHAT) if doc is None else doc
    if not sniff(records):
        first = records[0] if records and isinstance(records[0], dict) else {}
        raise PeerFileError(path, WHAT, f"records with keys {', '.join(sorted(first)[:6]) or 'none'}")
    samples = [_sample(path, rec, i) for i, rec in enumerate(records, 1)]
    skipped = set()
    for rec in records:
        skipped |= set(unknown(rec, RECORD_KEYS)) | set(unknown(rec.get("metadata") or {}, METADATA_KEYS, "metadata."))
    notes = []
    if any(len(s.chunk_ns) < s.output_tokens for s in samples if s.ok):
        notes.append("some requests streamed fewer chunks than tokens: their tokens are spread over their chunks")
    summary_path = Path(path).with_name("profile_export_aiperf.json")
    version, native, shape = None, {}, Shape()
    if summary_path.exists():          # its sibling says the version, config and shape
        side = aiperf_summary.read(summary_path)
        version, native, shape = side.tool_version, side.native_config, side.shape
        notes.append(f"version and config from {summary_path.name}")
    else:
        notes.append("no profile_export_aiperf.json beside it: AIPerf's version and config unknown")
        shape = Shape(requests=len(samples))
    started = min(s.sent_ns for s in samples) / 1e9 if samples else None
    return Imported(TOOL, version, (str(path),), shape, tuple(samples), {}, (), native, started,
                    tuple(sorted(skipped)), tuple(notes))
