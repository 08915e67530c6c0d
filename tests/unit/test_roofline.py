"""Roofline arithmetic against hand-computed values, and preset sizes against the model cards."""
import pytest

from bench.metrics import roofline as rl
from bench.models.presets import PRESETS
from bench.types import Sample

LLAMA8B = rl.ModelShape.from_config(PRESETS["llama-3.1-8b"].config)
H100 = rl.gpu_spec("NVIDIA H100 80GB HBM3")


@pytest.mark.parametrize("name, billions", [("llama-3.2-1b", 1.24), ("llama-3.1-8b", 8.03),
                                            ("qwen2.5-7b", 7.62)])
def test_preset_parameter_counts_match_published_sizes(name, billions):
    shape = rl.ModelShape.from_config(PRESETS[name].config)
    assert shape.params == PRESETS[name].published_params
    assert round(shape.params / 1e9, 2) == billions


def test_llama_8b_by_hand():
    # embeddings 128256 x 4096 twice (untied); per layer q,o 4096^2, k,v 4096x1024, MLP 3x4096x14336, 2 norms
    layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    assert LLAMA8B.params == 2 * 128256 * 4096 + 32 * layer + 4096 == 8_030_261_248
    assert rl.weight_bytes(LLAMA8B, 2) == 16_060_522_496
    assert rl.kv_bytes_per_token(LLAMA8B, 2) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert rl.kv_bytes_per_token(LLAMA8B, rl.dtype_bytes("fp8_e4m3")) == 65_536
    # 2 x (params - input embedding) + QK^T and AV over 8192 tokens: 4 x 32 x 8192 x 32 x 128
    assert rl.flops_per_token(LLAMA8B, 8192) == 2 * 7_504_924_672 + 4_294_967_296


def test_qwen_has_qkv_bias_and_small_kv():
    shape = rl.ModelShape.from_config(PRESETS["qwen2.5-7b"].config)
    assert shape.qkv_bias and shape.head_dim == 128
    assert rl.kv_bytes_per_token(shape) == 2 * 28 * 4 * 128 * 2 == 57_344


def test_the_196_tok_s_example():
    """Llama-3.1-8B bf16, batch 1, 8K context, H100 SXM: 3.35e12 / (16.06e9 + 1.07e9) B/s."""
    bound = rl.decode_bound_tok_s(LLAMA8B, H100, batch=1, context=8192)
    assert bound == pytest.approx(3.35e12 / (16_060_522_496 + 8192 * 131_072))
    assert round(bound) == 196
    # at batch 512 and 16 tokens of context the same GPU becomes compute bound (ridge ~295 FLOP/B)
    flops = 512 * rl.flops_per_token(LLAMA8B, 16)
    assert rl.decode_bound_tok_s(LLAMA8B, H100, 512, 16) == pytest.approx(512 / (flops / 989e12))


@pytest.mark.parametrize("nvml_name, table_name, gb_s", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 3350), ("NVIDIA H100 PCIe", "H100 PCIe", 2000),
    ("NVIDIA H100 NVL", "H100 NVL", 3900), ("NVIDIA H200", "H200 SXM", 4800),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM", 2039), ("NVIDIA A100-SXM4-40GB", "A100 40GB SXM", 1555),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe", 1935), ("NVIDIA A100-PCIE-40GB", "A100 40GB PCIe", 1555),
    ("NVIDIA L4", "L4", 300), ("NVIDIA L40S", "L40S", 864), ("NVIDIA A10G", "A10G", 600)])
def test_gpu_table_lookup(nvml_name, table_name, gb_s):
    spec = rl.gpu_spec(nvml_name)
    assert (spec.name, spec.bandwidth_gb_s) == (table_name, gb_s) and spec.source.startswith("https://")


def test_unknown_or_no_gpu_gives_nothing():
    assert rl.gpu_spec("Tesla T4") is None and rl.gpu_spec(None) is None


def _sample(prompt, sent_ms, first_ms, n, gap_ms):
    token_ns = tuple(int((first_ms + i * gap_ms) * 1e6) for i in range(n))
    return Sample("r", None, int(sent_ms * 1e6), int(sent_ms * 1e6), token_ns, token_ns, prompt, None, n)


def test_mbu_and_mfu_from_samples_by_hand():
    """One request: prompt 1000, 11 tokens 10 ms apart from t=50 ms; the run lasts 150 ms.
    Decoding 100 of 150 ms -> batch 2/3; context 1000 + 11/2 = 1005.5; step 10 ms."""
    s = _sample(1000, 0, 50, 11, 10)
    prof = rl.decode_profile([s], duration_s=0.150, tpot_ms_mean=10.0)
    assert prof.batch_mean == pytest.approx(2 / 3) and prof.context_mean == 1005.5
    eff = rl.efficiency(LLAMA8B, H100, prof)
    step_bytes = 16_060_522_496 + (2 / 3) * 131_072 * 1005.5
    assert eff["mbu"] == pytest.approx(step_bytes / 0.010 / 3.35e12)          # about 0.48
    step_flops = (2 / 3) * (2 * 7_504_924_672 + 4 * 32 * 1005.5 * 32 * 128)
    assert eff["mfu"] == pytest.approx(step_flops / 0.010 / 989e12)
    assert 0.47 < eff["mbu"] < 0.49


def test_for_run_is_empty_on_the_cpu(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 4096}')
    s = _sample(100, 0, 5, 5, 1)
    summary = {"tpot_ms_mean": 1.0, "duration_s": 0.01}
    assert rl.for_run([s], summary, str(tmp_path), {}, None) == ({}, {})
    assert rl.for_run([s], summary, str(tmp_path), {}, "NVIDIA H100 80GB HBM3") == ({}, {})  # no shape


def test_for_run_on_a_preset_folder_with_an_h100_name(tmp_path):
    import json
    (tmp_path / "config.json").write_text(json.dumps(PRESETS["llama-3.1-8b"].config))
    s = _sample(8192, 0, 0, 101, 10)          # decoding the whole run: batch 1
    summary = {"tpot_ms_mean": 10.0, "duration_s": 1.0}
    out, info = rl.for_run([s], summary, str(tmp_path), {"dtype": "auto", "kv_cache_dtype": "fp8"},
                           "NVIDIA H100 80GB HBM3")
    assert info["gpu"] == "H100 SXM" and info["kv_bytes_per_token"] == 65_536
    assert info["weight_bytes"] == 16_060_522_496           # bf16 from the config's torch_dtype
    assert out["decode_batch_mean"] == pytest.approx(1.0)
    expected = (16_060_522_496 + 65_536 * (8192 + 101 / 2)) / 0.010 / 3.35e12
    assert out["mbu"] == pytest.approx(expected)
