"""Engine output goes to the suite's engine log, not the terminal: what a process spawned during
an engine's start prints, the engine libraries' log records and Python warnings after it. The
terminal gets the log's path once and one line per actionable warning or distinct error."""
import logging
import os
import subprocess
import sys
import warnings

from bench.run.engine_log import EngineLog

CHILD = "import sys; print('child stdout'); print('child stderr', file=sys.stderr)"


def test_a_spawned_process_and_the_libraries_write_to_the_log(tmp_path, capfd):
    notes = []
    log = EngineLog(tmp_path / "s.engine.log", notes.append)
    try:
        with log.capture():
            subprocess.run([sys.executable, "-c", CHILD], check=True)
            os.write(2, b"start-up noise\n")
        logging.getLogger("vllm.engine").warning("a vLLM warning after the start")
        with warnings.catch_warnings():      # an earlier test may have shown it once already
            warnings.simplefilter("always")
            warnings.warn("a library's FutureWarning", FutureWarning, stacklevel=1)
        with log.capture():       # a second engine: the same log, named once
            os.write(1, b"second engine\n")
    finally:
        log.close()
    text = (tmp_path / "s.engine.log").read_text()
    for line in ("child stdout", "child stderr", "start-up noise", "a vLLM warning after the start",
                 "a library's FutureWarning", "second engine"):
        assert line in text, (line, text)
    out, err = capfd.readouterr()
    assert "child" not in out + err and "vLLM warning" not in out + err
    assert notes == [f"engine output (logs, warnings): {tmp_path / 's.engine.log'}"]
    assert logging.getLogger("vllm").propagate                # close() put the loggers back


def test_an_engine_that_prints_nothing_leaves_no_log(tmp_path):
    notes = []
    log = EngineLog(tmp_path / "s.engine.log", notes.append)
    with log.capture():
        pass
    log.close()
    assert not (tmp_path / "s.engine.log").exists() and notes == []


def test_actionable_warnings_and_errors_get_one_line_each(tmp_path):
    path = tmp_path / "s.engine.log"
    log = EngineLog(path, print)
    onednn = ("(Worker pid=1) WARNING 12-05 06:22:10 [utils.py:597] Failed to create oneDNN linear, "
              "fallback to torch linear. Exception: ...\n")
    path.write_text(onednn * 3 + "(Worker pid=1) WARNING 12-05 [cpu_worker.py:114] libtcmalloc is not found\n"
                    "(MainProcess pid=2) ERROR 12-05 06:17:40 [async_llm.py:906] AsyncLLM output_handler failed.\n"
                    "(MainProcess pid=2) ERROR 12-05 06:17:40 [async_llm.py:906] Traceback (most recent call last):\n"
                    "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue.\n")
    lines = log.new_warnings()
    assert len(lines) == 3, lines
    assert "oneDNN" in lines[0] and "(see the engine log)" in lines[0]   # named on the line before
    assert "AsyncLLM output_handler failed." in lines[1] and "EngineDeadError" in lines[2]
    with open(path, "a") as f:
        f.write(onednn + "(MainProcess pid=2) ERROR 12-05 [async_llm.py:906] again\n")
    assert log.new_warnings() == []               # each said once, and only what is new is read
    log.close()
