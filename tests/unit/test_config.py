"""Config validation: good configs expand; bad ones give one line with file and key path, exit 2."""
import subprocess
import sys
import textwrap

import pytest

from bench import config
from bench.errors import UserError

GOOD = """
name: t
model: tiny
backend: {name: hf, options: {max_batch_size: 4}}
workload: {file: chat, scale: 0.05}
load: {kind: concurrency, concurrency: 2, requests: 4}
slo: {ttft_ms: 100}
matrix:
  load.concurrency: [1, 2]
  seed: [0, 1]
"""

BAD = {
    "bad_yaml": ("load: {kind: concurrency\n", "invalid YAML"),
    "unknown_top": (GOOD + "colour: red\n", "colour: unknown key"),
    "unknown_nested": (GOOD.replace("requests: 4", "requests: 4, reqs: 3"), "load.reqs: unknown key"),
    "wrong_type": (GOOD.replace("requests: 4", "requests: many"), "load.requests"),
    "negative": (GOOD.replace("load.concurrency: [1, 2]", "load.concurrency: [1, -2]"),
                 "load.concurrency: Input should be greater than or equal to 1"),
    "bad_kind": (GOOD.replace("kind: concurrency", "kind: burst"), "load.kind"),
    "rate_without_rate": (GOOD.replace("kind: concurrency", "kind: rate"), "needs load.rate"),
    "no_stop": (GOOD.replace(", requests: 4", ""), "'requests' or 'duration_s'"),
    "bad_backend": (GOOD.replace("name: hf", "name: nope"), "backend.name: 'nope' is not a backend"),
    "bad_backend_option": (GOOD.replace("max_batch_size: 4", "max_batch: 4"),
                           "backend.options.max_batch: unknown key"),
    "bad_workload_file": (GOOD.replace("file: chat", "file: nosuch"), "nosuch.yaml: file not found"),
    "bad_workload_key": (GOOD.replace("scale: 0.05", "scale: 0.05, temperature: 3"),
                         "temperature: unknown key"),
    "bad_dist": (GOOD.replace("{file: chat, scale: 0.05}",
                              "{kind: chat, input_tokens: {dist: lognormal, median: 10, p90: 5},"
                              " output_tokens: {dist: fixed, value: 3}}"), "p90 >= median"),
    "bad_matrix": (GOOD.replace("seed: [0, 1]", "seed: 3"), "matrix: expected"),
    "negative_slo": (GOOD.replace("ttft_ms: 100", "ttft_ms: -1"), "slo.ttft_ms"),
    "not_mapping": ("- just\n- a list\n", "expected a mapping"),
}


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_good_config_expands_matrix(tmp_path):
    specs = config.load(write(tmp_path, GOOD))
    assert [(s.load.concurrency, s.seed) for s in specs] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert specs[0].label == "concurrency=1,seed=0"
    assert specs[0].workload.kind == "chat" and specs[0].workload.scale == 0.05
    # the workload file's distributions are resolved into the spec (fully resolved config)
    assert specs[0].workload.input_tokens.median == 1020


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_names_file_and_key(tmp_path, case):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        config.load(path)
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg
    assert msg.startswith(str(path)) or "workloads" in msg


def test_cli_validate_exit_code_and_no_traceback(tmp_path):
    bad = write(tmp_path, BAD["unknown_nested"][0])
    out = subprocess.run([sys.executable, "-m", "bench", "validate", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0
    assert f"{bad}: load.reqs: unknown key" in out.stderr
    good = write(tmp_path, GOOD, "good.yaml")
    ok = subprocess.run([sys.executable, "-m", "bench", "validate", str(good)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "4 run(s) valid" in ok.stdout


def test_missing_model_path_is_a_user_error():
    from bench.models import resolve_model
    with pytest.raises(UserError, match="path does not exist"):
        resolve_model("./no/such/model")
