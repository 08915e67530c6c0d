"""bench crosscheck's plumbing that needs no server: the shape taken from one of our runs, the
commands both clients run (the same lengths, concurrency and requests), and refusals."""
import json
import shutil

import pytest

from bench.errors import UserError
from bench.interop import crosscheck
from tests.helpers.paths import ROOT

RUN = ROOT / "tests" / "data" / "peers" / "bench" / "run"


def test_the_shape_of_our_run_drives_both_clients(tmp_path):
    fields = crosscheck.shape_like(str(RUN), "results")
    assert fields == {"model": "tiny", "served_model": "/root/.cache/bench/models/tiny-s0", "input_tokens": 128,
                      "output_tokens": 32, "concurrency": 4, "requests": 32}
    shape = crosscheck.CheckShape(**fields)
    ours = crosscheck.ours_cmd(shape, "http://127.0.0.1:9", tmp_path, tmp_path / "r")
    cfg = json.loads((tmp_path / "ours.yaml").read_text())
    assert ours[1:4] == ["-m", "bench", "run"]
    assert cfg["load"] == {"kind": "concurrency", "concurrency": 4, "requests": 32}
    assert cfg["backend"]["options"]["base_url"] == "http://127.0.0.1:9/v1"
    peer = crosscheck.peer_cmd(shape, "http://127.0.0.1:9/", "/tok", tmp_path, "x.json", "0.32.0", 1)
    flags = dict(zip(peer[4::1], peer[5::1]))
    assert flags["--random-input-len"] == "128" and flags["--random-output-len"] == "32"
    assert flags["--max-concurrency"] == "4" and flags["--num-prompts"] == "32"
    assert flags["--random-range-ratio"] == "0" and "--ignore-eos" in peer and "--save-detailed" in peer
    assert flags["--base-url"] == "http://127.0.0.1:9" and flags["--model"] == "/root/.cache/bench/models/tiny-s0"


def test_pinning_uses_taskset_when_asked():
    assert crosscheck.pinned(None, ["x"]) == ["x"]
    if shutil.which("taskset"):
        assert crosscheck.pinned("0", ["x"]) == ["taskset", "-c", "0", "x"]


def test_a_run_of_another_shape_is_refused_in_one_line(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    meta["config"]["workload"]["input_tokens"] = {"dist": "lognormal", "median": 100, "p90": 200}
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="fixed lengths; found chat with lognormal, fixed"):
        crosscheck.shape_like(str(tmp_path / "run"), "results")
