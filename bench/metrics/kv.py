"""KV-cache metrics of one run: what a token costs in cache memory and how many fit.

- `kv_bytes_per_token` = 2 (K and V) x layers x kv_heads x head_dim x bytes per element
  (bench.metrics.roofline), from the model's config.json and the cache's element type: vLLM's
  `kv_cache_dtype` ('auto' = the model's dtype; fp8 variants and int8_per_token_head 1 byte,
  int4_per_token_head 0.5), HF's quantized cache `cache_config.nbits` / 8, else the weights' dtype.
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

# Bytes per cache element of vLLM's quantized KV dtypes that roofline's table does not name.
KV_DTYPE_BYTES = {"int8_per_token_head": 1.0, "fp8_per_token_head": 1.0, "int4_per_token_head": 0.5,
                  "fp8_inc": 1.0}
ENGINE_KEYS = ("kv_cache_tokens_capacity", "kv_cache_max_concurrency", "kv_cache_usage_peak_perc",
               "num_preemptions")
SUMMARY_KEYS = ("peak_rss_mb", "peak_gpu_alloc_mb")


def model_config(model_path: str) -> dict[str, Any] | None:
    try:
        return json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return None


def weight_dtype(cfg: dict[str, Any], backend: str, options: dict[str, Any]) -> str | None:
    dtype = options.get("dtype")
    if dtype in (None, "auto"):
        # HF on the CPU loads float32 for 'auto' (bench.backends.hf); vLLM the checkpoint's dtype.
        return "float32" if backend == "hf" and not options.get("device") == "cuda" else \
            cfg.get("torch_dtype") or cfg.get("dtype")
    return str(dtype)


def kv_element_bytes(cfg: dict[str, Any], backend: str, options: dict[str, Any]) -> float:
    w = roofline.dtype_bytes(weight_dtype(cfg, backend, options), 2)
    if backend == "hf":
        gen = options.get("generate_kwargs") or {}
        if gen.get("cache_implementation") == "quantized":
            return float((gen.get("cache_config") or {}).get("nbits", 4)) / 8
        return float(w)
    name = options.get("kv_cache_dtype")
    if name in KV_DTYPE_BYTES:
        return KV_DTYPE_BYTES[name]
    return float(roofline.dtype_bytes(name, w))


def kv_bytes_per_token(cfg: dict[str, Any], backend: str, options: dict[str, Any]) -> float | None:
    shape = roofline.ModelShape.from_config(cfg)
    if shape is None:
        return None
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * kv_element_bytes(cfg, backend, options)


def for_run(model_path: str, backend: str, options: dict[str, Any], engine: dict[str, float],
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
