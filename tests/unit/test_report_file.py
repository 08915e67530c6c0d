"""The report as a file, from hand-built runs: one offline HTML file, and Markdown with a PNG per
section (a real browser drawing it: tests/engine/test_report_chromium.py)."""
from html.parser import HTMLParser

from bench import cli
from tests.helpers.report_data import _full_report, _search


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]


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


