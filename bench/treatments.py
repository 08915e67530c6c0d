"""Named changes to a backend's settings, expanded into paired A/B runs.

A config (or one entry of its `runs:` list) may carry

    treatments:                      # each a name and backend options deep-merged over the baseline's
      - {name: kv-fp8, options: {kv_cache_dtype: fp8}}
      - kv-fp8                        # or a built-in name from BUILTIN (per backend)
      - {name: think-1k, workload: {thinking_tokens: {dist: fixed, value: 1024}}}
      - think-256                     # workload settings too (WORKLOAD_BUILTIN: any backend)
    repetitions: 2                   # runs per arm and load point (default 1)
    judge: [task_latency_ms_p50]     # summary keys judged beside the verdict family (TTFT, TPOT, ...)

A treatment's `workload` settings are deep-merged over the run's workload (a workload file's
name becomes `{file: name}` first): what the model is asked to do changes, e.g. how long it thinks
or what a conversation keeps of earlier thoughts, on the same seeded sessions otherwise.

Every load point of the matrix then runs the baseline (the options as written) and each treatment
on the identical seeded workload, repetitions interleaved A B C A B C ... so that machine drift
falls on every arm alike. Each run's spec carries `treatment: {name, options, experiment,
repetition}`; the baseline's name is "baseline". `bench.analysis.experiment` pairs the runs afterwards.
"""
from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from bench.errors import UserError

BASELINE = "baseline"
# Runs per arm and load point; the arms are expanded into specs up front, so a typo like 1e12
# would hang the config's load.
MAX_REPETITIONS = 1000

# Built-in treatments: name -> backend -> option overrides. Write `- kv-fp8` instead of the mapping.
BUILTIN: dict[str, dict[str, dict[str, Any]]] = {
    "kv-fp8": {"vllm": {"kv_cache_dtype": "fp8"}},
    "kv-fp8-e5m2": {"vllm": {"kv_cache_dtype": "fp8_e5m2"}},
    "kv-int8": {"vllm": {"kv_cache_dtype": "int8_per_token_head"}},
    "spec-ngram": {"vllm": {"speculative_config": {"method": "ngram", "num_speculative_tokens": 3,
                                                   "prompt_lookup_max": 4, "prompt_lookup_min": 2}},
                   "hf": {"generate_kwargs": {"prompt_lookup_num_tokens": 3}}},
    "prefix-cache-off": {"vllm": {"enable_prefix_caching": False}},
    "prefix-cache-on": {"vllm": {"enable_prefix_caching": True}},
    "kv-quanto4": {"hf": {"generate_kwargs": {"cache_implementation": "quantized",
                                              "cache_config": {"backend": "quanto", "nbits": 4}}}},
    "kv-quanto2": {"hf": {"generate_kwargs": {"cache_implementation": "quantized",
                                              "cache_config": {"backend": "quanto", "nbits": 2}}}},
    "static-cache": {"hf": {"generate_kwargs": {"cache_implementation": "static"}}},
}

# Built-in workload treatments: name -> workload settings (any backend that can run them).
# Thinking budgets per call, and the history policies of a reasoning workload (docs/reasoning.md).
WORKLOAD_BUILTIN: dict[str, dict[str, Any]] = {
    **{f"think-{n}": {"thinking_tokens": {"dist": "fixed", "value": n}} for n in (64, 256, 1024, 4096)},
    **{f"history-{p}": {"thinking_history": p} for p in ("keep", "drop", "last")},
}


class Treatment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)   # deep-merged over backend.options
    workload: dict[str, Any] = Field(default_factory=dict)  # deep-merged over the run's workload

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # run.json's treatment keeps its shape for backend-only treatments: `workload` (and the
        # experiment's `judge`) only when set
        out = handler(self)
        for key in ("workload", "judge"):
            if not out.get(key):
                out.pop(key, None)
        return out


