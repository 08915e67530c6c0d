"""The results store: DataFrames, schema upgrade, run look-up, groups."""
import json

import pytest

from bench import cli
from bench.results import store
from bench.results.files import SCHEMA_VERSION
from bench.errors import UserError
from tests.helpers.synth import even_sweep_point, write_run


@pytest.fixture
def root(tmp_path):
    write_run(tmp_path, "20250101T000000Z-a-1111", even_sweep_point(10, 10, 50), started_at=1.0)
    write_run(tmp_path, "20250102T000000Z-b-2222", even_sweep_point(10, 20, 50), started_at=2.0,
              load={"kind": "concurrency", "concurrency": 2, "requests": 10})
    return tmp_path


def test_frames(root):
    runs = store.find_runs([root])
    df = store.runs_frame(runs)
    assert list(df["run_id"]) == ["20250101T000000Z-a-1111", "20250102T000000Z-b-2222"]
    assert list(df["load_point"]) == [1, 2]
    assert df["request_s"].tolist() == pytest.approx([10, 20])
    assert df["backend_version"].tolist() == ["transformers 5.19.0"] * 2
    assert df["group"].nunique() == 1 and df["series"].nunique() == 2   # same group, two load points
    sf = store.samples_frame(runs)
    assert len(sf) == 20 and sf["ttft_ms"].max() == pytest.approx(50)


def test_upgrade_v0_and_reject_newer(root):
    d = root / "20250101T000000Z-a-1111"
    meta = json.loads((d / "run.json").read_text())
    v0 = {k: v for k, v in json.loads(json.dumps(meta)).items() if k not in ("schema_version", "status")}
    v0["metrics"] = v0.pop("summary")
    v0["env"]["git"] = v0["env"].pop("git_sha")
    up = store.upgrade(v0)
    assert up["schema_version"] == SCHEMA_VERSION and up["summary"] == meta["summary"] and up["status"] == "complete"
    assert up["env"]["git_sha"] == meta["env"]["git_sha"]
    (d / "run.json").write_text(json.dumps(dict(meta, schema_version=99)))
    with pytest.raises(UserError, match="schema_version 99"):
        store.read(d)


def test_upgrade_v1_cuts_the_load_to_its_kind_and_records_the_point():
    """v1 stored every kind's load keys (unused ones null); the point came from the config."""
    v1 = {"schema_version": 1, "status": "complete", "summary": {}, "env": {}, "config": {"load": {
        "kind": "rate", "concurrency": None, "rate": 4.0, "burstiness": 1.0, "requests": 10,
        "duration_s": None, "warmup": 0, "workers": 1, "search": None}}}
    up = store.upgrade(v1)
    assert up["config"]["load"] == {"kind": "rate", "concurrency": None, "rate": 4.0, "burstiness": 1.0,
                                     "requests": 10, "duration_s": None, "warmup": 0, "workers": 1}
    assert up["load_point"] == {"kind": "rate", "value": 4.0, "per_second": True, "open_loop": True,
                                "max_in_flight": None}
    assert store.load_point(up) == 4.0


def test_resolve(root):
    assert store.resolve("b-2222", root).run_id.endswith("2222")
    assert store.resolve(str(root / "20250101T000000Z-a-1111"), root).run_id.endswith("1111")
    with pytest.raises(UserError, match="matches 2 runs"):
        store.resolve("2025010", root)
    with pytest.raises(UserError, match="no run folder"):
        store.resolve("nope", root)


def test_ls_cli(root, capsys):
    assert cli.main(["ls", str(root)]) == 0
    out = capsys.readouterr().out
    assert "20250102T000000Z-b-2222" in out and "2 run(s)" in out
    assert cli.main(["ls", str(root / "missing")]) == 2
