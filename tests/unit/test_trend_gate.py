"""`bench trend --fail-on-regression`: the gate judges the newest commit's runs (>= 3) against
the segment before them; an old step is history and never fails. Hand-built run folders
(tests/helpers/synth.py) whose e2e_ms_p50 is known by construction."""
from __future__ import annotations

import pytest

from bench import cli
from bench.analysis import trend
from bench.results import store
from bench.types import Sample
from tests.helpers.synth import MS, sample, write_run

pytestmark = pytest.mark.unit

# run-to-run wiggle of about 2%, so the step is the only change
WIGGLE = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.98, 1.01, 0.99]


def run_samples(factor: float, n: int = 20) -> list[Sample]:
    """n requests one after another; request i takes (20 + i % 5) ms times the run's factor."""
    out, t = [], 10**12
    for i in range(n):
        dur_ms = (20 + i % 5) * factor
        out.append(sample(i, t, dur_ms / 4, t + int(dur_ms * MS), output=8))
        t += int(dur_ms * MS)
    return out


def write_series(root, levels: list[float], commits: list[str]) -> list:
    """One run per level, in start order, each made at its commit (env.git_sha)."""
    env = {"cpu": "Test CPU", "cpu_count": 2, "gpu": None, "versions": {"transformers": "5.19.0"}}
    return [write_run(root, f"r{i:02d}", run_samples(level * WIGGLE[i % len(WIGGLE)]), started_at=float(i),
                      extra={"env": env | {"git_sha": sha * 40}})
            for i, (level, sha) in enumerate(zip(levels, commits))]


def gate_of(root, capsys) -> tuple[int, str]:
    rc = cli.main(["trend", str(root), "--metric", "e2e_ms_p50", "--fail-on-regression"])
    return rc, capsys.readouterr().out


def test_an_old_step_is_history_and_never_fails_the_newest_commit(tmp_path, capsys):
    # +30% after run 4 of 12; commits of 4, 3, 2 and 3 runs; the newest commit stays at the new level
    write_series(tmp_path, [1.0] * 4 + [1.3] * 8, list("aaaabbbccddd"))
    rc, out = gate_of(tmp_path, capsys)
    assert "history: change point in e2e_ms_p50 after run 4" in out
    assert "judged the newest commit dddddddd: its 3 run(s): r09, r10, r11" in out
    assert "since the change point in e2e_ms_p50 at r04 (after run 4)" in out and "5 run(s): r04, " in out
    assert "REGRESSION" not in out.replace("REGRESSION: its verdict", "")
    assert rc == 0


def test_an_old_step_just_before_the_newest_commit_does_not_fail_it(tmp_path, capsys):
    # the step is the previous commit's (runs 6-8): 3 runs after it among the 9 earlier ones
    write_series(tmp_path, [1.0] * 6 + [1.3] * 6, list("aaaaaabbbccc"))
    rc, out = gate_of(tmp_path, capsys)
    assert "3 run(s): r06, r07, r08" in out and "GATE: REGRESSION" not in out
    assert rc == 0


def test_a_step_at_the_newest_commits_three_runs_fails(tmp_path, capsys):
    write_series(tmp_path, [1.0] * 9 + [1.3] * 3, list("aaabbbcccddd"))
    rc, out = gate_of(tmp_path, capsys)
    assert rc == 1
    assert "judged the newest commit dddddddd: its 3 run(s): r09, r10, r11" in out
    assert "no change point among the earlier runs: all of them): 9 run(s)" in out
    row = next(ln for ln in out.splitlines() if ln.strip().startswith("e2e_ms_p50:"))
    assert "runs 9 vs 3" in row and "requests 180 vs 60" in row and row.endswith("regression")
    assert "GATE: REGRESSION at the newest commit: e2e_ms_p50 +28.9%" in out
    assert "gate rule: " in out and "not interleaved" in out


def test_two_runs_at_the_newest_commit_give_no_gate_verdict(tmp_path, capsys):
    write_series(tmp_path, [1.0] * 10 + [1.5] * 2, list("aaabbbcccddd")[:10] + ["e", "e"])
    rc, out = gate_of(tmp_path, capsys)
    assert "2 run(s) at the newest commit; a gate verdict needs >= 3: none given" in out
    assert "GATE: REGRESSION" not in out and rc == 0


def test_without_commits_the_newest_n_runs_are_judged_and_it_says_so(tmp_path, capsys):
    write_series(tmp_path, [1.0] * 7 + [1.3] * 5, ["0"] * 12)
    rc, out = gate_of(tmp_path, capsys)
    assert "commits unknown (every run has the same git_sha), so the newest 3 runs" in out
    assert "2 run(s): r07, r08" in out and rc == 0     # the step (after run 7) is older than the newest 3
    rc = cli.main(["trend", str(tmp_path), "--metric", "e2e_ms_p50", "--fail-on-regression", "--newest", "5"])
    out = capsys.readouterr().out
    assert "--newest 5: 5 run(s)" in out and "7 run(s): r00, " in out and rc == 1


def test_newest_runs_are_the_newest_commits_wherever_they_sit(tmp_path):
    runs = [store.read(d) for d in write_series(tmp_path, [1.0] * 5, list("abaab"))]
    idx, how = trend.newest_runs(runs)
    assert idx == [1, 4] and how == "the newest commit bbbbbbbb: its 2 run(s)"
