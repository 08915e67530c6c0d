"""YAML -> validated run specs. Unknown keys and bad values are one-line errors with the key path."""
from __future__ import annotations

import copy
import functools
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench import registry
from bench.errors import UserError
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
    return Annotated[Union[tuple(members)], Field(discriminator="kind")]


WorkloadSpec = _workload_union()


class BackendSpec(Strict):
    name: str = "hf"
    # Passed through to the library with its own argument names; validated by the backend.
    options: dict[str, Any] = Field(default_factory=dict)


class SearchSpec(Strict):
    """A capacity search (load.kind: capacity): the highest load meeting the SLOs, found by
    raising load geometrically from `low` to saturation, then bisecting. See docs/capacity.md."""
    over: Literal["rate", "concurrency"] = "rate"
    low: float = Field(gt=0, description="first load probed (sessions/s or sessions in flight)")
    high: float = Field(gt=0, description="the search never probes above this")
    growth: float = Field(default=2.0, gt=1, description="load multiplier while looking for saturation")
    precision_pct: float = Field(default=10.0, gt=0, description="bisect until first bad / last good - 1 <= this")
    time_cap_s: float = Field(default=180.0, gt=0, description="the whole search, warm-up included")
    min_duration_s: float = Field(default=5.0, gt=0, description="each point runs at least this long")
    max_duration_s: float = Field(default=30.0, gt=0, description="each point runs at most this long")
    min_units: int = Field(default=10, ge=1, description="each point judges at least this many units")
    rel_precision: float = Field(default=0.1, gt=0, lt=1, description=(
        "a point also stops once its SLO statistic at the percentile is known within +/- this share"))
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="of the Wilson bound on attainment")

    @model_validator(mode="after")
    def _check(self) -> "SearchSpec":
        if self.low >= self.high:
            raise ValueError(f"load.search: low ({self.low:g}) must be below high ({self.high:g})")
        if self.min_duration_s > self.max_duration_s:
            raise ValueError("load.search: min_duration_s must be <= max_duration_s")
        if self.over == "concurrency" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("load.search: over 'concurrency' needs whole numbers for low and high")
        return self


class LoadSpec(Strict):
    kind: Literal["offline", "concurrency", "rate", "capacity"] = "concurrency"
    concurrency: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, description="sessions per second")
    burstiness: float = Field(default=1.0, gt=0, description="gamma shape; 1 = Poisson")
    requests: int | None = Field(default=None, ge=1, description="sessions to run")
    duration_s: float | None = Field(default=None, gt=0)
    warmup: int = Field(default=0, ge=0)
    # Client processes (bench.run.workers): an integer >= 1 or "auto" (from cores and load).
    workers: int | Literal["auto"] = 1

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v):
        if v != "auto" and (type(v) is not int or v < 1):
            raise ValueError("load.workers must be an integer >= 1 or \"auto\"")
        return v
    search: SearchSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> "LoadSpec":
        if self.kind == "capacity":
            if self.search is None:
                raise ValueError("load.kind 'capacity' needs load.search: {over: rate|concurrency, low, high}")
            return self      # each probe's duration comes from the search
        if self.search is not None:
            raise ValueError(f"load.search: only for load.kind 'capacity' (this load is {self.kind!r})")
        if self.kind == "concurrency" and self.concurrency is None:
            raise ValueError("load.kind 'concurrency' needs load.concurrency (an integer >= 1)")
        if self.kind == "rate" and self.rate is None:
            raise ValueError("load.kind 'rate' needs load.rate (sessions per second > 0)")
        if self.requests is None and self.duration_s is None:
            raise ValueError("load needs 'requests' or 'duration_s' (or both) to know when to stop")
        return self


class SLOSpec(Strict):
    """Per-request thresholds; a request meets the SLO when every given one holds."""
    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    itl_ms: float | None = Field(default=None, gt=0)
    e2e_ms: float | None = Field(default=None, gt=0)
    task_latency_ms: float | None = Field(default=None, gt=0)
    # The share of units (requests, or tasks for task workloads) that must meet every threshold;
    # used by the capacity search (slo_met = attainment >= percentile / 100). Unset means 90; it
    # stays None in run.json then, so a config without thresholds still reads as "no SLO".
    percentile: float | None = Field(default=None, gt=0, lt=100)

    def thresholds(self) -> dict[str, float]:
        """The thresholds given (percentile excluded)."""
        return {k: v for k, v in self.model_dump().items() if k != "percentile" and v is not None}

    @property
    def target(self) -> float:
        """The attainment the capacity search asks for, as a fraction."""
        return (self.percentile if self.percentile is not None else 90.0) / 100


class RunSpec(Strict):
    """One fully resolved run: what `runner.run` executes and `run.json` records
    (`model_dump(mode="json")`, the same shape the untyped dicts had)."""
    name: str = Field(default="run", min_length=1)
    label: str = ""
    model: str = Field(default="tiny", min_length=1)
    backend: BackendSpec = Field(default_factory=BackendSpec)
    workload: WorkloadSpec                 # the workload's own validated Params
    load: LoadSpec
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


def load_doc(doc: Any, where: str) -> list[RunSpec]:
    if doc is None:
        raise UserError(where, "the file is empty (expected a mapping of run settings)")
    if not isinstance(doc, dict):
        raise UserError(where, "expected a mapping at the top level")
    doc = dict(doc)
    doc.setdefault("name", Path(where).stem)
    specs = []
    for run in _expanded(doc, where):
        run["workload"] = resolve_workload(run.get("workload", "chat"), where)
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
        specs.append(spec)
    return specs


def _check_capacity(spec: RunSpec, where: str) -> None:
    """What a capacity search needs of its SLO and workload (traits, never workload names)."""
    if spec.load.kind != "capacity":
        return
    cls = registry.workload_class(spec.workload.kind)
    thresholds = spec.slo.thresholds()
    if not thresholds:
        raise UserError(where, "slo: a capacity search (load.kind: capacity) needs at least one threshold; "
                               "allowed: e2e_ms, itl_ms, task_latency_ms, tpot_ms, ttft_ms")
    if "task_latency_ms" in thresholds and not cls.sessions_are_tasks:
        raise UserError(where, f"slo.task_latency_ms: workload {spec.workload.kind!r} has no tasks (one "
                               "request per session); use ttft_ms, tpot_ms, itl_ms or e2e_ms")
    if spec.load.search.over == "concurrency" and cls.trace_timed:
        raise UserError(where, f"load.search.over: 'concurrency' cannot drive workload {spec.workload.kind!r} "
                               "(its arrivals come from the trace); allowed: rate")
    if spec.load.search.over == "rate" and cls.trace_timed:
        raise UserError(where, f"load.kind: capacity cannot drive workload {spec.workload.kind!r}: its "
                               "arrival times come from the trace (scale them with time_scale instead)")


def load(path: str | Path) -> list[RunSpec]:
    """Read a config file and return its runs, matrix expanded, every value validated."""
    path = Path(path)
    return load_doc(_read_yaml(path), str(path))
