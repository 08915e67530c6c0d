"""`bench validate` of a vLLM config imports no engine: vLLM's engine arguments are read from its
source (bench.backends.vllm_args), with the same names and plain types its class declares."""
import importlib.util
import subprocess
import sys
import textwrap
from typing import Literal, Optional

import pytest
import yaml

from bench.backends import vllm_args

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_validating_a_vllm_config_imports_no_engine(tmp_path, tiny_path):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "v", "model": tiny_path, "workload": {"file": "chat", "scale": 0.05},
        "backend": {"name": "vllm", "options": {"max_model_len": 512, "enable_prefix_caching": True,
                                                "kv_cache_dtype": "auto", "env": {"X": "1"}}},
        "load": {"kind": "concurrency", "concurrency": 2, "requests": 4}}))
    code = ("import sys; from bench import cli; rc = cli.main(['validate', sys.argv[1]]); "
            "print(sorted(m for m in ('vllm', 'torch', 'transformers') if m in sys.modules)); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (its source is what is read)")
@pytest.mark.parametrize("options, error", [
    ({"max_modl_len": 10}, "max_modl_len: not a vLLM engine argument"),
    ({"enable_prefix_caching": "yes"}, "enable_prefix_caching: Input should be a valid boolean"),
    ({"kv_cache_dtype": "fp9"}, "kv_cache_dtype: Input should be"),
    ({"runner": "generat"}, "runner: Input should be"),            # a Literal inside a Literal
])
def test_vllm_options_are_checked_from_the_source(options, error):
    from bench.backends.vllm_engine import VLLMOptions

    with pytest.raises(ValueError, match=error):
        VLLMOptions.model_validate(options)
    VLLMOptions.model_validate({"runner": "generate", "kv_cache_dtype": "fp8", "max_model_len": 512,
                                "speculative_config": {"method": "ngram"}})   # a config class: passed through


def test_the_reader_follows_aliases_and_reads_what_runs(tmp_path):
    root = tmp_path / "vllm"
    (root / "engine").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config" / "__init__.py").write_text("from vllm.config.cache import CacheDType\n")
    (root / "config" / "cache.py").write_text(textwrap.dedent("""\
        from typing import Literal
        Kind = Literal["a", "b"]
        CacheDType = Literal["auto", Kind]
        """))
    (root / "engine" / "arg_utils.py").write_text(textwrap.dedent("""\
        from typing import TYPE_CHECKING, ClassVar, Optional
        from vllm.config import CacheDType
        import torch
        if TYPE_CHECKING:
            from vllm.quant import Methods
        else:
            Methods = str
        class EngineArgs:
            kv: CacheDType = "auto"
            quant: Methods | None = None
            n: Optional[int] = None
            sizes: "list[int] | None" = None
            dtype: torch.dtype | str = "auto"
            cls_only: ClassVar[int] = 1
        class AsyncEngineArgs(EngineArgs):
            log: bool = False
        """))
    types = vllm_args.read_engine_args(root)
    assert list(types) == ["kv", "quant", "n", "sizes", "dtype", "log"]     # no ClassVar
    assert types["kv"] == Literal["auto", "a", "b"]
    assert types["quant"] == Optional[str] and types["n"] == Optional[int]   # noqa: UP045
    assert types["sizes"] == Optional[list[int]] and types["log"] is bool    # noqa: UP045
    assert types["dtype"] is None                  # torch.dtype: passed through, vLLM checks it
