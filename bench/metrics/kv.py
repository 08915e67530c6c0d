"""KV-cache metrics of one run: what a token costs in cache memory and how many fit.

- `kv_bytes_per_token` = 2 (K and V) x layers x kv_heads x head_dim x bytes per element
  (bench.metrics.roofline), from the model's config.json and the cache's element type, which the
  backend declares for its options (Backend.kv_element_bytes): vLLM's `kv_cache_dtype` ('auto' =
  the model's dtype, 16-bit for a float32 checkpoint under vLLM's dtype 'auto'; fp8 variants and
  int8_per_token_head 1 byte, int4_per_token_head 0.5), HF's quantized cache
  `cache_config.nbits` / 8, else the weights' dtype.
  Nominal: the scales of quantized caches and block padding are not counted.
- `kv_cache_tokens_capacity`, `kv_cache_max_concurrency` (vLLM): tokens the allocated cache holds,
  and how many requests of max_model_len fit in it at once (as vLLM computes them).
- `kv_cache_usage_peak_perc` (vLLM): the highest fraction of the cache in use during the run.
- `num_preemptions` (vLLM): requests evicted for lack of cache during the run.
- `peak_rss_mb` (every backend): peak resident memory of the harness process (and GPU peak
  allocation where there is one): the run summary's.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.metrics import roofline

ENGINE_KEYS = ("kv_cache_tokens_capacity", "kv_cache_max_concurrency", "kv_cache_usage_peak_perc",
               "num_preemptions")
SUMMARY_KEYS = ("peak_rss_mb", "peak_gpu_alloc_mb")


def model_config(model_path: str) -> dict[str, Any] | None:
    try:
        return json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return None


def kv_bytes_per_token(cfg: dict[str, Any], backend, options: dict[str, Any]) -> float | None:
    """`backend`: the backend class, which knows its cache's element size for these options."""
    shape = roofline.ModelShape.from_config(cfg)
    elem = backend.kv_element_bytes(cfg, options)
    if shape is None or elem is None:
        return None
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * elem


def for_run(model_path: str, backend, options: dict[str, Any], engine: dict[str, float],
            summary: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    cfg = model_config(model_path)
    if cfg is not None:
        b = kv_bytes_per_token(cfg, backend, options)
        if b is not None:
            out["kv_bytes_per_token"] = b
    out |= {k: engine[k] for k in ENGINE_KEYS if k in engine}
    out |= {k: summary[k] for k in SUMMARY_KEYS if k in summary}
    return out
