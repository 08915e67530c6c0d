"""The report as a file, from hand-built runs: one offline HTML file, Markdown with a PNG per
section, and (when Chromium is installed) that a real browser draws every figure."""
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench import cli
from tests.report_data import _agent_samples, _experiment, _samples, _search
from tests.synth import write_run

ROOT = Path(__file__).resolve().parent.parent


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]


def _full_report(tmp_path) -> Path:
    root = tmp_path / "results"
    _search(root)
    write_run(root, "arm", _samples(task=True), extra={"treatment": "spec"})
    _experiment(root)
    write_run(root, "agent", _agent_samples(), summary_extra={"task_model_ms_mean": 100.0, "task_tool_ms_mean": 50.0})
    out = tmp_path / "report.html"
    assert cli.main(["report", str(root), "--out", str(out)]) == 0
    return out


def test_html_is_one_file_with_no_external_urls(tmp_path, capsys):
    out = _full_report(tmp_path)
    text = out.read_text()
    for title in ("Runs", "Latency CDFs", "Capacity at SLO", "Treatment effects", "Task timeline", "Tasks"):
        assert f">{title}</h2>" in text
    p = _Refs()
    p.feed(text)
    assert p.refs and all(r.startswith(("#", "data:")) for r in p.refs), [r for r in p.refs if not r.startswith("#")]
    assert text.count("plotly.js v") >= 1 and text.count("Plotly.newPlot") >= 8
    assert [f.name for f in tmp_path.iterdir() if f.name != "results"] == ["report.html"]


def test_markdown_keeps_tables_and_writes_one_png_per_section(tmp_path, capsys):
    root = tmp_path / "results"
    _search(root)
    md = tmp_path / "r.md"
    assert cli.main(["report", str(root), "--out", str(md), "--markdown"]) == 0
    text = md.read_text()
    assert "![capacity.png](r_files/capacity.png)" in text and "| cap | chat | vllm |" in text
    png = (tmp_path / "r_files" / "capacity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.engine   # starts a browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_chromium_draws_every_figure_offline(tmp_path, capsys):
    out = _full_report(tmp_path)
    n_figs = out.read_text().count("Plotly.newPlot")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                          "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="main-svg"') >= n_figs            # plotly drew each figure (2+ svgs each)
    png = tmp_path / "shot.png"
    subprocess.run([str(ROOT / "scripts" / "screenshot_report.sh"), str(out), str(png), "1200", "2000"],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image
    img = Image.open(png)
    assert img.size == (1200, 2000) and len(img.convert("RGB").getcolors(1 << 20) or []) > 50   # not blank
