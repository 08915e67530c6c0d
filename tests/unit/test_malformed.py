"""The malformed-input corpus (tests/malformed/index.tsv): each file gives one line naming the
file, the key or line and what is allowed, exit code 2 and no traceback. Extends the inline
cases of test_config.py; in process through bench.cli.main for speed, plus one subprocess case."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from tests.helpers.paths import ROOT

CORPUS = Path("tests/malformed")
CASES = [tuple(line.split("\t")) for line in (ROOT / CORPUS / "index.tsv").read_text().splitlines()
         if line and not line.startswith("#")]


def test_corpus_is_complete():
    assert len(CASES) >= 30
    listed = {name for name, _ in CASES}
    assert listed == {p.name for p in (ROOT / CORPUS).glob("*.yaml")}


@pytest.mark.parametrize("name,expected", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_one_clear_line(name, expected, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)      # the corpus names its data files relative to the repository
    code = main(["validate", str(CORPUS / name)])
    out = capsys.readouterr()
    err = out.err.strip()
    assert code == 2, out
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("error: ")
    assert str(CORPUS / name) in err or str(CORPUS / "data") in err      # names the file
    assert expected in err


def test_malformed_input_from_the_command_line():
    name, expected = next(c for c in CASES if c[0] == "trace_truncated.yaml")
    out = subprocess.run([sys.executable, "-m", "bench", "validate", str(CORPUS / name)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and expected in out.stderr
