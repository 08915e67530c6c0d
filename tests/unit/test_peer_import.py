"""`bench import` on the real peer outputs in tests/data/peers/ (README there: versions and
commands): each becomes a run folder that `bench ls` lists and `bench compare` reads, our
summary from the peer's own per-request records agrees with what the peer itself reported where
the definitions are the same, and bad, truncated, unknown and newer files are handled."""
from __future__ import annotations

import gzip
import json
import shutil

import pytest

from bench import cli
from bench.errors import UserError
from bench.interop import importers, write
from bench.results import store
from tests.helpers.paths import ROOT

PEERS = ROOT / "tests" / "data" / "peers"
VLLM = PEERS / "vllm" / "vllm_bench_serve.json"
AIPERF = PEERS / "aiperf" / "profile_export.jsonl"
AIPERF_SUMMARY = PEERS / "aiperf" / "profile_export_aiperf.json"
GUIDELLM = PEERS / "guidellm" / "benchmarks.json.gz"
IP = PEERS / "inference-perf" / "per_request_lifecycle_metrics.json"
IP_SUMMARY = PEERS / "inference-perf" / "summary_lifecycle_metrics.json"
IP_BR = PEERS / "inference-perf" / "inference-perf.partial.stage_0.yaml"
ALL = (VLLM, AIPERF, AIPERF_SUMMARY, GUIDELLM, IP, IP_SUMMARY, IP_BR)


def one(path):
    found = importers.read(path)
    assert len(found) == 1
    return found[0]


def summary_of(imp, tmp_path):
    return write.write(imp, tmp_path).summary


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_imports_with_the_shape_it_ran(path, tmp_path):
    imp = one(path)
    run = write.write(imp, tmp_path)
    s = run.summary
    assert s["requests"] == 32 and s["errors"] == 0
    assert 50 < s["ttft_ms_mean"] < 1000
    rate = s.get("output_tok_s") or next(r.value for r in imp.reported if r.nearest == "output_tok_s")
    assert 150 < rate < 1000      # ours, or the peer's own "as reported" where its duration differs
    assert run.meta["imported"]["tool"].startswith(imp.tool.split(" (")[0])
    if imp.samples:
        assert len(run.samples()) == 32 and all(x.output_tokens == 32 for x in run.samples())
    if imp.shape.load_value is not None:
        assert run.meta["config"]["load"] == {**run.meta["config"]["load"], "kind": "concurrency", "concurrency": 4}


def test_versions_and_config_are_in_the_provenance(tmp_path):
    assert one(VLLM).native_config["max_concurrency"] == 4
    assert one(AIPERF).tool_version == "0.13.0" and "input_config" in one(AIPERF).native_config
    assert one(GUIDELLM).tool_version == "0.8.1"
    run = write.write(one(IP), tmp_path)
    assert run.meta["imported"]["native_config"]["load"]["stages"][0]["concurrency_level"] == 4
    assert run.meta["imported"]["tool_version"] == "not recorded in the file"


def test_vllm_records_give_the_numbers_vllm_reported(tmp_path):
    """Same definitions (TTFT; chunk gaps = vLLM's ITL), same requests: the same values."""
    doc = json.loads(VLLM.read_text())
    s = summary_of(one(VLLM), tmp_path)
    assert s["ttft_ms_mean"] == pytest.approx(doc["mean_ttft_ms"], rel=1e-6)
    assert s["ttft_ms_p50"] == pytest.approx(doc["median_ttft_ms"], rel=1e-6)
    assert s["ttft_ms_p99"] == pytest.approx(doc["p99_ttft_ms"], rel=1e-6)
    assert s["chunk_gap_ms_mean"] == pytest.approx(doc["mean_itl_ms"], rel=1e-6)
    assert s["tpot_ms_mean"] == pytest.approx(doc["mean_tpot_ms"], rel=1e-6)
    assert s["output_tokens_total"] == doc["total_output_tokens"]


def test_aiperf_records_agree_with_its_own_summary(tmp_path):
    per_request = summary_of(one(AIPERF), tmp_path / "a")
    summary = one(AIPERF_SUMMARY).summary
    assert per_request["ttft_ms_mean"] == pytest.approx(summary["ttft_ms_mean"], rel=1e-6)
    assert per_request["ttft_ms_p90"] == pytest.approx(summary["ttft_ms_p90"], rel=1e-6)
    # ours ends at the last content chunk, AIPerf's request latency at the final response
    assert per_request["e2e_ms_mean"] == pytest.approx(summary["e2e_ms_mean"], rel=0.02)
    reported = {r.name: r for r in one(AIPERF_SUMMARY).reported}
    assert reported["inter_token_latency.avg"].nearest == "tpot_ms_mean"
    assert "tpot_ms_mean" not in summary      # its ITL is kept as reported, not as our TPOT


def test_guidellm_records_give_its_ttft_and_tpot_and_no_itl(tmp_path):
    doc = json.loads(gzip.open(GUIDELLM).read())["benchmarks"][0]["metrics"]
    s = summary_of(one(GUIDELLM), tmp_path)
    assert s["ttft_ms_mean"] == pytest.approx(doc["time_to_first_token_ms"]["successful"]["mean"], rel=1e-4)
    # GuideLLM's inter_token_latency_ms is our TPOT; its time_per_output_token_ms is not
    assert s["tpot_ms_mean"] == pytest.approx(doc["inter_token_latency_ms"]["successful"]["mean"], rel=1e-4)
    assert not any(k.startswith(("itl_ms", "chunk_gap_ms")) for k in s)


