"""The started engines of a suite: a backend (and the server it talks to, when the harness starts
one), started when a run first needs it and stopped when the next run does not.

Runs with the same model, seed, backend settings and server share one engine, so a load sweep
does not restart it. A caller may group runs (`group`, e.g. the arms of an A/B experiment, which
interleave A B A B and would otherwise restart their engines every run): every engine of a group
stays up until the group's last run has ended, and `group_done` is called then, with them up.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Awaitable, Callable

from bench import registry
from bench.config import RunSpec
from bench.models import resolve_model
from bench.run import engine_log
from bench.run.server import ManagedServer


@dataclass(frozen=True)
class Engine:
    """A started backend, the managed server it talks to (or None), and the model path loaded."""
    backend: object                     # bench.backends.base.Backend
    model_path: str
    server: ManagedServer | None = None


def engine_key(spec: RunSpec) -> str:
    """What makes two runs share an engine."""
    server = spec.server.model_dump_json() if spec.server else ""
    return f"{spec.model}|{spec.seed}|{spec.backend.model_dump_json()}|{server}"


async def start(spec: RunSpec) -> Engine:
    model_path = resolve_model(spec.model)
    options = dict(spec.backend.options)
    server = None
    if spec.server is not None:
        server = ManagedServer(spec.server, model_path, spec.seed)
        await server.start()
        options.setdefault("base_url", server.url + "/v1")
    backend = registry.backend_class(spec.backend.name)(model_path, options, spec.seed)
    try:
        with engine_log.capture():     # its processes' output to the suite's engine log
            await backend.start()
    except BaseException:
        await stop(Engine(None, model_path, server))
        raise
    return Engine(backend, model_path, server)


async def stop(engine: Engine) -> None:
    """The backend first (it may be talking to the server), then the server, even if one fails."""
    try:
        if engine.backend is not None:
            await engine.backend.stop()
    finally:
        if engine.server is not None:
            await engine.server.stop()
            engine.server.log_path.unlink(missing_ok=True)  # each run folder kept its copy
        engine_log.report()            # errors its shutdown logged


GroupDone = Callable[[str, Callable[[RunSpec], "Engine | None"]], Awaitable[None]]


class Engines:
    """`async with Engines(specs) as engines`: get(spec) before each run, done(i) after run i."""

    def __init__(self, specs: list[RunSpec], group: Callable[[RunSpec], str | None] = lambda s: None,
                 group_done: GroupDone | None = None):
        self.specs, self.group, self.group_done = specs, group, group_done
        self.live: dict[str, Engine] = {}

    async def __aenter__(self) -> Engines:
        return self

    async def __aexit__(self, *exc) -> None:
        for key in list(self.live):        # in the order they started
            await stop(self.live.pop(key))

    def engine_of(self, spec: RunSpec) -> Engine | None:
        return self.live.get(engine_key(spec))

    async def get(self, spec: RunSpec) -> Engine:
        key = engine_key(spec)
        engine = self.live.get(key)
        # A managed server that died in the last run (crash, OOM) is started afresh, so the
        # sweep goes on to its next point.
        if engine is not None and engine.server is not None and not engine.server.alive:
            await stop(self.live.pop(key))
            engine = None
        if engine is None:
            engine = self.live[key] = await start(spec)
        return engine

    async def done(self, i: int) -> None:
        """Run i has ended: end its group if that was the group's last run, then stop every
        engine the next run (or the next run's group) does not use."""
        group = self.group(self.specs[i])
        nxt = self.specs[i + 1] if i + 1 < len(self.specs) else None
        if group is not None and self.group_done is not None and (nxt is None or self.group(nxt) != group):
            await self.group_done(group, self.engine_of)
        keep = set()
        if nxt is not None:
            g = self.group(nxt)
            keep = {engine_key(s) for s in self.specs if s is nxt or (g is not None and self.group(s) == g)}
        for key in [k for k in self.live if k not in keep]:
            await stop(self.live.pop(key))
