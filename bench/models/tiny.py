"""Deterministic tiny Llama models with a locally trained tokenizer (no hub access needed).

The same seed gives the same bytes: weights come from a seeded torch generator and the
tokenizer is trained on text generated from a seeded RNG, single-threaded.

The tokenizer carries the think tokens `<think>` and `</think>` (added after the BPE vocabulary,
not special, as DeepSeek-R1's and Qwen3's tokenizers have them), so vLLM's real reasoning parsers
and its thinking budget run on the tiny model. Builds are versioned in the folder name
(BUILD_VERSION): a model cached by an older build stays where it was and is never mistaken for
the current one.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable

# Pronounceable syllables give a BPE corpus with real merges, so token lengths of
# generated text resemble natural language more than random bytes would.
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "ch", "qu"]
# Added after training, so the BPE ids (and every prompt built from them) are those of the
# builds before them; the model's vocabulary is the BPE's plus these.
THINK_TOKENS = ("<think>", "</think>")
# 2: the think tokens. Bump it whenever a build's bytes change: the folder name carries it.
BUILD_VERSION = 2


@dataclass(frozen=True, slots=True)
class TinySpec:
    name: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int = 2048              # the BPE vocabulary; the think tokens come after it
    max_position_embeddings: int = 8192
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# head_dim is 64 in both: vLLM's CPU attention kernels reject head_dim=16 (FACTS.md).
TINY = TinySpec("tiny", hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=512)
TINY_DRAFT = TinySpec("tiny-draft", hidden_size=64, num_hidden_layers=1,
                      num_attention_heads=1, intermediate_size=256)
# The tiny model's shape with other random weights: a draft that shares the tokenizer but
# agrees with `tiny` only by chance (low speculative-decoding acceptance).
TINY_S1 = TinySpec("tiny-s1", hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=512, seed=1)
TINY_SPECS = {s.name: s for s in (TINY, TINY_DRAFT, TINY_S1)}


def cache_root() -> Path:
    """Where built models live: $BENCH_CACHE, else ~/.cache/bench (outside the repository)."""
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "bench")) / "models"


def corpus_text(seed: int, n_words: int = 60_000) -> list[str]:
    rng = random.Random(seed)
    words = ["".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(3000)]
    lines, line = [], []
    for _ in range(n_words):
        line.append(rng.choice(words))
        if rng.random() < 0.08:
            lines.append(" ".join(line) + rng.choice([".", "?", "!", ","]))
            line = []
    return lines


def build_tokenizer(vocab_size: int, seed: int):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<pad>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_text(seed), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    return tok


def _write_model(spec: TinySpec, out: Path, tokenizer_src: Path | None) -> None:
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    transformers.utils.logging.disable_progress_bar()

    if tokenizer_src is None:
        tok = build_tokenizer(spec.vocab_size, spec.seed)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                       pad_token="<pad>")
    else:
        fast = PreTrainedTokenizerFast.from_pretrained(tokenizer_src)
    fast.save_pretrained(out)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads, num_key_value_heads=spec.num_attention_heads,
        head_dim=spec.head_dim, max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id, tie_word_embeddings=False, dtype="float32")
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    (out / "bench_tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")


def build_tiny(name: str = "tiny", root: Path | None = None, force: bool = False) -> Path:
    """Build (once) the named tiny model and return its folder. Safe against concurrent builds."""
    spec = TINY_SPECS[name]
    root = root or cache_root()
    out = root / model_dirname(spec)
    if out.exists() and not force:
        return out
    root.mkdir(parents=True, exist_ok=True)
    # The draft shares the main model's tokenizer so it can serve as its assistant.
    tok_src = build_tiny("tiny", root) if name != "tiny" else None
    return publish_dir(out, lambda tmp: _write_model(spec, tmp, tok_src), force)


def model_dirname(spec: TinySpec) -> str:
    """The cache folder's name; builds before BUILD_VERSION 2 (no think tokens) used `tiny-s0`."""
    return f"{spec.name}-s{spec.seed}-v{BUILD_VERSION}"


def publish_dir(out: Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Write a folder in a temporary sibling, then rename it into place: readers never see a
    half-built model, and concurrent builders (parallel tests) race harmlessly."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        tmp.chmod(0o755)
        write(tmp)
        if force and out.exists():
            shutil.rmtree(out)
        try:
            tmp.rename(out)
        except OSError:  # a concurrent builder won the race
            if not out.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
