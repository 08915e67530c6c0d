"""The docs a newcomer walks: every relative link and #anchor resolves, every repo path named in
backticks exists, and the README stays a landing page (the reference lives in docs/)."""
import subprocess
import sys
from tests.helpers.paths import ROOT


def test_every_link_and_path_in_the_docs_resolves():
    out = subprocess.run([sys.executable, "scripts/check_doc_links.py", str(ROOT)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("; 0 bad"), out.stdout


def test_readme_is_a_landing_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
