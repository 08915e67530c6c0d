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
VERDICTS = ("regression", "improvement")


def test_a_run_is_one_value_and_the_interval_comes_from_the_runs_alone():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f) for f in DRIFT[::-1][1:] + DRIFT[-1:]]      # the same drift, another order
    c = runsets.compare("output_tok_s", a, b)
    rates = np.log([1 / f for f in DRIFT])
    se = np.sqrt(2 * rates.var(ddof=1) / 5)                          # Welch on log run values
    assert c.se == pytest.approx(se, rel=0.02) and c.df == pytest.approx(8, rel=0.01)
    from scipy import stats as sps
    q = sps.t.ppf(0.975, c.df)
    assert c.ci_high_pct == pytest.approx((np.exp(q * c.se) - 1) * 100, abs=0.5)   # centred on 0
    assert c.mde_pct == pytest.approx((np.exp((q + sps.t.ppf(0.8, c.df)) * c.se) - 1) * 100)
    assert c.method == "Welch t on log run values" and c.runs_a == c.runs_b == 5
    assert c.cv_a_pct == pytest.approx(np.std(1 / np.array(DRIFT), ddof=1) / np.mean(1 / np.array(DRIFT)) * 100,
                                       rel=0.05)


def test_an_aa_set_gets_no_verdict_and_says_how_many_runs_would_do():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f) for f in DRIFT[::-1]]
    for key in ("ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50", "output_tok_s", "error_rate"):
        assert runsets.compare(key, a, b).verdict not in VERDICTS, key
    c = runsets.compare("output_tok_s", a, b)
    assert c.verdict == "inconclusive" and c.runs_needed > 5      # 15% CV cannot resolve 5% with 5 runs
    quiet = [run_samples(f) for f in (1.0, 1.01, 0.99, 1.005, 0.995)]
    assert runsets.compare("output_tok_s", quiet, quiet[::-1]).verdict == "equivalent"


def test_a_clear_slowdown_over_five_runs_a_side_is_a_regression():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f * 2) for f in DRIFT[::-1]]
    for key in ("output_tok_s", "tpot_ms_p50", "e2e_ms_p50"):
        assert runsets.compare(key, a, b).verdict == "regression", key
    c = runsets.compare("output_tok_s", a, b)
    assert c.change_pct == pytest.approx(-50, abs=1) and c.ci_high_pct < -5
    assert runsets.compare("output_tok_s", b, a).verdict == "improvement"


def test_a_change_inside_the_margin_is_never_a_verdict():
    a = [run_samples(f) for f in (1.0, 1.002, 0.998, 1.001, 0.999)]
    b = [run_samples(f * 1.03) for f in (1.0, 1.002, 0.998, 1.001, 0.999)]
    c = runsets.compare("e2e_ms_p50", a, b)
    assert c.ci_low_pct > 0 and c.verdict == "equivalent"          # real, but inside +/-5%
    assert runsets.compare("e2e_ms_p50", a, b, min_effect_pct=1.0).verdict == "regression"


def test_one_run_per_side_gives_no_verdict_unless_asked_for_within_run():
    a, b = [run_samples(1.0)], [run_samples(2.0)]
    assert runsets.compare("e2e_ms_p50", a, b).verdict == runsets.NO_DRIFT
    c = runsets.compare("e2e_ms_p50", a, b, within_run=True)
    assert c.verdict == "regression" and c.method.startswith("within-run bootstrap")
    one = [run_samples(1.0)]
    c = runsets.compare("e2e_ms_p50", one, one, within_run=True)      # the same requests, paired
    assert c.paired and c.ci_low_pct == pytest.approx(0) and c.ci_high_pct == pytest.approx(0)


def test_one_new_run_against_several_uses_their_spread():
    a = [run_samples(f) for f in DRIFT]
    c = runsets.compare("output_tok_s", a, [run_samples(2.0)])
    assert c.df == 4 and c.verdict == "regression"
    assert runsets.compare("output_tok_s", a, [run_samples(1.1)]).verdict not in VERDICTS


def test_error_rate_is_judged_per_run():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f, fail_every=10) for f in DRIFT]
    c = runsets.compare("error_rate", a, b)
    assert (c.a, c.b) == (0.0, 0.1) and c.p_value == pytest.approx(2 / 252) and c.verdict == "regression"
    assert c.note.startswith("0 of 5 vs 5 of 5 runs had errors")
    assert runsets.compare("error_rate", a, a).verdict == "equivalent"


def test_one_crashed_run_of_five_is_not_an_error_rate_regression():
    a = [run_samples(f) for f in DRIFT]
    b = [run_samples(f) for f in DRIFT[:4]] + [run_samples(1.0, fail_every=1)]     # every request failed
    c = runsets.compare("error_rate", a, b)
    assert c.verdict not in VERDICTS and c.note.startswith("0 of 5 vs 1 of 5 runs had errors")
    assert c.b == pytest.approx(0.2) and c.p_value > 0.05
    t = runsets.compare("output_tok_s", a, b)     # the crashed run has no throughput: left out, said so
    assert t.runs_b == 4 and "1 run(s) without a value left out" in t.note


