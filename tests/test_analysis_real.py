"""compare, trend, report and forecast on real runs of the tiny model through the HF backend.

One module-scoped set of runs (about 30 s on 2 shared cores): three runs of one config
(concurrency 1, batch size 1), the same config at twice the load (concurrency 2: with batch size
1 each request waits for the other), and the base config again while two CPU-burning processes
run beside it (a run made slower on purpose without changing its config, for `trend`).
"""
import base64
import io
import re
import subprocess
import sys

import matplotlib.image
import pytest

from bench import cli, compare, config, runner, store, trend

LATENCY = ("ttft_ms_p50", "e2e_ms_p50", "tpot_ms_p50")
THROUGHPUT = ("request_s", "output_tok_s")
DOC = {"name": "real", "model": "tiny", "backend": {"name": "hf", "options": {"max_batch_size": 1}},
       "workload": {"file": "chat", "scale": 0.05}, "slo": {"ttft_ms": 2000},
       "load": {"kind": "concurrency", "concurrency": 1, "requests": 12, "warmup": 2}, "seed": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    base = config.load_doc(dict(DOC), "real.yaml")[0]
    double = config.load_doc({**DOC, "load": {**DOC["load"], "concurrency": 2}}, "real.yaml")[0]
    r = runner.run_all([base, base, double], root)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        slow = runner.run_all([base], root / "slowed")
    finally:
        for p in burners:
            p.kill()
            p.wait()
    assert all(x.status == "complete" for x in r + slow)
    return {"a1": r[0].dir, "a2": r[1].dir, "double": r[2].dir, "slowed": slow[0].dir, "root": root}


def verdicts(a, b):
    return {c.key: c for c in compare.compare_runs(store.read(a), store.read(b))}


def test_same_config_no_significant_change(runs):
    v = verdicts(runs["a1"], runs["a2"])
    for key in LATENCY + THROUGHPUT:
        assert v[key].verdict == "no significant change", (key, v[key])
    assert cli.main(["compare", str(runs["a1"]), str(runs["a2"]), "--fail-on-regression", "10"]) == 0


def test_double_load_is_a_regression(runs, capsys):
    v = verdicts(runs["a1"], runs["double"])
    assert v["ttft_ms_p50"].verdict == "regression", v["ttft_ms_p50"]
    assert v["ttft_ms_p50"].change_pct > 50
    rc = cli.main(["compare", str(runs["a1"]), str(runs["double"]), "--format", "markdown",
                   "--fail-on-regression", "10"])
    out = capsys.readouterr()
    assert rc == 1 and "| ttft_ms_p50 |" in out.out and "FAIL" in out.err


def test_trend_flags_the_slowed_run_only(runs, capsys):
    quiet = trend.series(store.find_runs([runs["a1"], runs["a2"]]), rank={})
    assert len(quiet) == 1 and len(quiet[0]) == 2
    assert not [c for c in trend.check_newest(quiet[0], LATENCY) if c.verdict == "regression"]

    slowed = trend.series(store.find_runs([runs["root"]]), rank={})[0]   # a1, a2, slowed; not double
    assert [r.dir for r in slowed] == [runs["a1"], runs["a2"], runs["slowed"]]
    flagged = [c.key for c in trend.check_newest(slowed, LATENCY) if c.verdict == "regression"]
    assert flagged, "the run slowed by CPU hogs should be flagged"
    png = runs["root"] / "trend.png"
    assert cli.main(["trend", str(runs["root"]), "--out", str(png), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "rule: newest run vs the pooled" in out
    assert matplotlib.image.imread(png).shape[0] > 200


def test_report_html_images_decode(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert cli.main(["report", str(runs["root"]), "--out", str(out)]) == 0
    html = out.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) >= 2                          # latency CDFs and the Pareto plot
    for b64 in images:
        img = matplotlib.image.imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert img.shape[0] > 200 and img.shape[1] > 400
    assert "Latency CDFs" in html and "Pareto" in html
    assert "Treatment effects" not in html and "Token inflation" not in html   # absent data: skipped
    md = tmp_path / "report.md"
    assert cli.main(["report", str(runs["a1"]), str(runs["double"]), "--out", str(md), "--markdown"]) == 0
    assert "![latency_cdf.png](report_files/latency_cdf.png)" in md.read_text()
    assert (tmp_path / "report_files" / "latency_cdf.png").stat().st_size > 1000


def test_forecast_on_cpu_sweep(runs, capsys):
    rc = cli.main(["forecast", str(runs["a1"]), str(runs["double"]), "--target-rate", "50",
                   "--price-per-gpu-hour", "2.5", "--slo", "ttft_ms_p99=100000"])
    out = capsys.readouterr().out
    assert rc == 0
    replicas = int(re.search(r"replicas \(1 GPU each\): (\d+)", out)[1])
    capacity = float(re.search(r"capacity per replica: ([\d.]+)", out)[1])
    assert replicas == -(-50 // capacity) and "cost per request: $" in out
