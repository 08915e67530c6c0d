"""The tiny models: deterministic bytes, standard layout, shapes vLLM's CPU kernels accept."""
import hashlib
import json
from pathlib import Path

from bench.models.tiny import build_tiny


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes(tmp_path):
    a = build_tiny("tiny", tmp_path / "a")
    b = build_tiny("tiny", tmp_path / "b")
    assert digest(a) == digest(b)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(digest(a))
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert cfg["hidden_size"] // cfg["num_attention_heads"] >= 64


def test_draft_shares_tokenizer(tmp_path):
    draft = build_tiny("tiny-draft", tmp_path)
    main = tmp_path / "tiny-s0"
    assert (draft / "tokenizer.json").read_bytes() == (main / "tokenizer.json").read_bytes()
    cfg = json.loads((draft / "config.json").read_text())
    assert cfg["hidden_size"] < json.loads((main / "config.json").read_text())["hidden_size"]
    assert cfg["head_dim"] == 64
