"""Real architectures with dummy weights: benchmark a model's serving cost without downloading it.

`preset:<name>` resolves to a folder holding the model's published config.json (exact shape),
a tokenizer of the model's vocabulary size built locally, and no weights. The HF backend builds
the model from the config with random weights directly on the device (`load_dummy_hf`); vLLM
loads the folder with `load_format="dummy"`. A decode step costs the same with random weights,
but what the model says is noise (see FACTS.md).

The tokenizer: a byte-level BPE trained on generated text (as for the tiny model), its vocabulary
padded with unreachable filler tokens up to the model's first special-token id, then the special
tokens at their published ids and reserved ones up to `vocab_size`, so len(tokenizer) equals the
embedding size and the BOS/EOS ids are the real ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "preset:"
MARKER = "bench_preset.json"

_LLAMA3 = dict(architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False,
               attention_dropout=0.0, bos_token_id=128000, eos_token_id=128001, hidden_act="silu",
               initializer_range=0.02, max_position_embeddings=131072, mlp_bias=False,
               num_key_value_heads=8, pretraining_tp=1, rms_norm_eps=1e-05, rope_theta=500000.0,
               torch_dtype="bfloat16", use_cache=True, vocab_size=128256)


def _llama3_rope(factor: float) -> dict[str, Any]:
    return {"factor": factor, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"}


@dataclass(frozen=True)
class Preset:
    name: str
    source: str                         # the hub repository whose config.json this copies
    published_params: int               # the model card's size, checked against the shape in tests
    config: dict[str, Any]
    special_tokens: dict[int, str] = field(default_factory=dict)   # id -> token, named ones

    @property
    def vocab_size(self) -> int:
        return self.config["vocab_size"]


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("llama-3.2-1b", "meta-llama/Llama-3.2-1B", 1_235_814_400, {
        **_LLAMA3, "head_dim": 64, "hidden_size": 2048, "intermediate_size": 8192,
        "num_attention_heads": 32, "num_hidden_layers": 16, "rope_scaling": _llama3_rope(32.0),
        "tie_word_embeddings": True, "transformers_version": "4.45.0.dev0"},
        {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>"}),
    Preset("llama-3.1-8b", "meta-llama/Llama-3.1-8B", 8_030_261_248, {
        **_LLAMA3, "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
        "num_hidden_layers": 32, "rope_scaling": _llama3_rope(8.0), "tie_word_embeddings": False,
        "transformers_version": "4.43.0.dev0"},
        {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>"}),
    Preset("qwen2.5-7b", "Qwen/Qwen2.5-7B", 7_615_616_512, {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584,
        "initializer_range": 0.02, "intermediate_size": 18944, "max_position_embeddings": 131072,
        "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28,
        "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "use_cache": True, "use_mrope": False, "use_sliding_window": False, "vocab_size": 152064,
        "transformers_version": "4.43.1"},
        {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>"}),
)}

BPE_VOCAB = 4096      # trained merges; the rest of the vocabulary is filler (fast to build)


def preset_name(model: str) -> str | None:
    """'preset:llama-3.1-8b' -> 'llama-3.1-8b'; None for any other model string."""
    return model[len(PREFIX):] if model.startswith(PREFIX) else None


def build_tokenizer_json(vocab_size: int, special: dict[int, str], seed: int = 0) -> str:
    """A byte-level BPE tokenizer.json with exactly vocab_size ids, specials at their ids."""
    from bench.models.tiny import build_tokenizer

    doc = json.loads(build_tokenizer(BPE_VOCAB, seed).to_str())
    doc["added_tokens"] = []            # the tiny trainer's own specials are replaced below
    vocab: dict[str, int] = doc["model"]["vocab"]
    for tok in ("<s>", "</s>", "<pad>"):
        vocab.pop(tok, None)
    vocab = {t: i for i, t in enumerate(sorted(vocab, key=vocab.get))}
    first_special = min(special)
    # Fillers are printable ASCII (valid byte-level strings) that no merge produces.
    i = 0
    while len(vocab) < first_special:
        vocab.setdefault(f"<r{i}>", len(vocab))
        i += 1
    doc["model"]["vocab"] = vocab
    for idx in range(first_special, vocab_size):
        content = special.get(idx, f"<|reserved_special_token_{idx - first_special}|>")
        doc["added_tokens"].append({"id": idx, "content": content, "single_word": False,
                                    "lstrip": False, "rstrip": False, "normalized": False,
                                    "special": True})
    return json.dumps(doc, ensure_ascii=False)


def _write_preset(preset: Preset, out: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(build_tokenizer_json(preset.vocab_size, preset.special_tokens))
    cfg = preset.config
    fast = PreTrainedTokenizerFast(tokenizer_object=tok,
                                   bos_token=preset.special_tokens[cfg["bos_token_id"]],
                                   eos_token=preset.special_tokens[cfg["eos_token_id"]])
    fast.save_pretrained(out)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / MARKER).write_text(json.dumps({"preset": preset.name, "source": preset.source,
                                          "published_params": preset.published_params,
                                          "weights": "none: random at load"}, indent=2) + "\n")


def build_preset(name: str, root: Path | None = None, force: bool = False) -> Path:
    """Build (once) the preset's folder (config + tokenizer, no weights) and return it."""
    from bench.models.tiny import cache_root, publish_dir

    preset = PRESETS[name]
    root = root or cache_root()
    out = root / f"preset-{preset.name}"
    if out.exists() and not force:
        return out
    root.mkdir(parents=True, exist_ok=True)
    return publish_dir(out, lambda tmp: _write_preset(preset, tmp), force)


def is_dummy(path: str | Path) -> bool:
    """A preset folder without weights: HF must build from config, vLLM load with 'dummy'."""
    p = Path(path)
    return (p / MARKER).exists() and not any(p.glob("*.safetensors")) and not any(p.glob("*.bin"))


def load_dummy_hf(path: str | Path, dtype, device: str, model_kwargs: dict[str, Any], seed: int = 0):
    """The model built from config.json with random weights, allocated directly on the device
    in the target dtype (no CPU copy of 8B parameters, no fp32 detour)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = {k: v for k, v in model_kwargs.items() if k not in ("device_map", "dtype", "torch_dtype")}
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, **kwargs)
    model.name_or_path = str(path)
    return model
