"""Sets of runs as the unit: two-stage bootstrap, pairing, one-run rule, exact error test,
comparability, and trend's step changes, on hand-built run folders (tests/helpers/synth.py)."""
from __future__ import annotations

import numpy as np
import pytest

from bench import cli
from bench.analysis import changepoints, runsets
from bench.results import store
from bench.types import Sample
from tests.helpers.synth import MS, sample, write_run
from tests.helpers.paths import DATA

N = 40


def run_samples(factor: float, fail_every: int | None = None, n: int = N) -> list[Sample]:
    """n requests one after another; request i takes (20 + i % 7) ms times the run's factor
    (its drift); every `fail_every`-th request fails after 5 ms."""
    out, t = [], 10**12
    for i in range(n):
        dur_ms = (20 + i % 7) * factor
        if fail_every and i % fail_every == fail_every - 1:
            out.append(Sample(f"r{i}", None, t, t, (), (), 98, None, 0, error="http_500: boom",
                              done_ns=t + 5 * MS))
            t += 5 * MS
            continue
        out.append(sample(i, t, dur_ms / 4, t + int(dur_ms * MS), output=8))
        t += int(dur_ms * MS)
    return out


def write_set(root, name, factors, fail_every=None, seed=0, t0=0.0):
    return [write_run(root, f"{name}{i}", run_samples(f, fail_every), started_at=t0 + i,
                      extra={"config_seed": seed}) for i, f in enumerate(factors)]


DRIFT = [1.0, 1.25, 0.85, 1.15, 0.9]


def test_pairing_by_request_id_cancels_the_requests_own_spread():
    one = [run_samples(1.0)]
    c = runsets.compare("e2e_ms_p50", one, one, within_run=True)      # the same requests, paired
    assert c.paired and c.ci_low_pct == pytest.approx(0) and c.ci_high_pct == pytest.approx(0)
    runs = [run_samples(f) for f in DRIFT]
    c = runsets.compare("e2e_ms_p50", runs, runs)     # runs are resampled per side: drift remains
    assert c.paired and c.ci_low_pct < -5 and c.ci_high_pct > 5 and c.runs_a == c.runs_b == 5
    assert c.verdict == "no significant change"


def test_between_run_drift_is_in_the_interval_and_in_the_cv():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f) for f in DRIFT[::-1][1:] + DRIFT[-1:]]      # the same drift, another order
    two = runsets.compare("output_tok_s", a, b)
    one = runsets.compare("output_tok_s", a[:1], b[:1], within_run=True)

    def width(c):
        return c.ci_high_pct - c.ci_low_pct

    assert width(two) > 3 * width(one)                  # requests alone would claim false precision
    assert two.verdict == "no significant change"
    rates = np.array([1 / f for f in DRIFT])
    assert two.cv_a_pct == pytest.approx(rates.std(ddof=1) / rates.mean() * 100, rel=0.05)
    assert two.within_a_pct < two.cv_a_pct
    # the minimum detectable effect: the 5% threshold times exp((t_0.975 + t_0.8) x SE)
    from scipy import stats as sps
    q = sps.t.ppf(0.975, two.df) + sps.t.ppf(0.8, two.df)
    assert two.mde_pct == pytest.approx((1.05 * np.exp(q * two.se) - 1) * 100)
    assert two.mde_pct > 5 + width(two) / 2


def test_a_real_slowdown_across_drifting_runs_is_a_regression():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f * 1.5) for f in DRIFT]
    c = runsets.compare("output_tok_s", a, b)
    assert c.verdict == "regression" and c.change_pct == pytest.approx(-33.3, abs=1)


def test_one_run_per_side_gives_no_verdict_unless_asked_for_within_run():
    a, b = [run_samples(1.0)], [run_samples(2.0)]
    assert runsets.compare("e2e_ms_p50", a, b).verdict == runsets.NO_DRIFT
    assert runsets.compare("e2e_ms_p50", a, b, within_run=True).verdict == "regression"


def test_error_rate_zero_to_ten_percent_is_judged_exactly():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f, fail_every=10) for f in DRIFT]
    c = runsets.compare("error_rate", a, b)
    assert (c.a, c.b) == (0.0, 0.1) and c.p_value < 1e-4 and c.verdict == "regression"
    assert runsets.compare("error_rate", a, a).verdict == "no significant change"


