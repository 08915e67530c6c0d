"""How close a run came to the hardware's limit: pure arithmetic on the model's shape.

A decode step reads every weight once and the KV cache of every sequence in the batch, and does
about 2 FLOPs per weight used in a matmul per token plus the attention over the context.
  weight_bytes        = parameters x bytes per parameter (the input embedding table is counted
                        as read: the common convention, and the one behind the 196 tok/s example)
  kv_bytes_per_token  = 2 (K and V) x layers x kv_heads x head_dim x bytes per KV element
  flops_per_token(c)  = 2 x matmul parameters + 4 x layers x c x heads x head_dim
                        (QK^T and AV over c cached tokens, as in Chinchilla's appendix F)
  bytes_per_step      = weight_bytes + batch x kv_bytes_per_token x context
  MBU                 = bytes_per_step / step_time / peak memory bandwidth
  MFU                 = batch x flops_per_token(context) / step_time / peak dense bf16 FLOP/s
Llama-3.1-8B in bf16 at batch 1 and 8K context reads 17.1 GB per step; an H100 SXM (3.35 TB/s)
can do that at most 196 times a second: 196 tok/s is its decode roofline.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable

import numpy as np

from bench.metrics.columns import OK, TWO_STAMPS, SampleColumns, view
from bench.types import Sample


@dataclass(frozen=True, slots=True)
class ModelShape:
    """A decoder-only transformer with a gated MLP (Llama, Qwen2, Mistral)."""
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool = False
    qkv_bias: bool = False

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ModelShape | None:
        """From a Hugging Face config.json; None when it is not a shape this module knows."""
        try:
            heads = int(cfg["num_attention_heads"])
            return cls(
                hidden_size=int(cfg["hidden_size"]), intermediate_size=int(cfg["intermediate_size"]),
                num_layers=int(cfg["num_hidden_layers"]), num_heads=heads,
                num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
                head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
                vocab_size=int(cfg["vocab_size"]),
                tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                # Qwen2 always has q/k/v biases; Llama has them when attention_bias is set.
                qkv_bias=bool(cfg.get("attention_bias", cfg.get("model_type") == "qwen2")))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def layer_params(self) -> int:
        h, q, kv = self.hidden_size, self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        mlp = 3 * h * self.intermediate_size              # gate, up, down
        return attn + mlp + 2 * h                         # two RMSNorm weights

    @property
    def params(self) -> int:
        head = 0 if self.tie_word_embeddings else self.embedding_params
        return self.embedding_params + head + self.num_layers * self.layer_params + self.hidden_size

    @property
    def matmul_params(self) -> int:
        """Weights used in a matmul per token: all but the input embedding lookup (when untied)."""
        return self.params - (0 if self.tie_word_embeddings else self.embedding_params)


DTYPE_BYTES = {"float32": 4, "fp32": 4, "float": 4, "bfloat16": 2, "bf16": 2, "float16": 2,
               "fp16": 2, "half": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1}


def dtype_bytes(name: str | None, default: int = 2) -> int:
    """Bytes per element of a dtype name ('bfloat16', 'fp8_e4m3', ...); default for 'auto'/None."""
    if not name or name == "auto":
        return default
    return DTYPE_BYTES.get(str(name).lower().removeprefix("torch."), default)


def weight_bytes(shape: ModelShape, bytes_per_param: int = 2) -> int:
    return shape.params * bytes_per_param


def kv_bytes_per_token(shape: ModelShape, bytes_per_elem: int = 2) -> int:
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * bytes_per_elem


def flops_per_token(shape: ModelShape, context: float) -> float:
    attention = 4 * shape.num_layers * context * shape.num_heads * shape.head_dim
    return 2 * shape.matmul_params + attention


@dataclass(frozen=True, slots=True)
class GPUSpec:
    name: str
    bandwidth_gb_s: float     # peak memory bandwidth, 1e9 bytes/s
    bf16_tflops: float        # peak dense (not 2:4 sparse) bf16 tensor-core TFLOP/s
    source: str


_H100 = "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"
_H200 = "https://nvdam.widen.net/s/nb5zzzsjdf/hpc-datasheet-sc23-h200-datasheet-3002446"
_A100 = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
_L4 = "https://resources.nvidia.com/en-us-data-center-overview/l4-gpu-datasheet"
_L40S = "https://resources.nvidia.com/en-us-l40s/l40s-datasheet-28413"
_A10 = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a10/pdf/datasheet-new/nvidia-a10-datasheet.pdf"

# (pattern on the NVML name, spec). First match wins, so specific names come first.
# Datasheets give sparse FLOPs with an asterisk; the dense figure is half of it.
GPU_TABLE: list[tuple[str, GPUSpec]] = [
    (r"H100.*NVL", GPUSpec("H100 NVL", 3900, 835, _H100)),
    (r"H100.*PCIe", GPUSpec("H100 PCIe", 2000, 756, _H100)),
    (r"H100", GPUSpec("H100 SXM", 3350, 989, _H100)),
    (r"H200.*NVL", GPUSpec("H200 NVL", 4800, 835, _H200)),
    (r"H200|GH200", GPUSpec("H200 SXM", 4800, 989, _H200)),
    (r"A100.*PCIE.*40|A100.*40GB.*PCIe", GPUSpec("A100 40GB PCIe", 1555, 312, _A100)),
    (r"A100.*80GB.*PCIe|A100.*PCIE.*80", GPUSpec("A100 80GB PCIe", 1935, 312, _A100)),
    (r"A100.*80", GPUSpec("A100 80GB SXM", 2039, 312, _A100)),
    (r"A100", GPUSpec("A100 40GB SXM", 1555, 312, _A100)),
    (r"L40S", GPUSpec("L40S", 864, 362, _L40S)),
    (r"\bL4\b", GPUSpec("L4", 300, 121, _L4)),
    # AWS publishes no tensor FLOPs for its A10G; the memory is the A10's (600 GB/s).
    (r"A10G", GPUSpec("A10G", 600, 125, _A10 + " (A10 figures)")),
    (r"\bA10\b", GPUSpec("A10", 600, 125, _A10)),
]


def gpu_spec(nvml_name: str | None) -> GPUSpec | None:
    """The table entry for an NVML device name ('NVIDIA H100 80GB HBM3'); None if unknown."""
    if not nvml_name:
        return None
    for pattern, spec in GPU_TABLE:
        if re.search(pattern, nvml_name, re.IGNORECASE):
            return spec
    return None


def decode_bound_tok_s(shape: ModelShape, gpu: GPUSpec, batch: float, context: float,
                       w_bytes: int = 2, kv_bytes: int = 2) -> float:
    """Roofline bound on decode tokens/s (all sequences together) at this batch and context."""
    step_bytes = weight_bytes(shape, w_bytes) + batch * kv_bytes_per_token(shape, kv_bytes) * context
    step_flops = batch * flops_per_token(shape, context)
    step_s = max(step_bytes / (gpu.bandwidth_gb_s * 1e9), step_flops / (gpu.bf16_tflops * 1e12))
    return batch / step_s


@dataclass(frozen=True, slots=True)
class DecodeProfile:
    batch_mean: float         # sequences decoding at once, time-averaged (Little's law)
    context_mean: float       # tokens in the KV cache of a sequence at a decode step, mean
    step_s: float             # decode step time: mean TPOT


def decode_profile(samples: Iterable[Sample], duration_s: float, tpot_ms_mean: float) -> DecodeProfile | None:
    """From raw samples: batch = sum of decode times / run duration; context = token-weighted mean."""
    return decode_profile_columns(SampleColumns.from_samples(samples), duration_s, tpot_ms_mean)


def decode_profile_columns(cols: SampleColumns, duration_s: float, tpot_ms_mean: float) -> DecodeProfile | None:
    """decode_profile() from a run's columns: the successful requests with >= 2 tokens."""
    output = view(cols.output_tokens).astype(np.int64)
    decoded = ((view(cols.flags) & (OK | TWO_STAMPS)) == (OK | TWO_STAMPS)) & (output >= 2)
    n = output[decoded] - 1                        # decode steps (the first token is prefill)
    busy_ns = int((view(cols.end_ns)[decoded] - view(cols.first_token_ns)[decoded]).sum())
    tokens = int(n.sum())
    ctx = n * (view(cols.prompt_tokens)[decoded] + output[decoded] / 2)   # mean of prompt+1 .. prompt+n
    # accumulate adds left to right, as a running `+=` does (a plain sum() adds pairwise)
    ctx_sum = float(np.add.accumulate(ctx)[-1]) if len(ctx) else 0.0
    if not tokens or duration_s <= 0 or tpot_ms_mean <= 0:
        return None
    return DecodeProfile(busy_ns / 1e9 / duration_s, ctx_sum / tokens, tpot_ms_mean / 1000)


