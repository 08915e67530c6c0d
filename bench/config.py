"""YAML -> validated run specs. Unknown keys and bad values are one-line errors with the key path."""
from __future__ import annotations

import copy
import functools
import importlib.util
import json
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_serializer

from bench import registry
from bench import load as loads
from bench.errors import UserError
from bench.load.base import LoadKind
from bench.metrics.definitions import SLO_KEYS
from bench.models import model_problem
from bench.config_server import ServerSpec
from bench.config_errors import one_line as _fail
from bench.config_expand import expanded as _expanded
from bench.treatments import TreatmentSpec

WORKLOADS_DIR = Path(__file__).resolve().parent.parent / "workloads"
# vLLM hands the seed to numpy's legacy seeding, which takes 0 .. 2**32 - 1 only.
MAX_SEED = 2**32 - 1


class Strict(BaseModel):
    # strict: a mapping, a list or a quoted number is refused where a name or a number is
    # expected, never coerced; inf and nan are refused wherever a number is.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _workload_union() -> Any:
    """Every registered workload's Params, told apart by `kind`: a new workload is still its own
    file plus one registry line. Each Params narrows `kind` to its registry name."""
    members = []
    for kind in registry.WORKLOADS:
        params = registry.workload_class(kind).Params
        if typing.get_args(params.model_fields["kind"].annotation) != (kind,):
            raise TypeError(f"{params.__name__}.kind must be Literal[{kind!r}] (its registry name)")
        members.append(params)
    # a union of a tuple built at run time: the X | Y spelling cannot take one
    return Annotated[Union[tuple(members)], Field(discriminator="kind")]  # noqa: UP007


WorkloadSpec = _workload_union()


class BackendSpec(Strict):
    name: str = "hf"
    # Passed through to the library with its own argument names; validated by the backend.
    options: dict[str, Any] = Field(default_factory=dict)


class Unloaded(Strict):
    """A threshold as a multiple of this machine's unloaded latency (`3x` or {unloaded_x: 3}): a
    capacity search measures the workload with nothing else in flight first and fixes it."""
    unloaded_x: float = Field(ge=1)


_RELATIVE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*[xX]\s*$")
_THRESHOLD_FORMS = "a number of ms > 0, or a multiple of the unloaded latency >= 1: '3x' or {unloaded_x: 3}"
Threshold = Annotated[float | Unloaded | None, Field(default=None, union_mode="left_to_right")]


class SLOSpec(Strict):
    """Per-request thresholds; a request meets the SLO when every given one holds. A threshold may
    be relative (Unloaded) in a capacity search only, which makes it absolute before it probes."""
    ttft_ms: Threshold = None
    tpot_ms: Threshold = None
    itl_ms: Threshold = None
    e2e_ms: Threshold = None
    task_latency_ms: Threshold = None
    ttfa_ms: Threshold = None      # time to first answer token (docs/reasoning.md)
    # The share of units (requests, or tasks for task workloads) that must meet every threshold;
    # used by the capacity search (slo_met = attainment >= percentile / 100). Unset means 90; it
    # stays None in run.json then, so a config without thresholds still reads as "no SLO".
    percentile: float | None = Field(default=None, gt=0, lt=100)

    @field_validator(*SLO_KEYS, mode="before")
    @classmethod
    def _threshold(cls, v):
        """One message for every wrong form (a union's errors would be several)."""
        if v is None or isinstance(v, Unloaded):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v > 0:
                return v
        elif isinstance(v, str) and (m := _RELATIVE.match(v)) and float(m.group(1)) >= 1:
            return Unloaded(unloaded_x=float(m.group(1)))
        elif (isinstance(v, dict) and set(v) == {"unloaded_x"} and isinstance(v["unloaded_x"], (int, float))
              and not isinstance(v["unloaded_x"], bool) and v["unloaded_x"] >= 1):
            return Unloaded(unloaded_x=float(v["unloaded_x"]))
        raise ValueError(f"{v!r} is not a threshold; allowed: {_THRESHOLD_FORMS}")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """ttfa_ms only where given: run.json's slo (and the series key made from it) stays as it
        was before the key existed."""
        out = handler(self)
        if isinstance(out, dict) and self.ttfa_ms is None:
            out.pop("ttfa_ms", None)
        return out

    def thresholds(self) -> dict[str, float]:
        """The absolute thresholds given (percentile and relative ones excluded)."""
        return {k: float(v) for k in SLO_KEYS if isinstance(v := getattr(self, k), (int, float))}

    def relative(self) -> dict[str, float]:
        """The relative thresholds: key -> multiple of the unloaded latency."""
        return {k: v.unloaded_x for k in SLO_KEYS if isinstance(v := getattr(self, k), Unloaded)}

    def absolute_only(self) -> SLOSpec:
        """This SLO without its relative thresholds."""
        return self.model_copy(update=dict.fromkeys(self.relative()))

    def resolved(self, unloaded_ms: dict[str, float]) -> SLOSpec:
        """Every relative threshold made absolute: its multiple of `unloaded_ms[key]`."""
        return self.model_copy(update={k: x * unloaded_ms[k] for k, x in self.relative().items()})

    @property
    def target(self) -> float:
        """The attainment the capacity search asks for, as a fraction."""
        return (self.percentile if self.percentile is not None else 90.0) / 100



