"""The tiny models: deterministic bytes, standard layout, shapes vLLM's CPU kernels accept."""
import hashlib
import json
from pathlib import Path

from bench.models.tiny import TINY, THINK_TOKENS, build_tiny, model_dirname


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
    main = tmp_path / model_dirname(TINY)
    assert (draft / "tokenizer.json").read_bytes() == (main / "tokenizer.json").read_bytes()
    cfg = json.loads((draft / "config.json").read_text())
    assert cfg["hidden_size"] < json.loads((main / "config.json").read_text())["hidden_size"]
    assert cfg["head_dim"] == 64


def test_think_tokens(tmp_path):
    """<think> and </think> are single tokens after the BPE vocabulary, which stays as it was
    (prompt ids of earlier builds are unchanged), and the model's vocabulary covers them."""
    from tokenizers import Tokenizer

    folder = build_tiny("tiny", tmp_path)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = [tok.encode(t, add_special_tokens=False).ids for t in THINK_TOKENS]
    assert ids == [[TINY.vocab_size], [TINY.vocab_size + 1]]
    text = "<think>bada kosu</think>tiga"
    ids = tok.encode(text).ids
    assert ids[0] == TINY.vocab_size and tok.decode(ids, skip_special_tokens=True) == text   # not special
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["vocab_size"] == TINY.vocab_size + len(THINK_TOKENS) == tok.get_vocab_size()
    assert max(tok.encode("bada kosu tiga.").ids) < TINY.vocab_size   # plain text: BPE ids only
