"""`load.executor: ray` (bench.run.ray_pool) at validation: its keys, its one-line errors, and a
local run that never imports Ray."""
import subprocess
import sys

import pytest
import yaml

from bench import config
from bench.errors import UserError


def _cfg(tmp_path, load: dict, backend: str = "openai"):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": "tiny", "backend": {"name": backend},
                                    "workload": {"file": "chat", "scale": 0.05},
                                    "load": {"kind": "rate", "rate": 5, "requests": 4} | load}))
    return path


def test_ray_keys_validate_and_reach_a_capacity_searchs_probes(tmp_path):
    placement = {"cpus": 0.5, "resources": {"client": 1}, "strategy": "STRICT_SPREAD"}
    (spec,) = config.load(_cfg(tmp_path, {"executor": "ray", "workers": 3, "ray": placement}))
    assert spec.load.executor == "ray" and spec.load.workers == 3
    assert spec.load.ray.cpus == 0.5 and spec.load.ray.resources == {"client": 1.0}
    (local,) = config.load(_cfg(tmp_path, {}))
    assert local.load.executor == "local" and local.load.ray.strategy == "SPREAD"
    from bench.load.capacity import Capacity
    cap = Capacity.model_validate({"kind": "capacity", "executor": "ray", "workers": 2,
                                   "search": {"over": "rate", "low": 1, "high": 4}})
    probe = cap.probe(2.0, 5.0, first=True)
    assert probe.executor == "ray" and probe.workers == 2


@pytest.mark.parametrize("load, backend, message", [
    ({"executor": "dask"}, "openai", "load.executor: Input should be 'local' or 'ray'"),
    ({"executor": "ray", "ray": {"strategy": "EVERYWHERE"}}, "openai", "load.ray.strategy: Input should be"),
    ({"executor": "ray", "ray": {"cpus": 0}}, "openai", "load.ray.cpus: Input should be greater than 0"),
    ({"executor": "ray", "ray": {"gpus": 1}}, "openai", "load.ray.gpus"),
    ({"executor": "ray"}, "hf", "load.executor: 'ray' needs a backend that is a client of a server"),
])
def test_bad_ray_keys_are_one_line_errors(tmp_path, load, backend, message):
    path = _cfg(tmp_path, load, backend)
    with pytest.raises(UserError) as err:
        config.load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_without_ray_installed_a_ray_config_is_a_one_line_error_exit_2(tmp_path, capsys):
    path = _cfg(tmp_path, {"executor": "ray", "workers": 2})
    # Ray hidden from the import system, as on an install without the `ray` extra
    code = ("import sys, importlib.util; real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'ray' else real(name, *a)\n"
            "sys.modules['ray'] = None\n"
            "from bench import cli; sys.exit(cli.main(['validate', sys.argv[1]]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (f"error: {path}: load.executor: 'ray' needs Ray, which is not installed "
                                  "(pip install 'bench[ray]'); allowed without it: local"), out.stderr


def test_a_local_run_never_imports_ray():
    code = ("import sys; import bench.cli, bench.run.runner, bench.run.run_one, bench.run.worker_choice; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def _spec(label: str, delay: str = "0", experiment: str | None = None, **resources):
    from bench.config import RunSpec
    from bench.treatments import TreatmentSpec
    treatment = TreatmentSpec(name=label, experiment=experiment, repetition=0) if experiment else None
    return RunSpec.model_validate({
        "name": "s", "label": label, "backend": {"name": "openai"},
        "workload": config.resolve_workload({"file": "chat", "scale": 0.05}, "x"),
        "load": {"kind": "rate", "rate": 5, "requests": 4},
        "server": {"command": ["{python}", "-m", "stub", "--delay-ms", delay]},
        "resources": resources}) if treatment is None else _spec(label, delay, **resources).model_copy(
            update={"treatment": treatment})


def test_a_suite_is_cut_into_shares_by_engine_and_experiment():
    from bench.run.ray_suite import shares, task_options
    specs = [_spec("a", "0"), _spec("b", "1"), _spec("a2", "0"),            # a and a2 share an engine
             _spec("base", "2", "x"), _spec("fast", "3", "x"), _spec("c", "4")]   # base, fast: one experiment
    group = lambda s: s.treatment.experiment if s.treatment else None     # noqa: E731
    assert shares(specs, group) == [[0, 2], [1], [3, 4], [5]]
    assert shares(specs, lambda s: None) == [[0, 2], [1], [3], [4], [5]]
    opts = task_options([_spec("a", cpus=2, gpus=1, memory_gb=8), _spec("b", cpus=1, gpus=0.5, custom={"h100": 1})])
    assert opts == {"num_cpus": 2, "num_gpus": 1, "max_retries": 0, "memory": 8 * 2**30, "resources": {"h100": 1}}


def test_bad_resources_are_one_line_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": "tiny", "workload": {"file": "chat", "scale": 0.05},
                                    "load": {"kind": "rate", "rate": 5, "requests": 4},
                                    "resources": {"gpus": -1}}))
    with pytest.raises(UserError) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: resources.gpus: Input should be greater than or equal to 0")


def test_runs_without_ray_dump_their_config_as_before(tmp_path):
    """run.json's config and the series key made from it (bench.results.store.keys) carry the
    new keys only where set: a trend over runs made before them goes on."""
    (local,) = config.load(_cfg(tmp_path, {}))
    dumped = local.model_dump(mode="json")
    assert "resources" not in dumped and not {"executor", "ray"} & set(dumped["load"])
    assert config.RunSpec.model_validate(dumped) == local
    (remote,) = config.load(_cfg(tmp_path, {"executor": "ray", "ray": {"cpus": 2}}))
    d = remote.model_dump(mode="json")
    assert d["load"]["executor"] == "ray" and d["load"]["ray"]["cpus"] == 2
    assert config.RunSpec.model_validate(d) == remote