def round_set(root, name, factors, suite, start, skip=()):
    """One arm of an interleaved suite: repetition i started at start + 2i."""
    return [write_run(root, f"{name}{i}", run_samples(f), started_at=start + 2 * i,
                      extra={"suite": suite, "treatment": {"repetition": i}})
            for i, f in enumerate(factors) if i not in skip]


def test_rounds_pair_by_suite_and_repetition_and_survive_a_lost_run(tmp_path):
    from bench.analysis import compare, rounds
    wide = [1.0, 1.4, 0.7, 1.2, 0.8, 1.3]                    # a drift shared by both runs of a round
    a = [store.read(d) for d in round_set(tmp_path, "a", wide, "s1", 0)]
    b = [store.read(d) for d in round_set(tmp_path, "b", [f * 1.15 for f in wide], "s1", 1, skip={2})]
    r = rounds.match(a, b[::-1])
    assert r.paired and r.unmatched == 1 and [store.repetition(x) for x in r.a] == [0, 1, 3, 4, 5]
    assert [store.repetition(x) for x in r.b] == [0, 1, 3, 4, 5]
    c = {x.key: x for x in compare.compare_sets(a, b[::-1], ("output_tok_s",))}["output_tok_s"]
    assert c.runs_paired and c.runs_a == c.runs_b == 5 and c.verdict == "regression"
    assert c.change_pct == pytest.approx(-13, abs=0.5)
    other = [store.read(d) for d in round_set(tmp_path, "o", [f * 1.15 for f in wide], "s2", 1)]
    c = compare.compare_sets(a, other, ("output_tok_s",))[0]    # another suite: no rounds in common
    assert not c.runs_paired and c.verdict not in VERDICTS      # the drift hides 15% unpaired


def test_sets_that_did_not_alternate_in_time_get_the_drift_line(tmp_path):
    from bench.analysis import compare, rounds
    early = [store.read(d) for d in write_set(tmp_path / "a", "a", DRIFT, t0=0)]
    late = [store.read(d) for d in write_set(tmp_path / "b", "b", DRIFT, t0=100)]
    changes = compare.compare_sets(early, late)
    line = "A and B did not alternate in time"
    assert line in compare.rule(changes, 5.0, None, a=early, b=late) and rounds.interleaved(early, late) is False
    assert all(c.drift_allowance_pct == 2.5 for c in changes if c.se is not None)
    mixed = [store.read(d) for d in write_set(tmp_path / "c", "c", DRIFT, t0=0.5)]
    assert line not in compare.rule(changes, 5.0, None, a=early, b=mixed)
    assert all(c.drift_allowance_pct == 0 for c in compare.compare_sets(early, mixed))


def test_only_the_family_is_judged(tmp_path):
    from bench.analysis import compare
    a = [store.read(d) for d in write_set(tmp_path / "a", "a", DRIFT)]
    b = [store.read(d) for d in write_set(tmp_path / "b", "b", [f * 2 for f in DRIFT], t0=0.5)]
    by = {c.key: c for c in compare.compare_sets(a, b)}
    assert by["output_tok_s"].verdict == "regression" and by["tpot_ms_p50"].verdict == "regression"
    assert by["e2e_ms_p50"].verdict == "not judged" and by["e2e_ms_p50"].ci_low_pct > 0
    assert by["output_tok_s"].ci_level == pytest.approx(1 - 0.05 / 4)
    assert by["e2e_ms_p50"].ci_level == pytest.approx(0.95)
    named = {c.key: c for c in compare.compare_sets(a, b, ("e2e_ms_p50",))}
    assert named["e2e_ms_p50"].verdict == "regression" and named["e2e_ms_p50"].ci_level == pytest.approx(0.95)


def test_compare_cli_takes_sets_and_flags_errors(tmp_path, capsys):
    write_set(tmp_path / "a", "a", DRIFT)
    write_set(tmp_path / "b", "b", DRIFT, fail_every=10, t0=0.5)
    rc = cli.main(["compare", str(tmp_path / "a"), f"{tmp_path}/b/b*", "--fail-on-regression", "5"])
    out = capsys.readouterr()
    row = next(ln for ln in out.out.splitlines() if "error_rate" in ln)
    assert rc == 1 and "regression" in row and "0 of 5 vs 5 of 5 runs" in row
    assert "5 run(s), 200 requests" in out.out and "MDE" in out.out and "n: 5/5 runs and 200/200" in out.out


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
    assert any(ln.startswith("Rule:") and "drift between runs is not measured" in ln for ln in out)


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
