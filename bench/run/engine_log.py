"""Engines' own output goes to a log file, not the terminal: one per suite,
`<results>/<suite>.engine.log`, named on the terminal once. The terminal keeps the progress and
the results, plus one line for each warning in the log that the user should act on.

What writes there, and how each is caught:
- the processes an engine spawns while it starts (vLLM's engine core and its workers, spawned,
  not forked) inherit this process's stdout and stderr: during a start both descriptors point at
  the log, so their prints, C++ warnings, progress bars and log records land there (this
  process's own writes in that window are the engine's start-up too);
- after the start, this process's loggers of the engine libraries (vLLM's has a handler of its
  own on stdout) write to the log through one handler, and Python warnings go there as well
  (bench itself raises none: they come from torch, transformers and vLLM).

The log is process-wide, as file descriptors and loggers are: `use` sets it for a suite; without
it (tests that start a backend themselves) an engine prints where it always did.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# Loggers that carry engine output, not bench's; their records go to the log.
LIBRARIES = ("vllm", "transformers", "torch", "accelerate", "huggingface_hub", "py.warnings")

# Warnings in an engine's output that change what the numbers mean, with the line the terminal
# shows once for each (the log has the detail).
ACTIONABLE = (
    (re.compile(r"Failed to create oneDNN linear, fallback to torch linear"),
     "no oneDNN kernel for this dtype on this CPU (AVX-512 BF16/AMX?): torch fallback, slower"),
    (re.compile(r"requires x86 with AVX-512 or AMX"),
     "an option of this run needs AVX-512 or AMX, which this CPU lacks"),
)
# An error record (vLLM's `ERROR <time> [file:line] message`, ours `ERROR <time> [logger] message`)
# or an exception's last line: one terminal line per source, its first message.
_ERROR = re.compile(r"\b(?:ERROR|CRITICAL)\b[^\[]*\[(?P<tag>[^\]]+)\]\s?(?P<msg>.*)"
                    r"|^(?P<exc>[\w.]+(?:Error|Exception): .*)")


class EngineLog:
    """A suite's engine log: `capture()` around an engine's start; `new_warnings()` after."""

    def __init__(self, path: Path, note: Callable[[str], None]):
        self.path, self.note = Path(path), note
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(asctime)s [%(name)s] %(message)s"))
        self.named = False
        self.seen: set[str] = set()
        self.offset = 0
        self.saved: dict[str, tuple[list[logging.Handler], bool]] = {}   # each logger as it was

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """stdout and stderr into the log for the block, for the processes it spawns; the
        engine libraries' loggers into it from then on."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = os.dup(1), os.dup(2)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            _start_resource_tracker()
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for f in (fd, *saved):
                os.close(f)
            self.route_loggers()
            if not self.path.stat().st_size:      # an engine that printed nothing: no log
                self.path.unlink()
            elif not self.named:
                self.note(f"engine output (logs, warnings): {self.path}")
                self.named = True
            self.report()

    def route_loggers(self) -> None:
        logging.captureWarnings(True)
        for name in LIBRARIES:
            logger = logging.getLogger(name)
            if name not in self.saved:
                self.saved[name] = (logger.handlers, logger.propagate)
            logger.handlers = [self.handler]
            logger.propagate = False

    def report(self) -> None:
        """One terminal line per actionable warning or distinct error new in the log."""
        for line in self.new_warnings():
            self.note(line)

    def new_warnings(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                text = f.read().decode(errors="replace")
                self.offset = f.tell()
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            for pattern, advice in ACTIONABLE:
                if pattern.search(line) and advice not in self.seen:
                    self.seen.add(advice)
                    out.append(f"engine warning: {advice} (see the engine log)")
            m = _ERROR.search(line)
            key = m and (m.group("tag") or m.group("exc"))
            if key and key not in self.seen and len(self.seen) < 20:
                self.seen.add(key)
                msg = (m.group("msg") or m.group("exc")).strip()[:160]
                out.append(f"engine error: {msg} (see {self.path.name})")
        return out

    def close(self) -> None:
        """The loggers and warnings as they were before this log; the file closed."""
        for name, (handlers, propagate) in self.saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate
        if self.saved:
            logging.captureWarnings(False)
        self.saved = {}
        self.handler.close()


def _start_resource_tracker() -> None:
    """multiprocessing's resource tracker is a process of its own that warns about leaked shared
    memory at exit (vLLM's, after an engine core is killed): started here, its warnings go to
    the log. One that is already running keeps its own stderr."""
    try:
        from multiprocessing import resource_tracker
        resource_tracker.ensure_running()
    except Exception:   # not on every platform; it only decides where a warning goes
        pass


_current: EngineLog | None = None


def use(path: Path, note: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> EngineLog:
    """The log engines started from now on write to (the previous one closed)."""
    global _current
    if _current is not None:
        _current.close()
    _current = EngineLog(path, note)
    return _current


@contextlib.contextmanager
def capture() -> Iterator[None]:
    """The current log's capture, or nothing when no suite set one."""
    if _current is None:
        yield
        return
    with _current.capture():
        yield


def report() -> None:
    if _current is not None:
        _current.report()