def efficiency(shape: ModelShape, gpu: GPUSpec, prof: DecodeProfile,
               w_bytes: int = 2, kv_bytes: int = 2) -> dict[str, float]:
    kv_read = prof.batch_mean * kv_bytes_per_token(shape, kv_bytes) * prof.context_mean
    step_bytes = weight_bytes(shape, w_bytes) + kv_read
    step_flops = prof.batch_mean * flops_per_token(shape, prof.context_mean)
    return {
        "mbu": step_bytes / prof.step_s / (gpu.bandwidth_gb_s * 1e9),
        "mfu": step_flops / prof.step_s / (gpu.bf16_tflops * 1e12),
        "decode_batch_mean": prof.batch_mean,
        "decode_context_mean": prof.context_mean,
        "roofline_decode_tok_s": decode_bound_tok_s(shape, gpu, prof.batch_mean, prof.context_mean,
                                                    w_bytes, kv_bytes),
    }


def for_run(samples: Iterable[Sample], summary: dict[str, float], model_path: str,
            options: dict[str, Any], gpu_name: str | None) -> tuple[dict[str, float], dict[str, Any]]:
    """Summary keys and a provenance record for a run on a known GPU; ({}, {}) otherwise (CPU)."""
    return for_run_columns(SampleColumns.from_samples(samples), summary, model_path, options, gpu_name)


