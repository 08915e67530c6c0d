"""An A/B arm whose real vLLM engine refuses to start (a max_model_len beyond what the model
allows: vLLM's own config check raises at engine start, in seconds) is recorded `failed` with
vLLM's reason in its own run folders, is not started again for its second repetition, and the
rest of the suite runs: the other arms are measured and paired, the experiment file lists the
failed arm, the report shows it, and bench summary returns 1 (a run failed)."""
from __future__ import annotations

import json

import pytest

from bench import config
from bench.analysis import experiment, summary
from bench.analysis.report import write as write_report
from bench.experiments.hooks import hooks
from bench.results.run import counts_as_failed, read
from bench.run import runner
from bench.run.progress import Progress
from tests.helpers.vllm_present import skip_without_vllm

skip_without_vllm()

DOC = {
    "name": "arm-fails", "model": "tiny", "seed": 3,
    "workload": {"kind": "chat", "input_tokens": {"dist": "uniform", "low": 20, "high": 40},
                 "output_tokens": {"dist": "fixed", "value": 8}},
    "load": {"kind": "concurrency", "concurrency": 2, "requests": 4},
    "backend": {"name": "vllm", "options": {"dtype": "bfloat16", "max_model_len": 256,
                                            "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}},
    "repetitions": 2,
    # "same" shares the baseline's engine; "too-long" asks for more context than the model has
    "treatments": [{"name": "too-long", "options": {"max_model_len": 1_000_000}},
                   {"name": "same", "options": {}}],
}


class Notes(Progress):
    """What the run stage tells the user, kept."""

    def __init__(self):
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    specs = config.load_doc(json.loads(json.dumps(DOC)), "arm-fails.yaml")
    notes = Notes()
    results = runner.run_all(specs, out, notes, hooks(print))     # as `bench run`
    return results, out, notes.lines


def test_the_refused_arm_is_failed_with_vllms_reason_and_the_rest_ran(suite):
    results, out, notes = suite
    assert [(r.spec.treatment.name, r.status) for r in results] == [
        ("baseline", "complete"), ("too-long", "failed"), ("same", "complete")] * 2
    failed = [read(r.dir).meta for r in results if r.status == "failed"]   # as stored, upgraded
    for meta in failed:
        assert meta["reason"].startswith("engine failed to start: ValidationError")
        assert "max_model_len (1000000)" in meta["reason"] and "\n" not in meta["reason"]
        assert meta["n_samples"] == 0 and meta["summary"] == {}
    assert [counts_as_failed(r.meta) for r in results] == [False, True, False] * 2
    assert any("arm-fails arm too-long: engine failed to start" in n for n in notes)


def test_experiment_file_report_and_summary_show_it(suite, capsys, tmp_path):
    results, out, _ = suite
    (path,) = experiment.write(results, out)
    (exp,) = json.loads(path.read_text())["experiments"]
    assert [a["treatment"] for a in exp["arms"]] == ["baseline", "same"]
    same = exp["arms"][1]
    assert len(same["runs"]) == 2 and same["effects"]                       # both repetitions paired
    (row,) = exp["not_run"]
    assert (row["treatment"], row["status"], len(row["runs"])) == ("too-long", "failed", 2)
    assert "max_model_len (1000000)" in row["reason"]
    assert write_report([str(out)], str(tmp_path / "report.html")) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Not run" in page and "max_model_len (1000000)" in page
    capsys.readouterr()
    assert summary.summarize(str(out)) == 1
    text = capsys.readouterr().out
    assert "failed: arm-fails arm too-long: engine failed to start" in text and "(2 runs)" in text