class ResourcesSpec(Strict):
    """What one run needs of a node when `bench run --ray` places runs over a Ray cluster
    (bench.run.ray_suite): a Ray task with these resources. Ignored by a run on this machine."""
    cpus: float = Field(default=1.0, ge=0)
    gpus: float = Field(default=0.0, ge=0)
    memory_gb: float | None = Field(default=None, gt=0)
    # Custom node resources (a label such as {h100: 1} given to the nodes that have one).
    custom: dict[str, float] = Field(default_factory=dict)


class RunSpec(Strict):
    """One fully resolved run: what `runner.run` executes and `run.json` records
    (`model_dump(mode="json")`, the same shape the untyped dicts had)."""
    name: str = Field(default="run", min_length=1)
    label: str = ""
    model: str = Field(default="tiny", min_length=1)
    backend: BackendSpec = Field(default_factory=BackendSpec)
    workload: WorkloadSpec                 # the workload's own validated Params
    # The kind's own model (bench.load), dumped with all of its keys.
    load: SerializeAsAny[LoadKind]
    slo: SLOSpec = Field(default_factory=SLOSpec)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    # A server the harness starts for the run. Only the `openai` backend talks to a server, so
    # runs with another backend (e.g. in a matrix over backends) drop it at load time.
    server: ServerSpec | None = None
    # Set by bench.treatments for A/B experiments.
    treatment: TreatmentSpec | None = None
    # Which of the config's `repetitions` this run is (0-based); repeated runs are the unit of
    # comparison (bench compare / trend resample runs, then requests within them).
    repetition: int = Field(default=0, ge=0)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)

    @field_validator("load", mode="before")
    @classmethod
    def _load(cls, v):
        return loads.parse(v)      # a mapping (re-read from run.json) as its kind's model

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """`resources` only where given: run.json's config (and the series key made from it)
        stays as it was before the key existed."""
        out = handler(self)
        if isinstance(out, dict) and self.resources == ResourcesSpec():
            out.pop("resources", None)
        return out


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(str(path), "file not found") from None
    except OSError as exc:
        raise UserError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise UserError(str(path), f"{line}invalid YAML ({getattr(exc, 'problem', exc)})") from None


@functools.lru_cache(maxsize=64)
def _read_yaml_cached(path: str, mtime_ns: int) -> Any:
    return _read_yaml(Path(path))


def _read_workload_file(path: Path) -> Any:
    """A matrix names the same workload file once per run; parse it once (PyYAML is slow)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return _read_yaml(path)         # the one-line error for a missing or unreadable file
    return copy.deepcopy(_read_yaml_cached(str(path), mtime))


def resolve_workload(value: Any, where: str) -> Any:
    """A workload is a name/path of a YAML file, {file: ..., <overrides>}, or inline {kind: ...};
    the result is that workload's validated Params. Key paths in errors are the file's own keys
    when the bad value came from a workload file, `workload.<key>` when it came from the config."""
    if isinstance(value, str):
        value = {"file": value}
    if not isinstance(value, dict):
        raise UserError(where, "workload: expected a file name or a mapping")
    value = dict(value)
    overrides: set[str] = set(value)
    prefix, config_where = "workload.", where
    if "file" in value:
        name = value.pop("file")
        if not isinstance(name, str) or not name:
            raise UserError(where, f"workload.file: expected a workload name or path, got {name!r}")
        overrides = set(value)
        path = Path(name)
        if not path.suffix:
            path = WORKLOADS_DIR / f"{name}.yaml"
        if not path.exists():
            names = ", ".join(sorted(p.stem for p in WORKLOADS_DIR.glob("*.yaml")))
            raise UserError(where, f"workload.file: {path}: file not found (a path, or one of: {names})")
        base = _read_workload_file(path)
        if not isinstance(base, dict):
            raise UserError(str(path), "expected a mapping of workload settings")
        value = {**base, **value}
        where, prefix = str(path), ""
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in registry.WORKLOADS:
        at = (config_where, "workload.") if "kind" in overrides else (where, prefix)
        raise UserError(at[0], f"{at[1]}kind: {kind!r} is not a workload; allowed: "
                               f"{', '.join(sorted(registry.WORKLOADS))}")
    params_cls = registry.workload_class(kind).Params
    try:
        return params_cls.model_validate(value)
    except ValidationError as err:
        loc = err.errors()[0]["loc"]
        if loc and loc[0] in overrides:      # the bad value came from the config, not the file
            where, prefix = config_where, "workload."
        e = _fail(where, err, params_cls)
        # A whole-model check (loc empty) names its own keys, relative to the workload.
        raise UserError(e.where, (prefix if loc else "") + e.message) from None


def resolve_load(value: Any, where: str) -> LoadKind:
    """The `load:` section as its kind's validated model; errors name `load.<key>`."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise UserError(where, f"load: expected a mapping, got {value!r}")
    kind = loads.kind_of(value)
    if not isinstance(kind, str) or kind not in registry.LOADS:
        raise UserError(where, f"load.kind: {kind!r} is not a load kind; allowed: {', '.join(sorted(registry.LOADS))}")
    cls = registry.load_class(kind)
    try:
        return cls.model_validate(value)
    except ValidationError as err:
        e = _fail(where, err, cls)
        # a key's error names the key under load.; a whole-section check, the section
        raise UserError(where, f"load.{e.message}" if err.errors()[0]["loc"] else f"load: {e.message}") from None


