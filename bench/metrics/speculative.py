"""Speculative-decoding metrics of one run.

vLLM (its engine counters, run deltas in run.json `engine`):
- `spec_acceptance_rate`     = accepted draft tokens / draft tokens proposed
- `spec_mean_accept_len`     = 1 + accepted / drafts: tokens a verification step yields on average
  (the accepted drafts plus the target model's own token)
- `spec_accept_rate_pos<i>`  = accepted at draft position i / drafts (position 0 first); it falls
  with i because a token is accepted only when every one before it was
- `spec_drafts`, `spec_draft_tokens`, `spec_accepted_tokens`: the raw counts.

transformers (`hf`): generate exposes no counters, but with batch size 1 (which assisted and
prompt-lookup generation force) each streamed chunk is one verification step, so
- `spec_mean_accept_len` = mean output tokens per chunk, each request's final chunk left out
  (the draft is cut short near max tokens);
- `spec_acceptance_rate` = (tokens per chunk - 1) / draft length, only when the draft length is
  fixed: an assistant model with `assistant_generation: {num_assistant_tokens: k,
  num_assistant_tokens_schedule: constant, assistant_confidence_threshold: 0}`. transformers'
  default schedule changes k every step and its confidence threshold stops drafts early, and prompt
  lookup drafts only when it finds a match, so the number of drafted tokens is unknown and the
  rate is not computed for them; nor is acceptance per position.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from bench.types import Sample

_POS = re.compile(r"^spec_decode_num_accepted_tokens_per_pos\.(\d+)$")


def from_engine(engine: dict[str, float]) -> dict[str, float]:
    """vLLM spec-decode counters (run deltas) -> the metrics above; {} when nothing was drafted."""
    drafts = engine.get("spec_decode_num_drafts", 0.0)
    draft_tokens = engine.get("spec_decode_num_draft_tokens", 0.0)
    accepted = engine.get("spec_decode_num_accepted_tokens", 0.0)
    if not drafts or not draft_tokens:
        return {}
    out = {"spec_drafts": drafts, "spec_draft_tokens": draft_tokens, "spec_accepted_tokens": accepted,
           "spec_acceptance_rate": accepted / draft_tokens, "spec_mean_accept_len": 1 + accepted / drafts}
    for key, value in engine.items():
        m = _POS.match(key)
        if m:
            out[f"spec_accept_rate_pos{m[1]}"] = value / drafts
    return out


def _chunk_sizes(s: Sample) -> list[int]:
    """Tokens per streamed chunk, from the token and chunk stamps (tokens of a chunk share its stamp)."""
    return [sum(1 for t in s.token_ns if t == c) for c in s.chunk_ns]


def from_chunks(samples: list[Sample], fixed_draft_len: int | None) -> dict[str, float]:
    """HF: mean tokens per verification step (and the acceptance rate when the draft length is fixed)."""
    sizes = [n for s in samples if s.ok for n in _chunk_sizes(s)[:-1]]
    if not sizes:
        return {}
    mean_len = float(np.mean(sizes))
    out = {"spec_mean_accept_len": mean_len, "spec_steps": float(len(sizes))}
    if fixed_draft_len:
        out["spec_acceptance_rate"] = (mean_len - 1) / fixed_draft_len
    return out


def fixed_draft_len(options: dict[str, Any]) -> int | None:
    """The draft length of an HF assisted-generation arm when it is constant, else None."""
    if not options.get("assistant_model"):
        return None
    gen = options.get("assistant_generation") or {}
    if gen.get("num_assistant_tokens_schedule") == "constant" and gen.get("assistant_confidence_threshold") == 0:
        return int(gen.get("num_assistant_tokens", 20))   # transformers' default draft length
    return None


def for_run(backend, options: dict[str, Any], engine: dict[str, float],
            samples: list[Sample]) -> dict[str, float]:
    """The speculative metrics of one run of a speculative arm; {} for other arms.
    `backend`: the backend class, which says whether its options are speculative and how it
    reports acceptance (engine counters or chunks)."""
    if not backend.is_speculative(options):
        return {}
    return backend.spec_metrics(options, engine, samples)
