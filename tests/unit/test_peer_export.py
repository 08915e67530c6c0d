"""`bench export`: a run as an llm-d Benchmark Report v0.2 that has the schema's structure (the
fields, units and value kinds of its pydantic schema, extra fields forbidden: checked here field
by field; docs/peers.md shows the same files accepted by the schema inference-perf 0.7.0 ships),
read back by `bench import` with the same summary; and one CSV per run set."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml

from bench import cli
from bench.interop import importers, write
from bench.interop.exporters import br02
from bench.results import store
from tests.helpers.paths import ROOT

PEERS = ROOT / "tests" / "data" / "peers"
OURS = PEERS / "bench" / "run"

STAT_KEYS = {"units", "mean", "mode", "stddev", "min", "p0p1", "p1", "p5", "p10", "p25", "p50", "p75", "p90",
             "p95", "p99", "p99p9", "max"}
LATENCY_UNITS = {"time_to_first_token": {"ms", "s"}, "request_latency": {"ms", "s"},
                 "time_per_output_token": {"ms/token", "s/token"}, "inter_token_latency": {"ms/token", "s/token"},
                 "normalized_time_per_output_token": {"ms/token", "s/token"}}
THROUGHPUT_UNITS = {"input_token_rate": {"tokens/s"}, "output_token_rate": {"tokens/s"},
                    "total_token_rate": {"tokens/s"}, "request_rate": {"queries/s"}}


def _stats(block, units, where):
    assert set(block) <= STAT_KEYS, (where, set(block) - STAT_KEYS)
    assert block["units"] in units, where
    assert isinstance(block["mean"], float), where
    assert all(isinstance(v, (int, float)) for k, v in block.items() if k != "units"), where


def check_br02(doc):
    """The Benchmark Report v0.2 schema's structure (its required fields, allowed units, no extras)."""
    assert set(doc) <= {"version", "run", "scenario", "results"} and doc["version"] == "0.2"
    run = doc["run"]
    assert set(run) <= {"uid", "eid", "cid", "pid", "time", "user"} and isinstance(run["uid"], str)
    assert set(run["time"]) <= {"start", "end", "duration"} and run["time"]["duration"].startswith("PT")
    for component in doc["scenario"]["stack"]:
        assert set(component) == {"metadata", "standardized", "native"}
        assert set(component["metadata"]) <= {"schema_version", "label", "cfg_id", "description"}
        assert {"label", "cfg_id"} <= set(component["metadata"])
        assert component["standardized"]["kind"] == "generic"
        assert {"tool", "tool_version"} <= set(component["standardized"])
        assert set(component["native"]) <= {"args", "envars", "config"}
    load = doc["scenario"]["load"]
    assert set(load) == {"metadata", "standardized", "native"}
    std = load["standardized"]
    assert set(std) <= {"tool", "tool_version", "parallelism", "source", "stage", "input_seq_len",
                        "output_seq_len", "prefix", "multi_turn", "rate_qps", "concurrency"}
    assert {"tool", "tool_version", "source", "input_seq_len"} <= set(std) and std["source"] in ("random", "sampled")
    for key in ("input_seq_len", "output_seq_len"):
        assert std[key]["distribution"] in ("fixed", "gaussian", "random", "uniform", "other")
        assert std[key]["value"] >= 1
    assert set(doc["results"]) <= {"request_performance", "observability", "profiling"}
    agg = doc["results"]["request_performance"]["aggregate"]
    assert set(agg) <= {"requests", "latency", "throughput"}
    assert isinstance(agg["requests"]["total"], int) and agg["requests"]["total"] >= 0
    for key in ("input_length", "output_length"):
        if key in agg["requests"]:
            _stats(agg["requests"][key], {"count"}, key)
    for key, block in agg["latency"].items():
        _stats(block, LATENCY_UNITS[key], key)
    for key, block in agg["throughput"].items():
        _stats(block, THROUGHPUT_UNITS[key], key)


@pytest.fixture
def runs(tmp_path):
    """Our run of the peers' shape, and vllm bench serve's and AIPerf's (summary only) imported."""
    shutil.copytree(OURS, tmp_path / "ours")
    out = [store.read(tmp_path / "ours")]
    for path in (PEERS / "vllm" / "vllm_bench_serve.json", PEERS / "aiperf" / "profile_export_aiperf.json"):
        out.append(write.write(importers.read(path)[0], tmp_path / "imported"))
    return out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_br02_export_has_the_schema_structure(runs, tmp_path, fmt):
    paths = br02.write(runs, tmp_path / "br", fmt)
    assert len(paths) == len(runs)
    for path in paths:
        doc = yaml.safe_load(path.read_text()) if fmt == "yaml" else json.loads(path.read_text())
        check_br02(doc)
    ours = yaml.safe_load(paths[0].read_text()) if fmt == "yaml" else json.loads(paths[0].read_text())
    latency = ours["results"]["request_performance"]["aggregate"]["latency"]
    assert latency["time_to_first_token"]["units"] == "ms" and "p99p9" in latency["time_to_first_token"]
    assert ours["scenario"]["load"]["standardized"]["concurrency"] == 4


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_gives_the_same_summary(runs, tmp_path, fmt):
    for run in runs:
        (path,) = br02.write([run], tmp_path / f"br-{run.run_id}", fmt)
        (back,) = importers.read(path)
        again = write.write(back, tmp_path / "again")
        keys = [k for k in br02.ROUND_TRIP if k in run.summary]
        assert len(keys) >= 10
        assert {k: again.summary[k] for k in keys} == {k: run.summary[k] for k in keys}
        assert again.meta["config"]["load"]["concurrency"] == 4


def test_br02_of_another_tool_keeps_its_tpot_as_reported(runs, tmp_path):
    """bench's own report is read as ours; a report another tool wrote is not (its TPOT, ITL
    and rates are its own definitions)."""
    (path,) = br02.write([runs[1]], tmp_path / "br", "yaml")
    doc = yaml.safe_load(path.read_text())
    doc["scenario"]["load"]["standardized"]["tool"] = "some-other-tool"
    del doc["scenario"]["load"]["native"]["args"]          # not summarized by bench
    path.write_text(yaml.safe_dump(doc))
    (imp,) = importers.read(path)
    assert "tpot_ms_mean" not in imp.summary and "output_tok_s" not in imp.summary
    assert {r.nearest for r in imp.reported} >= {"tpot_ms_mean", "output_tok_s"}
    assert imp.summary["ttft_ms_mean"] == runs[1].summary["ttft_ms_mean"]


def test_csv_is_one_row_per_run_with_every_summary_key(runs, tmp_path, capsys):
    paths = [str(r.dir) for r in runs]
    assert cli.main(["export", *paths, "--format", "csv", "--out", str(tmp_path / "set.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "set.csv")))
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in store.find_runs(paths))
    by_id = {r["run_id"]: r for r in rows}
    for run in runs:
        row = by_id[run.run_id]
        assert float(row["output_tok_s"]) == pytest.approx(run.summary["output_tok_s"], rel=1e-12)
        assert row["client"] == (run.meta.get("imported") or {}).get("tool", "bench")


def test_export_of_no_run_is_one_line(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "nothing"), "--format", "br0.2"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