def for_run_columns(cols: SampleColumns, summary: dict[str, float], model_path: str,
                    options: dict[str, Any], gpu_name: str | None) -> tuple[dict[str, float], dict[str, Any]]:
    """for_run() from a run's columns."""
    import json
    from pathlib import Path

    gpu = gpu_spec(gpu_name)
    if gpu is None or "tpot_ms_mean" not in summary:
        return {}, {}
    try:
        cfg = json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return {}, {}          # a hub id not in the local cache: no shape, no roofline
    shape = ModelShape.from_config(cfg)
    prof = decode_profile_columns(cols, summary.get("duration_s", 0.0), summary["tpot_ms_mean"])
    if shape is None or prof is None:
        return {}, {}
    # Weights in the backend's dtype ('auto' = the checkpoint's, bf16 for every preset);
    # the KV cache in kv_cache_dtype where the backend has one (vLLM), else the weights' dtype.
    w = dtype_bytes(options.get("dtype"), dtype_bytes(cfg.get("torch_dtype") or cfg.get("dtype")))
    kv = dtype_bytes(options.get("kv_cache_dtype"), w)
    info = {"gpu": gpu.name, "bandwidth_gb_s": gpu.bandwidth_gb_s, "bf16_tflops": gpu.bf16_tflops,
            "source": gpu.source, "params": shape.params, "weight_bytes": weight_bytes(shape, w),
            "kv_bytes_per_token": kv_bytes_per_token(shape, kv)}
    return efficiency(shape, gpu, prof, w, kv), info
