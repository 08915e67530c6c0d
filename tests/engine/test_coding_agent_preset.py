"""The coding-agent preset fitted to the recorded sessions (workloads/coding_agent.yaml), run on
the real tiny model (HF, scaled) and re-profiled, gives back what it was fitted to: steps per
session, context growth per step (the observations), output per step and think/tool time, with
the round-trip tolerances of tests/engine/test_profile_roundtrip.py (3.5 standard errors of a median or
p90 on the log scale, plus the rounding of token counts at `scale`).

Task statements are fixed at 1,000 tokens for the run: the fitted ones reach 594K tokens (the
first prompts of resumed sessions), more than the tiny model's 8,192 at any useful scale, and
they are not among the quantities checked.
"""
import json
import math

import numpy as np
import pytest
import yaml

from bench import cli, config
from bench.profile.command import read_logs
from bench.profile.profile import build
from tests.engine.test_profile_roundtrip import Z
from tests.helpers.profile_logs import log_sigma, median_p90


SCALE, TOOL_FACTOR, TASKS = 0.01, 0.002, 16


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    d = tmp_path_factory.mktemp("coding")
    params = config.resolve_workload({"file": "coding_agent"}, "test").model_dump(mode="json")
    cfg = {"name": "coding", "model": "tiny",
           "backend": {"name": "hf", "options": {"max_batch_size": 8, "batch_wait_ms": 1, "torch_threads": 1}},
           "workload": {"file": "coding_agent", "scale": SCALE, "tool_latency_factor": TOOL_FACTOR,
                        "context_limit_tokens": 8192, "task_tokens": {"dist": "fixed", "value": 1000}},
           "load": {"kind": "concurrency", "concurrency": 8, "requests": TASKS, "warmup": 0}, "seed": 0}
    (d / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main(["run", str(d / "cfg.yaml"), "--results-dir", str(d / "results"), "--no-progress"]) == 0
    run_dir = next(p for p in (d / "results").iterdir() if p.is_dir())
    assert cli.main(["export-otel", str(run_dir), "--out", str(d / "run.jsonl")]) == 0
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(s["error"] is None for s in samples)
    return params, build(read_logs([str(d / "run.jsonl")]))


def points(dist: dict) -> list[tuple[float, float, float]]:
    """(q, fitted value, SE factor) to compare. An empirical fit is 20 equally likely values, so
    its median and p90 sit on a jump between two of them: compare it at the centres of the bins
    next to those (q 0.475 and 0.875), where its quantile is one value."""
    if dist["dist"] == "empirical":
        v = sorted(dist["values"])
        return [(0.475, v[9], 1.2533), (0.875, v[17], 1.71)]
    med, p90 = median_p90(dist)
    return [(0.5, med, 1.2533), (0.9, p90, 1.71)]


@pytest.mark.parametrize("key,values,unit", [("steps", "steps_per_task", 1),
                                             ("output_tokens", "step_output_tokens", SCALE),
                                             ("observation_tokens", "context_growth_tokens", SCALE),
                                             ("tool_latency", "tool_s", TOOL_FACTOR)])
def test_steps_growth_output_and_think_time_come_back(trip, key, values, unit):
    params, p2 = trip
    dist = params["tool_latency"][0]["latency_s"] if key == "tool_latency" else params[key]
    x = p2.values[values] / unit                   # back to the recorded units
    n, sigma = len(x), log_sigma(dist)
    assert n >= TASKS
    for q, want, k in points(dist):
        got = float(np.quantile(x, q))
        rounding = math.log1p(0.5 / (SCALE * want)) if unit == SCALE else 0.0
        tol = Z * k * sigma / math.sqrt(n) + rounding
        assert abs(math.log(max(got, 1e-9) / want)) <= tol, \
            f"{key} q{q}: got {got:.4g}, fitted {want:.4g}, tol {tol:.3f} (n={n})"
