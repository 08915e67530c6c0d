"""inference-perf's per-request lifecycle report, `per_request_lifecycle_metrics.json`
(inference-perf 0.7, `report.request_lifecycle.per_request: true`).

Each entry is one request: start_time and end_time (a monotonic clock, seconds), and in `info`
the prompt tokens, the server's usage, `chunk_times` (one per streamed chunk) and
`output_token_times` (one per token as the client re-tokenized the text). Each becomes a sample:
its chunks at chunk_times, its output tokens the server's count (completion_tokens) spread over
them. The config (and so the shape) is read from `config.yaml` beside it when there (the one
inference-perf writes); the wall-clock start from its Benchmark Report partial beside it.
Its summary files: bench.interop.importers.inference_perf_summary; its Benchmark Report
partial: bench.interop.importers.br02.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bench.interop.importers.base import Imported, PeerFileError, Shape, need, ns, read_json, spread_tokens, unknown
from bench.types import Sample

TOOL = "inference-perf"
WHAT = "inference-perf per_request_lifecycle_metrics.json (a list of {start_time, end_time, info})"
ENTRY_KEYS = {"start_time", "end_time", "request", "response", "info", "error"}


def sniff(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) and \
        {"start_time", "end_time", "info"} <= set(doc[0])


def _sample(path: Path, e: dict, i: int) -> Sample:
    where = f"entry {i}"
    start = need(path, e, "start_time", where, (int, float))
    end = need(path, e, "end_time", where, (int, float))
    info = need(path, e, "info", where, dict)
    resp = info.get("response_metrics") or {}
    usage = resp.get("server_usage") or {}
    err = e.get("error")
    error = None if not err else f"peer_error: {err.get('error_type', '') if isinstance(err, dict) else ''}: " \
                                 f"{err.get('error_msg', err) if isinstance(err, dict) else err}"
    chunks = [ns(t) for t in resp.get("chunk_times") or []] if error is None else []
    n_out = int(usage.get("completion_tokens") or resp.get("output_tokens") or len(chunks))
    prompt = usage.get("prompt_tokens") or (info.get("request_metrics") or {}).get("text", {}).get("input_tokens") \
        or info.get("input_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    return Sample(request_id=f"r{i}", task_id=None, scheduled_ns=ns(start), sent_ns=ns(start),
                  token_ns=tuple(spread_tokens(chunks, n_out)) if chunks else (), chunk_ns=tuple(chunks),
                  prompt_tokens=int(prompt), cached_prompt_tokens=cached, output_tokens=n_out if error is None else 0,
                  error=error, done_ns=ns(end))


def _config(path: Path) -> dict:
    cfg_path = Path(path).with_name("config.yaml")
    if not cfg_path.exists():
        return {}
    import yaml
    try:
        cfg = yaml.safe_load(cfg_path.read_text())
    except yaml.YAMLError:
        raise PeerFileError(cfg_path, "inference-perf's config.yaml", "invalid YAML") from None
    return cfg if isinstance(cfg, dict) else {}


def shape_of(cfg: dict, n: int) -> Shape:
    stage = ((cfg.get("load") or {}).get("stages") or [{}])[0]
    data, server = cfg.get("data") or {}, cfg.get("server") or {}
    ind, outd = data.get("input_distribution") or {}, data.get("output_distribution") or {}
    conc = stage.get("concurrency_level")
    return Shape(load_kind="concurrency" if conc else "rate", load_value=conc or stage.get("rate"),
                 requests=stage.get("num_requests") or n, input_tokens=ind.get("mean"), output_tokens=outd.get("mean"),
                 fixed_lengths=ind.get("type") == "fixed" and outd.get("type") == "fixed",
                 model=server.get("model_name"), url=server.get("base_url"))


def _wall_start(path: Path) -> float | None:
    """The stage's wall-clock start from the Benchmark Report partial beside the file."""
    for p in sorted(Path(path).parent.glob("*.partial.stage_*.yaml")):
        import yaml
        try:
            start = ((yaml.safe_load(p.read_text()) or {}).get("run") or {}).get("time", {}).get("start")
            return dt.datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp()
        except (yaml.YAMLError, ValueError, AttributeError):
            return None
    return None


def read(path: Path, doc: Any = None) -> Imported:
    doc = read_json(path, WHAT) if doc is None else doc
    if not sniff(doc):
        first = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else {}
        raise PeerFileError(path, WHAT, f"a JSON {type(doc).__name__}" if not isinstance(doc, list) else
                            f"entries with keys {', '.join(sorted(first)[:6]) or 'none'}")
    samples = [_sample(path, e, i) for i, e in enumerate(doc)]
    skipped = sorted({k for e in doc for k in unknown(e, ENTRY_KEYS)})
    cfg = _config(path)
    notes = [] if cfg else ["no config.yaml beside it: the load and lengths are not known"]
    notes.append("inference-perf does not record its own version in its outputs")
    return Imported(TOOL, None, (str(path),), shape_of(cfg, len(samples)), tuple(samples), {}, (), cfg,
                    _wall_start(path), tuple(skipped), tuple(notes))
