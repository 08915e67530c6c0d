"""A/B experiments around the run stage: what runs while an experiment's engines are still up
(live teacher-forced fidelity), plugged into the runner by the CLI through its hooks; the
experiment's analysis itself reads run folders (bench.analysis.experiment)."""
