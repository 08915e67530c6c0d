"""The runner's hooks for A/B experiments: an experiment's arms (bench.treatments) form one group,
so their engines stay up together until its last run, and then live fidelity is measured on them.
The experiment files are written after the suite (bench.analysis.experiment.write)."""
from __future__ import annotations

from collections.abc import Callable

from bench.config import RunSpec
from bench.experiments import live_fidelity
from bench.results.run import Run
from bench.run.runner import Hooks


def experiment_of(spec: RunSpec) -> str | None:
    return spec.treatment.experiment if spec.treatment else None


def hooks(note: Callable[[str], None]) -> Hooks:
    runs: list[Run] = []

    async def group_done(group: str, engine_of) -> None:
        def backend_of(spec: RunSpec):
            engine = engine_of(spec)
            return engine.backend if engine is not None else None

        try:
            await live_fidelity.measure([r for r in runs if experiment_of(r.spec) == group], backend_of)
        except Exception as exc:   # never the reason measured results are lost
            note(f"teacher-forced fidelity of experiment {group} not computed: {type(exc).__name__}: {exc}")

    return Hooks(group=experiment_of, group_done=group_done, run_done=runs.append)
