"""`bench run` end to end: real tiny model, real HF backend, a valid results folder."""
import json
import subprocess
import sys


from bench.results.files import SCHEMA_VERSION, read_samples


CONFIG = """
name: e2e
model: tiny
backend: {name: hf}
workload: {file: chat, scale: 0.05}
load: {kind: concurrency, concurrency: 2, requests: 6, warmup: 1}
slo: {ttft_ms: 10000}
matrix:
  load.kind: [concurrency, rate]
  load.rate: [50]
"""


def test_bench_run_writes_valid_results(tmp_path):
    cfg = tmp_path / "e2e.yaml"
    cfg.write_text(CONFIG)
    out = subprocess.run([sys.executable, "-m", "bench", "run", str(cfg), "--results-dir",
                          str(tmp_path / "res"), "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "bench summary" in out.stdout and "TTFT p50 ms" in out.stdout
    runs = sorted(d for d in (tmp_path / "res").iterdir() if d.is_dir())   # not the engine log
    assert len(runs) == 2
    for run_dir in runs:
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["schema_version"] == SCHEMA_VERSION and meta["status"] == "complete"
        assert meta["run_id"] == run_dir.name
        # the load point as the run started, answered by its load kind
        kind = meta["config"]["load"]["kind"]
        assert meta["load_point"]["kind"] == kind
        assert meta["load_point"]["value"] == {"concurrency": 2, "rate": 50}[kind]
        assert "rate" not in meta["config"]["load"] or kind == "rate"     # only the kind's own keys
        assert meta["config"]["workload"]["kind"] == "chat"
        assert meta["env"]["versions"]["torch"].startswith("2.")
        s = meta["summary"]
        for key in ("ttft_ms_p50", "tpot_ms_p50", "itl_ms_p50", "e2e_ms_p50", "request_s",
                    "output_tok_s", "goodput_request_s", "peak_rss_mb"):
            assert s[key] > 0, key
        assert s["requests"] == 6 and s["completed"] == 6
        assert "peak_gpu_alloc_mb" not in s  # no GPU: absent, not zero
        samples = list(read_samples(run_dir))
        assert len(samples) == 7 and sum(x.warmup for x in samples) == 1
        assert meta["n_samples"] == 7
