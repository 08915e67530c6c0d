"""Teacher-forced fidelity measured while an A/B experiment's engines are still up.

Backends that answer prompt logprobs live (Backend.teacher_forced == "live", e.g. vLLM) are asked
after the experiment's last run, before their engines stop: per load point, each non-speculative
treatment arm and the baseline decode the baseline's output tokens as one forced prefill
(bench.metrics.fidelity.teacher_forced_live). The metrics go into the treatment arm's first run
folder as TEACHER_FORCED_FILE (this module is its one writer), where the experiment's analysis
(bench.analysis.experiment) reads them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any
from collections.abc import Callable

from bench.metrics import fidelity
from bench.results.files import atomic_write_json
from bench.results.run import Run, load_point
from bench.treatments import BASELINE
from bench.workloads import sent_prompts


def arms_by_load(runs: list[Run]) -> dict[Any, dict[str, list[Run]]]:
    """Runs of one experiment that did not fail: load point -> arm name -> runs (repetitions)."""
    points: dict[Any, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.spec.treatment and r.status != "failed":
            points[load_point(r.meta)][r.spec.treatment.name or BASELINE].append(r)
    return points


async def measure(runs: list[Run], backend_of: Callable[[Any], Any]) -> None:
    """`runs`: one experiment's runs; `backend_of(spec)`: its started backend, or None."""
    for arms in arms_by_load(runs).values():
        base_runs = arms.get(BASELINE)
        base = backend_of(base_runs[0].spec) if base_runs else None
        if base is None or base.teacher_forced != "live":
            continue
        base_s = base_runs[0].samples()
        prompts = sent_prompts(base_runs[0])
        for name, arm in arms.items():
            treat = backend_of(arm[0].spec)
            # a speculative arm's tokens are verified by the target model: the same distribution
            if name == BASELINE or treat is None or treat.is_speculative(arm[0].spec.backend.options):
                continue
            tf = await fidelity.teacher_forced_live(base, treat, base_s, prompts)
            atomic_write_json(arm[0].dir / fidelity.TEACHER_FORCED_FILE, tf)
