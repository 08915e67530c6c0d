"""Preflight: each run and A/B arm checked against the machine's facts (a fake Machine here: the
CPU flags are never this machine's) by its backend's own rules, before anything runs; what cannot
run is recorded `skipped` with its reason, an engine that fails to start `failed`, and the rest of
the suite goes on. Readers (experiment file, summary, report) list them, and exit codes say 0
when all that could run here ran."""
from __future__ import annotations

import json

import pytest

from bench import config, registry
from bench.analysis import experiment, summary
from bench.analysis.report import build
from bench.backends import preflight
from bench.backends.base import Backend, BackendOptions, Chunk
from bench.backends.machine import Machine, Problem, Replacement, _cpu_flags
from bench.results.files import RunWriter
from bench.results.run import counts_as_failed, read
from bench.run import runner
from tests.helpers.paths import ROOT

AVX2 = Machine(arch="x86_64", cpu_flags=frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"}))
AVX512 = Machine(arch="x86_64", cpu_flags=AVX2.cpu_flags | {"avx512f", "avx512bw"})
AMX = Machine(arch="x86_64", cpu_flags=AVX2.cpu_flags | {"amx_tile", "amx_bf16"})


@pytest.fixture(scope="module")
def main_job():
    return config.load(ROOT / "configs/bench.yaml")


def test_fp8_arm_of_the_main_job_is_skipped_on_avx2_and_nothing_else_changes(main_job):
    checked = preflight.plan(main_job, AVX2)
    assert [c.spec for c in checked] == main_job           # nothing replaced, in the same order
    fp8 = [c for c in checked if c.spec.treatment and c.spec.treatment.name == "kv-fp8"]
    assert len(fp8) == 4 and not any(c.runs for c in fp8)
    assert "AVX-512 or AMX" in fp8[0].found.reason and "kv_cache_dtype fp8" in fp8[0].found.reason
    rest = [c for c in checked if c not in fp8]
    assert len(rest) == len(main_job) - 4 and all(c.runs and c.found is None for c in rest)
    assert {c.spec.treatment.name for c in rest if c.spec.treatment} == {"baseline", "spec-self"}
    (line,) = preflight.lines(checked)                      # the arm once, its 4 repetitions counted
    assert line.startswith("cannot run here: bench arm kv-fp8: ") and line.endswith("skipped (4 runs)")


@pytest.mark.parametrize("machine", [AVX512, AMX, Machine(arch="x86_64", cuda=True, cuda_memory_mb=(80e3,))])
def test_the_main_job_runs_whole_where_fp8_kv_can(main_job, machine):
    assert all(c.runs and c.found is None for c in preflight.plan(main_job, machine))


def test_vllm_rules_by_the_facts():
    from bench.backends.vllm_engine import VLLMBackend

    tiny = {"hidden_size": 128, "num_attention_heads": 2}
    assert isinstance(VLLMBackend.preflight({"kv_cache_dtype": "int8_per_token_head"}, AVX2, tiny), Problem)
    assert VLLMBackend.preflight({"kv_cache_dtype": "auto"}, AVX2, tiny) is None
    odd_heads = {"hidden_size": 96, "num_attention_heads": 2}          # head size 48
    assert "divisible by 32" in VLLMBackend.preflight({"kv_cache_dtype": "fp8"}, AVX512, odd_heads).reason
    no_vllm = Machine(cpu_flags=AVX512.cpu_flags, packages=frozenset())
    assert "not installed" in VLLMBackend.preflight({}, no_vllm, tiny).reason
    suffix = {"speculative_config": {"method": "suffix"}}
    assert "arctic" in VLLMBackend.preflight(suffix, Machine(packages=frozenset({"vllm"})), tiny).reason
    one_gpu = Machine(cuda=True, cuda_memory_mb=(80e3,), packages=frozenset({"vllm"}))
    assert "2 GPUs" in VLLMBackend.preflight({"tensor_parallel_size": 2}, one_gpu, tiny).reason


def test_an_equivalent_replaces_what_cannot_run_and_says_so(tmp_path):
    specs = config.load_doc({"model": str(tmp_path), "backend": {"name": "hf", "options": {
        "model_kwargs": {"attn_implementation": "flash_attention_2", "low_cpu_mem_usage": True}}},
        "load": {"kind": "concurrency", "concurrency": 1, "requests": 2}}, "x.yaml")
    hf = frozenset({"torch", "transformers"})
    (c,) = preflight.plan(specs, Machine(packages=hf))
    assert c.runs and c.original is specs[0]
    assert c.spec.backend.options["model_kwargs"] == {"attn_implementation": "sdpa", "low_cpu_mem_usage": True}
    assert c.line().startswith("replaced here: x: attn_implementation flash_attention_2 -> sdpa")
    gpu = Machine(cuda=True, cuda_memory_mb=(80e3,), packages=hf | {"flash_attn"})
    assert preflight.plan(specs, gpu)[0].found is None


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert _cpu_flags(str(tmp_path / "cpuinfo")) == {"fpu", "avx2", "fma"}
    assert _cpu_flags(str(tmp_path / "absent")) is None
    assert Machine().has_flag("avx512f")                 # unknown flags: assumed there, never refused


# --- the runner: skipped and failed arms recorded, the suite goes on ---------------------------

class Refused(Backend):
    """A backend whose rule refuses every CPU without AVX-512."""
    name = "pf-refused"

    @classmethod
    def preflight(cls, options, machine, model_cfg):
        return None if machine.has_flag("avx512f") else Problem("needs AVX-512")


class Broken(Backend):
    """A backend whose engine fails to start; counts its starts."""
    name = "pf-broken"
    starts = 0

    async def start(self) -> None:
        type(self).starts += 1
        raise ValueError("max_model_len 1000000 is larger than the model allows\n(second line)")


@pytest.fixture
def suite(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, "pf-refused", f"{__name__}:Refused")
    monkeypatch.setitem(registry.BACKENDS, "pf-broken", f"{__name__}:Broken")
    Broken.starts = 0
    model = tmp_path / "model"
    model.mkdir()
    doc = {"name": "pf", "model": str(model), "backend": "pf-broken", "repetitions": 2,
           "load": {"kind": "concurrency", "concurrency": 1, "requests": 2},
           "treatments": [{"name": "refused", "options": {}}]}
    specs = config.load_doc(doc, "pf.yaml")
    # the treatment arm on the refusing backend: a second backend, as an arm with other settings
    specs = [s.model_copy(update={"backend": s.backend.model_copy(update={"name": "pf-refused"})})
             if s.treatment.name == "refused" else s for s in specs]
    out = tmp_path / "results"
    return runner.run_all(specs, out, machine=AVX2), out


def test_skipped_and_failed_arms_are_recorded_and_the_suite_goes_on(suite):
    runs, out = suite
    assert [(r.spec.treatment.name, r.status) for r in runs] == [
        ("baseline", "failed"), ("refused", "skipped"), ("baseline", "failed"), ("refused", "skipped")]
    assert Broken.starts == 1                                     # not started again for its second run
    meta = read(runs[0].dir).meta
    assert meta["reason"] == meta["error"] == ("engine failed to start: ValueError: max_model_len 1000000 is "
                                               "larger than the model allows (second line)")
    assert read(runs[1].dir).meta["reason"] == "needs AVX-512" and "error" not in read(runs[1].dir).meta
    assert [counts_as_failed(r.meta) for r in runs] == [True, False, True, False]


def test_experiment_file_summary_and_report_list_them(suite, capsys):
    runs, out = suite
    (path,) = experiment.write(runs, out)
    (exp,) = json.loads(path.read_text())["experiments"]
    assert exp["arms"] == []
    assert [(n["treatment"], n["status"], len(n["runs"])) for n in exp["not_run"]] == [
        ("baseline", "failed", 2), ("refused", "skipped", 2)]
    assert "needs AVX-512" in experiment.render_file(path)
    assert summary.summarize(str(out)) == 1                       # a run failed
    text = capsys.readouterr().out
    assert "skipped: pf arm refused: needs AVX-512 (2 runs)" in text
    assert "  refused @ load 1: skipped: needs AVX-512\n" in text
    assert not text.startswith("workloads")                       # no plain run ran: no empty table
    # --brief (make bench, after `bench run` printed these): not said twice, the exit code kept
    assert summary.summarize(str(out), brief=True) == 1 and "AVX-512" not in capsys.readouterr().out
    (section,) = [s for s in build(runs, [], [path]) if s.title == "Not run"]
    assert [row[2:] for row in section.rows[1]][1] == ["skipped", "needs AVX-512"]


def _run(out, status, **fields):
    w = RunWriter(out, f"r-{status}-{len(list(out.glob('*')))}", {"name": "s", "label": "", "suite": "x",
                                                                   "config": {"workload": {"kind": "chat"}}})
    w.finish(status, **fields)


def test_summary_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(summary, "workloads", lambda runs: [])    # the tables are not under test
    monkeypatch.setattr(summary, "not_run", lambda runs: [])
    _run(tmp_path, "complete")
    _run(tmp_path, "skipped", reason="needs AVX-512")
    # a capacity probe its search's time cap stopped: part of a finished search
    _run(tmp_path, "partial", error="interrupted", capacity_probe={"stop": "time_cap"})
    assert summary.summarize(str(tmp_path)) == 0
    _run(tmp_path, "partial", error="interrupted", capacity_probe={"stop": "interrupted"})
    assert summary.summarize(str(tmp_path)) == 1


def test_validate_says_what_cannot_run_here_and_exits_0(tmp_path, capsys, monkeypatch):
    import argparse

    from bench.backends import machine
    from bench.commands import validate

    cfg = tmp_path / "offload.yaml"
    cfg.write_text(json.dumps({"name": "off", "model": str(tmp_path), "backend": {"name": "hf", "options": {
        "generate_kwargs": {"cache_implementation": "offloaded"}}},
        "load": {"kind": "concurrency", "concurrency": 1, "requests": 2}, "matrix": {"load.concurrency": [1, 2]}}))
    monkeypatch.setattr(machine.Machine, "here", classmethod(lambda cls: Machine(packages=frozenset(
        {"torch", "transformers"}))))
    assert validate.main(argparse.Namespace(config=str(cfg))) == 0
    out = capsys.readouterr().out.splitlines()
    why = "cache_implementation offloaded needs CUDA; none here; skipped"
    assert out[-3:] == [f"cannot run here: off concurrency=1: {why}", f"cannot run here: off concurrency=2: {why}",
                        "on this machine: 0 of 2 run(s) can run"]


def test_a_managed_vllm_server_obeys_the_vllm_rules(tmp_path):
    doc = {"name": "srv", "model": str(tmp_path), "backend": {"name": "openai"},
           "server": {"args": ["--max-model-len", "512", "--kv-cache-dtype", "fp8_e5m2"]},
           "load": {"kind": "concurrency", "concurrency": 1, "requests": 2}}
    specs = config.load_doc(doc, "srv.yaml")
    (c,) = preflight.plan(specs, Machine(cpu_flags=AVX2.cpu_flags, packages=frozenset({"vllm"})))
    assert not c.runs and c.found.reason.startswith("its server: kv_cache_dtype fp8_e5m2 on a CPU needs AVX-512")
    (c,) = preflight.plan(specs, Machine(cpu_flags=AVX512.cpu_flags, packages=frozenset({"vllm"})))
    assert c.runs and c.found is None
    own = {**doc, "server": {"command": ["my-server", "--port", "{port}"], "args": ["--kv-cache-dtype", "fp8"]}}
    assert preflight.plan(config.load_doc(own, "srv.yaml"), AVX2)[0].found is None     # not vLLM's: no rule


def test_each_setting_is_asked_once(main_job, monkeypatch):
    asked = []
    real = preflight.check
    monkeypatch.setattr(preflight, "check", lambda spec, machine: asked.append(spec) or real(spec, machine))
    preflight.plan(main_job, AVX2)
    # the shared engine's runs, the kv-fp8 arm and the spec-self arm: each setting once
    assert len(asked) == len({(s.model, s.backend.model_dump_json()) for s in main_job}) == 3


class Replaced(Backend):
    """A backend whose rule swaps an option this machine lacks for an equivalent; it answers at once."""
    name = "pf-replaced"

    class Options(BackendOptions):
        kernel: str = "fast"

    def __init__(self, model_path, options, seed=0):
        self.options = options

    @classmethod
    def preflight(cls, options, machine, model_cfg):
        if options.get("kernel") == "fast" and not machine.has_flag("avx512f"):
            return Replacement({"kernel": "portable"}, "kernel fast -> portable: fast needs AVX-512")
        return None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def stream(self, request):
        assert self.options["kernel"] == "portable"          # the replaced options reached the engine
        yield Chunk(token_ids=tuple(range(request.max_output_tokens)))


def test_a_replaced_option_is_recorded_in_each_run(tmp_path, monkeypatch, tiny_path):
    monkeypatch.setitem(registry.BACKENDS, "pf-replaced", f"{__name__}:Replaced")
    doc = {"name": "rp", "model": tiny_path, "backend": {"name": "pf-replaced", "options": {"kernel": "fast"}},
           "workload": {"file": "chat", "scale": 0.02},
           "load": {"kind": "concurrency", "concurrency": 1, "requests": 2}}
    (run,) = runner.run_all(config.load_doc(doc, "rp.yaml"), tmp_path, machine=AVX2)
    meta = read(run.dir).meta
    assert meta["status"] == "complete" and meta["config"]["backend"]["options"] == {"kernel": "portable"}
    assert meta["preflight"] == {"replaced": {"kernel": "fast"}, "with": {"kernel": "portable"},
                                 "reason": "kernel fast -> portable: fast needs AVX-512"}
