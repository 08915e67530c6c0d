"""The model's tokenizer for making prompts, without importing torch where that is safe.

Workloads only encode text (`encode(text, add_special_tokens=False)`), and read the special ids,
the EOS id and the vocabulary size. `transformers.AutoTokenizer` gives all of that, but importing
it imports torch (transformers 5: configuration_utils -> generation -> torch): about 390 MiB of
resident memory in a `bench run` parent that drives a server and needs no model in process
(measured: 55 -> 433 MiB for a chat run on the openai backend).

So a local folder whose tokenizer is the generic fast one (tokenizer_config.json names
TokenizersBackend or PreTrainedTokenizerFast and sets nothing that changes encoding: the tiny
models and the presets this harness builds, Llama 3 checkpoints) is read with `tokenizers`
alone, from its tokenizer.json, as transformers itself reads it. Anything else (a hub id, a
model-specific class that may rebuild its pipeline, settings such as add_prefix_space) goes
through AutoTokenizer. tests/unit/test_tokenizer.py checks both give the same ids.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERIC_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
EXTRA_SPECIAL = ("extra_special_tokens", "additional_special_tokens")
# tokenizer_config.json keys that do not change what encode(text, add_special_tokens=False) gives
# nor the special ids, beyond what this module reads itself.
HARMLESS_KEYS = frozenset({"tokenizer_class", "backend", "model_max_length", "clean_up_tokenization_spaces",
                           "model_input_names", "padding_side", "truncation_side", "added_tokens_decoder",
                           "chat_template", "is_local", "local_files_only",   # how it was loaded
                           *SPECIAL_NAMES, *EXTRA_SPECIAL})


def load_tokenizer(model_path: str) -> Any:
    """A JsonTokenizer where the folder allows it, else transformers' AutoTokenizer."""
    config = _generic_config(Path(model_path).expanduser())
    if config is not None:
        return JsonTokenizer(model_path, config)
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_path)


def _generic_config(folder: Path) -> dict[str, Any] | None:
    """The folder's tokenizer_config.json when tokenizer.json alone defines its encoding."""
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(config, dict) or config.get("tokenizer_class") not in GENERIC_CLASSES
            or not set(config) <= HARMLESS_KEYS or not (folder / "tokenizer.json").is_file()):
        return None
    # Added tokens that tokenizer.json lacks would be added by transformers at load: not here.
    known = {t.get("content") for t in _added_tokens(folder)}
    decoder = config.get("added_tokens_decoder") or {}
    if not isinstance(decoder, dict) or any(t.get("content") not in known for t in decoder.values()):
        return None
    return config


def _added_tokens(folder: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((folder / "tokenizer.json").read_text()).get("added_tokens") or []
    except (OSError, ValueError, AttributeError):
        return []


def _content(token: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken mapping."""
    return token.get("content") if isinstance(token, dict) else token


class JsonTokenizer:
    """The part of a transformers tokenizer that workloads use, over a `tokenizers.Tokenizer`."""

    def __init__(self, model_path: str, config: dict[str, Any]):
        from tokenizers import Tokenizer

        self.name_or_path = str(model_path)
        self._tok = Tokenizer.from_file(str(Path(model_path).expanduser() / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        tokens = [_content(config.get(name)) for name in SPECIAL_NAMES]
        for key in EXTRA_SPECIAL:
            extra = config.get(key) or []
            tokens += [_content(t) for t in (extra.values() if isinstance(extra, dict) else extra)]
        ids = [self._tok.token_to_id(t) for t in dict.fromkeys(t for t in tokens if t)]
        self.all_special_ids = [i for i in ids if i is not None]
        eos = _content(config.get("eos_token"))
        self.eos_token_id = self._tok.token_to_id(eos) if eos else None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)
