"""The report's "Not run" section: runs and A/B arms that were skipped (this machine cannot run
them, said before the suite started) or whose engine failed to start, with the reason. They have
no samples, so every other section leaves them out."""
from __future__ import annotations

from bench.analysis.report.page import Section
from bench.results import store
from bench.results.run import not_run_reason


def not_run_section(runs: list[store.Run]) -> Section | None:
    from bench.backends.preflight import name

    rows = [[name(r.spec), r.run_id, r.status, why] for r in runs if (why := not_run_reason(r.meta)) is not None]
    if not rows:
        return None
    return Section("Not run", (["run", "run_id", "status", "reason"], rows),
                   note="skipped: this machine cannot run it (bench validate says so before a run); "
                        "failed: its engine did not start. The rest of the suite ran without them.")