def load_doc(doc: Any, where: str) -> list[RunSpec]:
    if doc is None:
        raise UserError(where, "the file is empty (expected a mapping of run settings)")
    if not isinstance(doc, dict):
        raise UserError(where, "expected a mapping at the top level")
    doc = dict(doc)
    doc.setdefault("name", Path(where).stem)
    specs = []
    # A matrix repeats one workload over its load points and arms: validate each distinct one once
    # (a recorded workload's empirical lists make a validation cost milliseconds).
    workloads: dict[str, Any] = {}
    for run in _expanded(doc, where):
        value = run.get("workload", "chat")
        key = json.dumps(value, default=str)        # the same expansion: the same key order
        if key not in workloads:
            workloads[key] = resolve_workload(value, where)
        run["workload"] = workloads[key]
        run["load"] = resolve_load(run.get("load"), where)
        backend = run.get("backend", {})
        if isinstance(backend, str):
            run["backend"] = backend = {"name": backend}
        name = backend.get("name", "hf") if isinstance(backend, dict) else None
        if name is not None and (not isinstance(name, str) or name not in registry.BACKENDS):
            raise UserError(where, f"backend.name: {name!r} is not a backend; allowed: "
                                   f"{', '.join(sorted(registry.BACKENDS))}")
        if name is None or not registry.backend_class(name).uses_server:
            run.pop("server", None)
        try:
            spec = RunSpec.model_validate(run)
        except ValidationError as err:
            raise _fail(where, err, RunSpec) from None
        try:
            spec.workload.check_seeded(spec.seed)
        except ValueError as exc:
            raise UserError(where, f"workload.{exc}") from None
        _check_capacity(spec, where)
        check_executor(spec, where)
        problem = model_problem(spec.model)
        if problem:
            raise UserError(where, f"model: {problem}")
        opts_cls = getattr(registry.backend_class(spec.backend.name), "Options", None)
        if opts_cls is not None:
            try:
                opts_cls.model_validate(spec.backend.options)
            except ValidationError as err:
                e = _fail(where, err, opts_cls)
                raise UserError(where, f"backend.options.{e.message}") from None
        if getattr(spec.workload, "thinking_tokens", None) is not None:
            problem = registry.backend_class(spec.backend.name).reasoning_problem(spec.backend.options)
            if problem:
                raise UserError(where, problem)
            from bench.workloads.thinking import markers_problem
            problem = markers_problem(spec.model)
            if problem:
                raise UserError(where, problem)
            srv = spec.server
            if srv is not None and srv.command is None and \
                    not any(a.split("=")[0] == "--reasoning-parser" for a in srv.args):
                raise UserError(where, "server.args: a reasoning workload (thinking_tokens) needs the managed vLLM "
                                       "server's --reasoning-parser (e.g. deepseek_r1 or qwen3)")
        specs.append(spec)
    return specs


def check_executor(spec: RunSpec, where: str) -> None:
    """`load.executor: ray` needs Ray installed (the `ray` extra) and a backend whose copies can
    run on other hosts: said here, before anything starts."""
    if spec.load.executor != "ray":
        return
    if not registry.backend_class(spec.backend.name).multiprocess_safe:
        raise UserError(where, f"load.executor: 'ray' needs a backend that is a client of a server "
                               f"(e.g. openai); backend {spec.backend.name!r} runs in this process")
    check_ray(where, "load.executor: 'ray'", "; allowed without it: local")


def check_ray(where: str, what: str, tail: str = "") -> None:
    """`what` (a key or a flag) needs Ray: a one-line error where it is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise UserError(where, f"{what} needs Ray, which is not installed (pip install 'bench[ray]'){tail}")


def _check_capacity(spec: RunSpec, where: str) -> None:
    """What a search needs of its SLO and workload (the search says; traits, never names)."""
    relative = spec.slo.relative()
    if not spec.load.searches:
        if relative:
            raise UserError(where, f"slo.{next(iter(relative))}: a threshold relative to the unloaded latency "
                                   "needs load.kind: capacity (its search measures it); give milliseconds")
        return
    cls = registry.workload_class(spec.workload.kind)
    problem = spec.load.problem(spec.slo.thresholds() | relative, cls.sessions_are_tasks, cls.trace_timed,
                                spec.workload.kind)
    if problem:
        raise UserError(where, problem)


def load(path: str | Path) -> list[RunSpec]:
    """Read a config file and return its runs, matrix expanded, every value validated."""
    path = Path(path)
    return load_doc(_read_yaml(path), str(path))
