"""Tables printed by bench run, bench summary and the A/B experiment fit 100 columns with whole
headers, whatever width the terminal reports (80, or none for a pipe): a wide table is split,
never squeezed until its headers read "a…"."""
import io
from types import SimpleNamespace

from bench.analysis import experiment, summary
from bench.results import run as runfile
from bench.run import display
from tests.helpers.synth import MS, sample, write_run

LABELS = [f"{kind}-rep={i}" for kind in ("chat", "rag", "agentic") for i in range(5)]   # 15 runs


def _runs(tmp_path):
    out = []
    for i, label in enumerate(LABELS):
        samples = [sample(k, k * 10 * MS, 5.0 + i, k * 10 * MS + 40 * MS, output=8) for k in range(4)]
        d = write_run(tmp_path, f"r{i:02d}-{label}", samples)
        spec = SimpleNamespace(name="synth", label=label, backend=SimpleNamespace(name="hf"),
                               workload=SimpleNamespace(kind=label.split("-")[0]))   # what the table reads
        out.append(runfile.Run.made(d, spec))
    return out


def _check(text: str, width: int = 100) -> None:
    """No cell cut short, no table line over `width` (prose lines wrap in the terminal)."""
    assert "…" not in text, text
    too_wide = [line for line in text.splitlines() if len(line.rstrip()) > width and (
        set(line) & set("│┃┏└") or "  " in line.strip())]
    assert not too_wide, too_wide


def test_a_console_is_at_least_100_wide_without_a_terminal_or_in_a_narrow_one(monkeypatch):
    assert display.wide_console(file=io.StringIO()).width == 100
    monkeypatch.setenv("COLUMNS", "80")
    assert display.wide_console(file=io.StringIO()).width == 100
    assert display.wide_console(file=io.StringIO(), force_terminal=True).width == 100


def test_bench_runs_table_of_15_runs_splits_with_whole_headers(tmp_path, monkeypatch):
    buf = io.StringIO()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(display, "console", display.wide_console(file=buf))
    runs = _runs(tmp_path)
    display.print_summary(runs)
    text = buf.getvalue()
    _check(text)
    assert all(label in text for label in LABELS)
    assert text.count("bench summary (") == len(display.split_runs(runs)) > 1
    assert "TTFT p50 ms" in text and "[hf] complete" in text


def test_bench_summary_tables_wrap_below_themselves():
    header = ["run", *[f"metric number {i} ms" for i in range(12)]]
    rows = [["a-long-run-label", *[f"{i * 1.5:.1f}" for i in range(12)]], ["b", *["-"] * 12]]
    lines = summary._table(header, rows)
    _check("\n".join(lines))
    text = "\n".join(lines)
    assert all(h in text for h in header)
    assert text.count("a-long-run-label") == text.count("\nrun ") + 1 > 1   # the first column repeated


def test_a_narrow_table_stays_one_block():
    lines = summary._table(["run", "x"], [["a", "1"]])
    assert lines == ["run  x", "a    1"]


def test_the_experiment_tables_fit_100_columns():
    effects = [{"metric": m, "baseline": 1678.0, "value": 1766.0, "ratio": 1.052, "ci_low": 0.456,
                "ci_high": 2.428, "verdict": "no significant change"} for m in ("ttft_ms_p50", "output_tok_s")]
    arm = {"load": 4, "effects": effects,
           "spec": {"spec_acceptance_rate": 1.0, "spec_mean_accept_len": 4.0, "spec_accept_rate_pos0": 1.0,
                    "spec_accept_rate_pos1": 1.0, "spec_accept_rate_pos2": 1.0},
           "fidelity": {"fid_token_agreement": 0.458, "fid_prefix_agreement": 0.375,
                        "fid_first_divergence_mean": 6.86, "tf_top1_agreement": 0.922, "tf_kl_mean": 5.1e-05},
           "kv": {"kv_bytes_per_token": 1024, "kv_cache_tokens_capacity": 2097152, "kv_cache_max_concurrency": 512,
                  "num_preemptions": 0, "peak_rss_mb": 8054}}
    exp = {"name": "bench", "backend": "vllm", "model": "tiny",
           "arms": [{"treatment": "baseline", **arm, "effects": []}, {"treatment": "spec-self", **arm}]}
    text = experiment.render([exp])
    _check(text)
    assert "bench [vllm, tiny] at load 4" in text and "no significant change" in text
    assert "2,097,152" in text and "1.00/1.00/1.00" in text
    brief = experiment.render([exp], brief=True, folder="out")
    _check(brief)
    assert "no significant change" in brief and "2,097,152" not in brief and "bench experiment out" in brief


def test_a_warning_many_runs_share_is_one_line(tmp_path):
    runs = _runs(tmp_path)[:3]
    for r, lag in zip(runs, ("5.6", "8.7", "12.0")):
        r.meta["warnings"] = [f"event-loop lag p99 {lag} ms > 5 ms: sends and token stamps were delayed"]
    runs[0].meta["warnings"].append("the client did not keep the open-loop schedule")
    lines = display.warning_lines(runs)
    assert len(lines) == 2, lines
    assert lines[0].startswith("warning in 3 runs (") and "5.6 ms" in lines[0]
    assert f"(the first {runs[0].run_id.split('Z-', 1)[-1]})" in lines[0]
    assert lines[1] == f"{runs[0].run_id}: warning: the client did not keep the open-loop schedule"


def test_bench_run_brief_shows_the_headline_rows_and_one_results_line(tmp_path, monkeypatch):
    """`make bench` runs `bench run --brief`: the table's headline rows (views.RUN_TABLE_BRIEF),
    no token table, the run folders in one line."""
    out = {}
    for brief in (False, True):
        buf = io.StringIO()
        monkeypatch.setattr(display, "console", display.wide_console(file=buf))
        display.print_summary(_runs(tmp_path / str(brief))[:3], brief=brief)
        out[brief] = buf.getvalue()
    full, short = out[False], out[True]
    _check(short)
    assert "TTFT p50 ms" in short and "ITL p50 ms" in full and "ITL p50 ms" not in short
    assert len(short.splitlines()) < len(full.splitlines()) - 5
    assert short.count("results: ") == 1 and "results: 3 runs in " in short and full.count("results: ") == 3
