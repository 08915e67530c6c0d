"""A tiny model that really emits EOS early: the tiny Llama with a residual direction that
dominates every hidden state and an lm_head row that maps that direction onto the EOS id.

Built from the real tiny model's weights (same tokenizer, same shapes), so every backend loads
it as it loads `tiny`. Greedy decoding then picks EOS at every step unless EOS is suppressed,
which is exactly what a forced-length request must do.
"""
from __future__ import annotations

import shutil
from pathlib import Path


def build_eos_model(tiny_path: str, out: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM

    if (out / "model.safetensors").exists():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    eos = model.config.eos_token_id
    with torch.no_grad():
        # Dimension 0 of every token's embedding is so large that the residual stream (and so
        # the final RMS-normed state) points along it whatever the layers add...
        model.model.embed_tokens.weight[:, 0] = 1000.0
        # ...and only the EOS row of lm_head reads it: EOS wins greedy decoding by a wide margin.
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[eos, 0] = 1.0
    model.save_pretrained(out, safe_serialization=True)
    for f in Path(tiny_path).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")) and not (out / f.name).exists():
            shutil.copy(f, out / f.name)
    return str(out)
