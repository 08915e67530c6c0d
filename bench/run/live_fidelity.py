"""Teacher-forced fidelity measured while an A/B experiment's backends are still up.

Backends that answer prompt logprobs live (Backend.teacher_forced == "live", e.g. vLLM) are asked
after the experiment's last run, before their engines stop: per load point, each non-speculative
treatment arm and the baseline decode the baseline's output tokens as one forced prefill
(bench.metrics.fidelity.teacher_forced_live). The metrics go into the arm's first run's meta
(in memory, under TF_META), where the experiment analysis (bench.analysis.experiment) takes them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from bench.metrics import fidelity
from bench.results.files import read_samples
from bench.treatments import BASELINE
from bench.workloads import make_workload, single_prompts

TF_META = "teacher_forced"    # RunResult.meta key (in memory) of a treatment arm's live tf_* metrics


def arms_by_load(results: list) -> dict[Any, dict[str, list]]:
    """Runs of one experiment that did not fail: load point -> arm name -> runs (repetitions)."""
    from bench.results.store import load_point   # here: a plain run need not import pandas

    points: dict[Any, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.spec.treatment and r.status != "failed":
            points[load_point(r.meta["config"])][r.spec.treatment.name or BASELINE].append(r)
    return points


def prompts_of(run, n_sent: int) -> dict[str, tuple[int, ...]]:
    """The prompts a run sent (its request count, else `n_sent`), regenerated from its seeded
    workload (single-request sessions only)."""
    spec = run.spec
    workload = make_workload(spec.workload, run.meta["model_path"], spec.seed)
    return single_prompts(workload, spec.load.requests or n_sent)


async def measure(results: list, backend_of: Callable[[Any], Any]) -> None:
    """`results`: one experiment's runs; `backend_of(spec)`: its started backend, or None."""
    for arms in arms_by_load(results).values():
        base_runs = arms.get(BASELINE)
        base = backend_of(base_runs[0].spec) if base_runs else None
        if base is None or base.teacher_forced != "live":
            continue
        base_s = [s for s in read_samples(base_runs[0].dir) if not s.warmup]
        prompts = prompts_of(base_runs[0], len(base_s))
        for name, runs in arms.items():
            treat = backend_of(runs[0].spec)
            # a speculative arm's tokens are verified by the target model: the same distribution
            if name == BASELINE or treat is None or treat.is_speculative(runs[0].spec.backend.options):
                continue
            runs[0].meta[TF_META] = await fidelity.teacher_forced_live(base, treat, base_s, prompts)
