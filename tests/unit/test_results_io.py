"""Results on disk: run.json replaced atomically, run folders never overwritten, and a harness
killed with SIGKILL mid-run leaves a readable partial result with every finished sample."""
import json

import pytest

from bench.results.files import RunWriter, atomic_write_json, read_run, read_samples
from bench.types import Sample


def sample(i: int) -> Sample:
    return Sample(request_id=f"r{i}", task_id=None, scheduled_ns=0, sent_ns=1, token_ns=(2, 3),
                  chunk_ns=(2, 3), prompt_tokens=4, cached_prompt_tokens=None, output_tokens=2)


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "run.json"
    atomic_write_json(path, {"status": "partial"})

    class Boom:
        def __str__(self):
            raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError):
        atomic_write_json(path, {"status": "complete", "bad": Boom()})
    assert json.loads(path.read_text()) == {"status": "partial"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_existing_run_is_never_overwritten(tmp_path):
    w = RunWriter(tmp_path, "run-1", {"name": "a"})
    w.add(sample(0))
    w.finish("complete")
    before = {p.name: p.read_bytes() for p in w.dir.iterdir()}
    with pytest.raises(FileExistsError):
        RunWriter(tmp_path, "run-1", {"name": "b"})
    assert {p.name: p.read_bytes() for p in w.dir.iterdir()} == before


def test_samples_reach_disk_as_they_finish_and_status_starts_partial(tmp_path):
    w = RunWriter(tmp_path, "run-2", {"name": "a"})
    for i in range(3):
        w.add(sample(i))
    # read back before finish(): what a crash at this moment would leave
    assert read_run(w.dir)["status"] == "partial"
    assert [s.request_id for s in read_samples(w.dir)] == ["r0", "r1", "r2"]
    with open(w.dir / "samples.jsonl", "a") as f:
        f.write('{"request_id": "r3", "task_')            # a write cut by the crash
    assert len(list(read_samples(w.dir))) == 3
    w.finish("complete")