def test_inference_perf_records_agree_with_its_summary_and_report(tmp_path):
    per_request = summary_of(one(IP), tmp_path)
    summary, br = one(IP_SUMMARY).summary, one(IP_BR).summary
    for key in ("ttft_ms_mean", "ttft_ms_p50", "tpot_ms_mean"):
        assert per_request[key] == pytest.approx(summary[key], rel=1e-6), key
    # ours ends at the last chunk, its request latency when the response completed (~1 ms later)
    assert per_request["e2e_ms_mean"] == pytest.approx(summary["e2e_ms_mean"], rel=0.01)
    assert br["ttft_ms_mean"] == pytest.approx(summary["ttft_ms_mean"], rel=1e-9)
    assert "tpot_ms_mean" not in br      # another tool's TPOT in a report: kept as reported


def test_imported_runs_are_listed_and_compared(tmp_path, capsys):
    for path in (VLLM, AIPERF, GUIDELLM):
        assert cli.main(["import", str(path), "--results-dir", str(tmp_path)]) == 0
    shutil.copytree(PEERS / "bench" / "run", tmp_path / "bench-run")
    assert cli.main(["ls", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "import-vllm-bench-serve" in listing and "import-aiperf" in listing and "peer-shape" in listing
    vllm_run = next(r for r in store.find_runs([tmp_path]) if "vllm" in r.run_id)
    assert cli.main(["compare", str(tmp_path / "bench-run"), str(vllm_run.dir)]) == 2   # another client
    assert "not comparable" in capsys.readouterr().out
    assert cli.main(["compare", str(tmp_path / "bench-run"), str(vllm_run.dir), "--force",
                     "--format", "json"]) == 0
    out = capsys.readouterr().out
    changes = json.loads(out[out.index("{"):])["metrics"]
    assert {c["key"] for c in changes} >= {"ttft_ms_p50", "output_tok_s"}


# Bad files: one line naming the file, what was expected and what was found; exit 2.
def _bad(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("name,content,found", [
    ("empty.json", "", "an empty file"),
    ("cut.json", VLLM.read_text()[:5000], "truncated JSON"),
    ("cut.jsonl", AIPERF.read_text()[:3000], "truncated"),
    ("other.json", '{"hello": "world"}', "none of their shapes"),
    ("list.json", "[1, 2, 3]", "none of their shapes"),
    ("binary.json", b"\x00\xff\xfe{", "binary data"),
    ("cut.json.gz", gzip.compress(VLLM.read_bytes())[:2000], "truncated gzip"),
    ("notes.txt", "vllm results", "a .txt file"),
])
def test_bad_files_are_one_line_and_exit_2(tmp_path, capsys, name, content, found):
    path = _bad(tmp_path, name, content)
    with pytest.raises(UserError) as err:
        importers.read(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and found in message
    assert cli.main(["import", str(path), "--results-dir", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "r").exists()       # nothing written for a bad file


def test_a_bad_file_among_good_ones_writes_nothing(tmp_path):
    bad = _bad(tmp_path, "cut.json", VLLM.read_text()[:100])
    assert cli.main(["import", str(VLLM), str(bad), "--results-dir", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_per_request_lists_of_unequal_length_name_the_key(tmp_path):
    doc = json.loads(VLLM.read_text())
    doc["ttfts"] = doc["ttfts"][:-1]
    path = _bad(tmp_path, "short.json", json.dumps(doc))
    with pytest.raises(UserError, match=r"'ttfts' with one entry per request \(32\); found 31 entries"):
        importers.read(path)


def test_a_newer_peer_with_unknown_fields_imports_what_it_knows(tmp_path, capsys):
    doc = json.loads(VLLM.read_text())
    doc["new_metric_of_v99"] = {"x": 1}
    vllm_path = _bad(tmp_path, "newer.json", json.dumps(doc))
    summary = json.loads(AIPERF_SUMMARY.read_text())
    summary["brand_new_latency"] = {"unit": "ms", "avg": 3.0}
    aiperf_path = _bad(tmp_path, "profile_export_aiperf.json", json.dumps(summary))
    assert one(vllm_path).skipped == ("new_metric_of_v99",)
    assert one(aiperf_path).skipped == ("brand_new_latency",)
    assert cli.main(["import", str(vllm_path), str(aiperf_path), "--results-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 field(s) this bench does not know: new_metric_of_v99" in err
    assert "brand_new_latency" in err
    assert len(store.find_runs([tmp_path / "r"])) == 2


def test_a_summary_only_import_is_compared_on_its_values(tmp_path, capsys):
    run = write.write(one(AIPERF_SUMMARY), tmp_path / "imported")
    shutil.copytree(PEERS / "bench" / "run", tmp_path / "bench-run")
    assert cli.main(["compare", str(tmp_path / "bench-run"), str(run.dir), "--force", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| ttft_ms_p50 |" in out and "no CI (no per-request samples)" in out


def test_a_vllm_summary_without_detail_is_taken_where_definitions_agree(tmp_path):
    doc = json.loads(VLLM.read_text())
    for key in ("input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "errors"):
        doc.pop(key)
    imp = one(_bad(tmp_path, "summary.json", json.dumps(doc)))
    assert not imp.samples
    assert imp.summary["ttft_ms_mean"] == doc["mean_ttft_ms"] and imp.summary["tpot_ms_p99"] == doc["p99_tpot_ms"]
    assert imp.summary["chunk_gap_ms_mean"] == doc["mean_itl_ms"]      # vLLM's ITL: gaps between chunks
    assert "itl_ms_mean" not in imp.summary and "output_tok_s" not in imp.summary
    rate = next(r for r in imp.reported if r.name == "output_throughput")
    assert rate.value == doc["output_throughput"] and rate.nearest == "output_tok_s"
