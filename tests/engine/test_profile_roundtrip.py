"""The round trip on the real tiny model: a log -> a fitted agentic workload -> `bench run` (HF) ->
`bench export-otel` -> `bench profile` gives back the fitted distributions within sampling error.

The same run is one of the harness's own agentic runs exported in the OpenTelemetry layout, so
the profile must recover the parameters the run was drawn from (steps per task, output tokens
per step, observation size via context growth, tool latency, fan-out, static prefix).

Tolerance, on the log scale (the fits are lognormal or quantiles of positive values): the run
draws from the fitted distribution exactly, so only the second profile's sampling error counts:
Z = 3.5 standard errors of an estimated median (1.2533 sigma / sqrt(n)) or 90th percentile
(1.71 sigma / sqrt(n), the asymptotic SE of a sample p90 of a lognormal), sigma the fitted log
standard deviation and n the values in the second profile; plus the rounding of token counts
at `scale` (0.5 token in scale x median). Means of counts: 3.5 standard errors of the mean.
"""
import json
import math

import numpy as np
import pytest
import yaml

from bench import cli
from bench.profile import fit as fitting
from bench.profile.command import read_logs
from bench.profile.profile import build
from tests.helpers.profile_logs import app_log, log_sigma, median_p90


SCALE, TOOL_FACTOR, TASKS, Z = 0.1, 0.02, 30, 3.5
S = 10**9
T0 = 1_750_000_000 * S   # Unix ns


def dist_mean(dist: dict, n: int = 200_000) -> float:
    from pydantic import TypeAdapter
    from bench.workloads.dists import Dist
    d = TypeAdapter(Dist).validate_python(dist)
    return float(np.mean(np.maximum(1, np.round(d.sample(np.random.default_rng(0), n)))))


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    d = tmp_path_factory.mktemp("roundtrip")
    app_log(d / "app.jsonl")
    wl = d / "fitted.yaml"
    assert cli.main(["profile", str(d / "app.jsonl"), "--write-workload", str(wl)]) == 0
    cfg = {"name": "roundtrip", "model": "tiny", "backend": {"name": "hf", "options": {"max_batch_size": 8,
                                                                                      "batch_wait_ms": 1}},
           "workload": {"file": str(wl), "scale": SCALE, "tool_latency_factor": TOOL_FACTOR,
                        "context_limit_tokens": 8192},
           "load": {"kind": "concurrency", "concurrency": 8, "requests": TASKS, "warmup": 0}, "seed": 0}
    (d / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main(["run", str(d / "cfg.yaml"), "--results-dir", str(d / "results"), "--no-progress"]) == 0
    run_dir = next(p for p in (d / "results").iterdir() if p.is_dir())
    assert cli.main(["export-otel", str(run_dir), "--out", str(d / "run.jsonl")]) == 0
    first = build(read_logs([str(d / "app.jsonl")]))
    second = build(read_logs([str(d / "run.jsonl")]))
    return first, fitting.workload(first)[0], second, run_dir


def test_own_run_exports_a_complete_call_tree(trip):
    _, params, p2, run_dir = trip
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert p2.tasks == TASKS and p2.llm_calls == len(samples)
    assert not p2.log.skipped                       # every span of our own export is usable
    # no compaction at this size: calls per task = steps per task
    assert list(p2.values["calls_per_task"]) == list(p2.values["steps_per_task"])
    steps_meta = {}
    for s in samples:
        steps_meta[s["task_id"]] = max(steps_meta.get(s["task_id"], 0), s["meta"]["step"] + 1)
    assert sorted(p2.values["steps_per_task"]) == sorted(steps_meta.values())


@pytest.mark.parametrize("key,values,unit", [("output_tokens", "step_output_tokens", SCALE),
                                             ("observation_tokens", "observation_tokens", SCALE),
                                             ("tool_latency", "tool_s", TOOL_FACTOR)])
def test_fitted_distributions_come_back(trip, key, values, unit):
    _, params, p2, _ = trip
    dist = params["tool_latency"][0]["latency_s"] if key == "tool_latency" else params[key]
    med1, p90_1 = median_p90(dist)
    x = p2.values[values] / unit                     # back to the log's units
    n, sigma = len(x), log_sigma(dist)
    rounding = math.log1p(0.5 / (SCALE * med1)) if unit == SCALE else 0.0
    for q, want, k in ((0.5, med1, 1.2533), (0.9, p90_1, 1.71)):
        got = float(np.quantile(x, q))
        tol = Z * k * sigma / math.sqrt(n) + rounding
        assert abs(math.log(got / want)) <= tol, f"{key} q{q}: got {got:.4g}, fitted {want:.4g}, tol {tol:.3f} (n={n})"


def test_counts_prefix_and_fan_out_come_back(trip):
    p1, params, p2, _ = trip
    steps = p2.values["steps_per_task"]
    want = dist_mean(params["steps"])
    assert abs(steps.mean() - want) <= Z * steps.std() / math.sqrt(len(steps)) + 1e-9, (steps.mean(), want)
    share1 = params["tool_calls_per_step"].get(1, 0.0)
    fan = p2.fan_out
    n = sum(fan.values())
    assert abs(fan[1] / n - share1) <= Z * math.sqrt(share1 * (1 - share1) / n)
    # the static prefix: the smallest first prompt in both logs; in the run it is the scaled prefix
    # plus the smallest task statement drawn (at least 1 token)
    scaled = round(params["prefix_tokens"] * SCALE)
    assert scaled + 1 <= p2.prefix_tokens <= scaled + max(3, 0.05 * scaled)
    assert p1.prefix_tokens == params["prefix_tokens"]
    # context growth per step: the tools' observations (steps here all run tools)
    assert p2.values["context_growth_tokens"].min() >= 1 and len(p2.values["context_growth_tokens"]) == n
