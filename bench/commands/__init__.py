"""The CLI verbs that have no module of their own below (run, validate, models): each declares
its arguments and runs. The other verbs live beside what they do (bench.analysis.compare, ...);
bench.cli names them all."""