def test_compare_cli_takes_sets_and_flags_errors(tmp_path, capsys):
    write_set(tmp_path / "a", "a", DRIFT)
    write_set(tmp_path / "b", "b", DRIFT, fail_every=10)
    rc = cli.main(["compare", str(tmp_path / "a"), f"{tmp_path}/b/b*", "--fail-on-regression", "5"])
    out = capsys.readouterr()
    row = next(ln for ln in out.out.splitlines() if "error_rate" in ln)
    assert rc == 1 and "regression" in row and "0/200 vs 20/200" in row
    assert "5 run(s), 200 requests" in out.out and "MDE" in out.out


def test_not_comparable_runs_say_what_differs_before_any_number(tmp_path, capsys):
    a = write_run(tmp_path, "a", run_samples(1.0))
    b = write_run(tmp_path, "b", run_samples(1.0), load={"kind": "concurrency", "concurrency": 4, "requests": N})
    assert cli.main(["compare", str(a), str(b)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out == ["not comparable: load concurrency 1 x40 vs concurrency 4 x40 "
                   "(no verdicts; --force shows the numbers anyway)"]
    assert cli.main(["compare", str(a), str(b), "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("not comparable: load") and any("output_tok_s" in ln for ln in out[1:])
    assert any(ln.startswith("CI:") and "drift between runs is not measured" in ln for ln in out)


def test_set_resolution_by_folder_glob_list_and_series(tmp_path):
    dirs = write_set(tmp_path, "x", [1.0, 1.1, 0.9])
    assert len(store.resolve_set(str(tmp_path))) == 3
    assert len(store.resolve_set(f"{dirs[0]},{dirs[1]}")) == 2
    assert len(store.resolve_set(f"{tmp_path}/x[12]")) == 2
    series = store.keys(store.read(dirs[0]).meta)["series"]
    assert len(store.resolve_set(series, tmp_path)) == 3


def test_change_points_find_a_step_and_ignore_wiggle_and_one_bad_run():
    rng = np.random.default_rng(3)
    step = np.r_[rng.normal(100, 4, 7), rng.normal(70, 4, 6)]
    cps = changepoints.detect(step)
    assert [c.index for c in cps] == [7] and cps[0].change_pct == pytest.approx(-30, abs=5)
    assert cps[0].p_value < changepoints.ALPHA
    assert changepoints.detect(rng.normal(100, 4, 13)) == []
    assert changepoints.detect(np.r_[rng.normal(100, 4, 12), 40.0]) == []      # one bad run


def test_trend_fails_an_error_step_at_the_newest_runs_only(tmp_path, capsys):
    # one git_sha for all runs, so the gate judges the newest 3 runs (tests/unit/test_trend_gate.py)
    write_set(tmp_path / "s", "s", [1.0] * 9)
    write_set(tmp_path / "s", "t", [1.0] * 3, fail_every=10, t0=10)
    assert cli.main(["trend", str(tmp_path / "s"), "--metric", "error_rate", "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "GATE: REGRESSION at the newest commit: error_rate" in out
    write_set(tmp_path / "o", "o", [1.0] * 6)                    # an old step: history, not a failure
    write_set(tmp_path / "o", "p", [1.0] * 6, fail_every=10, t0=10)
    assert cli.main(["trend", str(tmp_path / "o"), "--metric", "error_rate", "--fail-on-regression"]) == 0
    out = capsys.readouterr().out
    assert "change point in error_rate after run 6" in out and "GATE: REGRESSION" not in out
    write_set(tmp_path / "q", "q", [1.0] * 12)
    assert cli.main(["trend", str(tmp_path / "q"), "--metric", "error_rate", "--fail-on-regression"]) == 0


def test_change_points_on_real_series_with_and_without_a_step():
    """Per-run values of two real series (tests/data/step_series.json, scripts/verdict_checks.py
    step): a step after run 6 is found there, and nothing in the series without it."""
    import json
    data = json.loads((DATA / "step_series.json").read_text())
    for key in ("output_tok_s", "e2e_ms_p50"):
        found = changepoints.detect(data["with-step"][key])
        assert [c.index for c in found] == [data["k"]] and found[0].p_value < changepoints.ALPHA
        assert changepoints.detect(data["no-step"][key]) == []
