"""The workloads' tokenizer without transformers (bench.workloads.tokenizer) gives exactly what
AutoTokenizer gives: the same prompt pools, special ids, EOS id and encodings, so every prompt
token id of every workload is the same; and a run's parent does not import torch for it."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.models import presets
from bench.workloads.tokenizer import JsonTokenizer, _generic_config, load_tokenizer
from bench.workloads.tokens import _pool

TEXTS = ["DONE", "hello world", " <s> </s> x", "ünïcödé 数字 \n\t tabs", "a" * 50, ""]


@pytest.fixture(scope="module")
def folders(tiny_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {"tiny": tiny_path, "llama-3.2-1b": str(presets.build_preset("llama-3.2-1b", root))}


@pytest.mark.parametrize("name", ["tiny", "llama-3.2-1b"])
def test_same_ids_as_autotokenizer(folders, name):
    from transformers import AutoTokenizer

    hf, js = AutoTokenizer.from_pretrained(folders[name]), load_tokenizer(folders[name])
    assert isinstance(js, JsonTokenizer)
    assert set(js.all_special_ids) == set(hf.all_special_ids)
    assert js.eos_token_id == hf.eos_token_id and len(js) == len(hf)
    for text in TEXTS:
        assert js.encode(text, add_special_tokens=False) == hf.encode(text, add_special_tokens=False)
    for seed in (0, 5):   # the pool every prompt is sliced from
        assert np.array_equal(_pool(f"js{name}", js, seed, 50_000), _pool(f"hf{name}", hf, seed, 50_000))


def test_anything_else_goes_through_autotokenizer(tiny_path, tmp_path):
    config = json.loads((Path(tiny_path) / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer.json").write_bytes((Path(tiny_path) / "tokenizer.json").read_bytes())
    for changed in ({"tokenizer_class": "LlamaTokenizer"}, {"add_prefix_space": True},
                    {"added_tokens_decoder": {"9999": {"content": "<not-in-tokenizer.json>"}}}):
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(config | changed))
        assert _generic_config(tmp_path) is None, changed
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    assert _generic_config(tmp_path) == config
    assert _generic_config(tmp_path / "missing") is None


def test_a_chat_workload_imports_no_torch(tiny_path):
    params = {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
              "output_tokens": {"dist": "fixed", "value": 2}}
    code = ("import sys; from bench.workloads import make_workload; "
            f"w = make_workload({params!r}, {tiny_path!r}, 0); next(iter(w.sessions())); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