class TreatmentSpec(Treatment):
    """What a run of an A/B experiment carries in RunSpec.treatment (and run.json's config)."""
    experiment: str = Field(min_length=1)    # runs of one experiment are paired afterwards
    repetition: int = Field(ge=0)
    # Summary keys the experiment judges together with the verdict family (the config's `judge`).
    judge: list[str] = Field(default_factory=list)


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def _parse(item: Any, backend: str, where: str, i: int) -> Treatment:
    if isinstance(item, str):
        if item in WORKLOAD_BUILTIN:
            return Treatment(name=item, workload=WORKLOAD_BUILTIN[item])
        table = BUILTIN.get(item)
        if table is None or backend not in table:
            known = sorted([n for n, t in BUILTIN.items() if backend in t] + list(WORKLOAD_BUILTIN))
            raise UserError(where, f"treatments[{i}]: {item!r} is not a built-in treatment for backend "
                                   f"{backend!r}; allowed: {', '.join(known)} (or a mapping {{name, options}})")
        return Treatment(name=item, options=table[backend])
    try:
        t = Treatment.model_validate(item)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        raise UserError(where, f"treatments[{i}]{'.' + key if key else ''}: {msg} "
                               "(expected {name: str, options: mapping, workload: mapping} "
                               "or a built-in name)") from None
    if t.name == BASELINE:
        raise UserError(where, f"treatments[{i}].name: {BASELINE!r} is reserved for the untreated runs")
    return t


def _judge(value: Any, where: str) -> list[str]:
    """The `judge` list's shape; which keys can be judged is the config's check (the metric table)."""
    if not isinstance(value, list) or not value or not all(isinstance(k, str) and k for k in value):
        raise UserError(where, f"judge: {value!r}: expected a non-empty list of summary keys "
                               "(e.g. [task_latency_ms_p50, reasoning_tokens_per_task_mean])")
    dup = next((k for k in value if value.count(k) > 1), None)
    if dup:
        raise UserError(where, f"judge: {dup!r} appears twice")
    return list(value)


def parse_treatments(doc: dict, where: str) -> tuple[list[Treatment], int, list[str]]:
    """Pop and validate `treatments`, `repetitions` and `judge` from one run document."""
    items = doc.pop("treatments", None)
    reps = doc.pop("repetitions", 1)
    judge = doc.pop("judge", None)
    if not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= MAX_REPETITIONS:
        raise UserError(where, f"repetitions: {reps!r}: expected an integer from 1 to {MAX_REPETITIONS}")
    judge = [] if judge is None else _judge(judge, where)
    if items is None:
        if judge:
            raise UserError(where, "judge: only an A/B experiment judges (it needs treatments)")
        return [], reps, []
    if not isinstance(items, list) or not items:
        raise UserError(where, "treatments: expected a non-empty list")
    backend = doc.get("backend", "hf")
    backend = backend if isinstance(backend, str) else (backend or {}).get("name", "hf")
    if not isinstance(backend, str):
        raise UserError(where, f"backend.name: expected a backend name, got {backend!r}")
    out = [_parse(item, backend, where, i) for i, item in enumerate(items)]
    names = [t.name for t in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UserError(where, f"treatments: name {dup!r} appears twice")
    return out, reps, judge


def _arm(run: dict, t: Treatment | None, experiment: str, rep: int, judge: list[str]) -> dict:
    arm = copy.deepcopy(run)
    backend = arm.get("backend", {})
    backend = {"name": backend} if isinstance(backend, str) else dict(backend)
    if t is not None:
        backend["options"] = deep_merge(backend.get("options", {}), t.options)
    if t is not None and t.workload:
        workload = arm.get("workload", "chat")
        workload = {"file": workload} if isinstance(workload, str) else workload
        arm["workload"] = deep_merge(workload if isinstance(workload, dict) else {}, t.workload)
    arm["backend"] = backend
    name = t.name if t else BASELINE
    arm["treatment"] = {"name": name, "options": t.options if t else {}, "experiment": experiment,
                        "repetition": rep, **({"workload": t.workload} if t and t.workload else {}),
                        **({"judge": judge} if judge else {})}
    label = arm.get("label", "")
    arm["label"] = ",".join(x for x in (label, f"treatment={name}", f"rep={rep}" if rep else "") if x)
    return arm


def expand(load_points: list[dict], treatments: list[Treatment], reps: int, experiment: str,
           judge: list[str] | None = None) -> list[dict]:
    """Per load point: repetition-major interleaving of baseline and each treatment. Without
    treatments, `repetitions: N` repeats the whole sweep N times (c1 c4 c16 c1 c4 c16 ...), so
    drift of the machine falls on every load point alike; each run carries its `repetition`."""
    if not treatments:
        if reps == 1:
            return load_points
        return [_repeat(run, rep) for rep in range(reps) for run in load_points]
    arms: list[Treatment | None] = [None, *treatments]
    return [{**_arm(run, t, experiment, rep, judge or []), "repetition": rep}
            for run in load_points for rep in range(reps) for t in arms]


def _repeat(run: dict, rep: int) -> dict:
    out = copy.deepcopy(run)
    out["repetition"] = rep
    out["label"] = ",".join(x for x in (out.get("label", ""), f"rep={rep}") if x)
    return out
