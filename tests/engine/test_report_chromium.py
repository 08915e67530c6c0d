"""A real browser draws every figure of the report offline (when Chromium is installed)."""
import shutil
import subprocess

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.report_data import _full_report


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# starts a browser
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
