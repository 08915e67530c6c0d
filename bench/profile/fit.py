"""Distributions fitted to profiled values, and the workload file they make.

Family, per quantity (values x_1..x_n):
- all equal: `fixed`;
- all > 0: `lognormal` by maximum likelihood on log values (mu = mean of log x, sigma = their
  standard deviation with 1/n), written as median = e^mu and p90 = e^(mu + 1.2816 sigma), clipped
  to the observed [min, max]; its goodness of fit is the Kolmogorov-Smirnov statistic D of log x
  against Normal(mu, sigma) with its p-value (scipy.stats.kstest; the p-value is optimistic
  because mu and sigma come from the same data);
- otherwise (zeros present, few distinct integer values, or KS p < 0.01 with n >= 20):
  `empirical` over 20 quantiles of the values (the 2.5th, 7.5th, ... 97.5th percentiles), which
  the sampler resamples uniformly.
Every fitted key in the written YAML has a comment with n, the family, D and p, and the empirical
p10/p50/p90/p99, min, max and mean, so the fit can be checked against the data it came from.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bench.workloads.dists import Z90
from bench.profile.profile import Profile, quantiles

KS_P_MIN = 0.01
FEW_DISTINCT = 8


@dataclass(frozen=True)
class Fit:
    dist: dict
    family: str
    n: int
    ks_d: float | None = None
    ks_p: float | None = None
    empirical: dict | None = None

    def comment(self, what: str) -> str:
        q = self.empirical or {}
        ks = f", KS D={self.ks_d:.3f} p={self.ks_p:.3g}" if self.ks_d is not None else ""
        emp = " ".join(f"{k}={q[k]:.4g}" for k in ("p10", "p50", "p90", "p99", "min", "max", "mean") if k in q)
        return f"# {what}: {self.family} (n={self.n}{ks}); empirical {emp}"


def _r(x: float) -> float:
    return float(f"{x:.4g}")


def _empirical(x: np.ndarray, integer: bool) -> list[float]:
    probs = (np.arange(20) + 0.5) / 20
    qs = np.quantile(x, probs, method="inverted_cdf" if integer else "linear")
    return [_r(v) for v in qs]


def fit(values, integer: bool = True) -> Fit | None:
    """A distribution for `values` (see the module doc for the family rules); None when empty."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if not len(x):
        return None
    q = quantiles(x)
    if np.all(x == x[0]):
        return Fit({"dist": "fixed", "value": _r(x[0])}, "fixed", len(x), empirical=q)
    distinct = len(np.unique(x))
    few = integer and distinct <= FEW_DISTINCT and distinct < len(x) / 2   # counts that repeat: keep as is
    if np.all(x > 0) and not few:
        logs = np.log(x)
        mu, sigma = float(logs.mean()), float(logs.std())
        d, p = stats.kstest(logs, "norm", args=(mu, sigma)) if sigma > 0 else (0.0, 1.0)
        if len(x) < 20 or p >= KS_P_MIN:
            dist = {"dist": "lognormal", "median": _r(math.exp(mu)), "p90": _r(math.exp(mu + Z90 * sigma)),
                    "min": _r(x.min()), "max": _r(x.max())}
            return Fit(dist, "lognormal by MLE on log values", len(x), float(d), float(p), q)
    why = "zeros present" if np.any(x <= 0) else "few distinct values" if few else "lognormal rejected by KS"
    return Fit({"dist": "empirical", "values": _empirical(x, integer)}, f"empirical 20 quantiles ({why})",
               len(x), empirical=q)


def _fixed0() -> Fit:
    return Fit({"dist": "fixed", "value": 0.0}, "none in the log", 0)


def agentic(p: Profile) -> tuple[dict, dict[str, Fit]]:
    """The agentic workload's parameters fitted to a profile, and the fits behind them."""
    v = p.values
    fits = {k: fit(v[src], integer=k != "tool_latency") for k, src in (
        ("task_tokens", "task_tokens"), ("steps", "steps_per_task"), ("output_tokens", "step_output_tokens"),
        ("observation_tokens", "observation_tokens"), ("tool_latency", "tool_s"))}
    fits = {k: f or (_fixed0() if k == "tool_latency" else Fit({"dist": "fixed", "value": 1.0}, "none in the log", 0))
            for k, f in fits.items()}
    fan = {k: n for k, n in p.fan_out.items() if k >= 1}
    total = sum(fan.values())
    params = {"kind": "agentic", "scale": 1.0, "prefix_tokens": int(round(p.prefix_tokens)),
              **{k: f.dist for k, f in fits.items() if k != "tool_latency"},
              "tool_latency": [{"weight": 1.0, "latency_s": fits["tool_latency"].dist}],
              "tool_latency_factor": 1.0,
              "tool_calls_per_step": {k: _r(n / total) for k, n in sorted(fan.items())} if total else {1: 1.0}}
    if len(v["step_reasoning_tokens"]):      # a reasoning model: each step thinks, then answers
        fits |= {"output_tokens": fit(v["step_answer_tokens"]), "thinking_tokens": fit(v["step_reasoning_tokens"])}
        params |= {"output_tokens": fits["output_tokens"].dist, "thinking_tokens": fits["thinking_tokens"].dist}
    if p.spawn_probability > 0 and len(v["subagent_steps"]):
        sub = {k: fit(v[src]) for k, src in (("count", "subagents_per_spawn"), ("steps", "subagent_steps"),
                                             ("summary_tokens", "subagent_summary_tokens"))}
        fits |= {f"subagents.{k}": f for k, f in sub.items()}
        params["subagents"] = {"probability": _r(p.spawn_probability), **{k: f.dist for k, f in sub.items()}}
    return params, fits


def chat(p: Profile) -> tuple[dict, dict[str, Fit]]:
    fits = {"input_tokens": fit(p.values["prompt_tokens"]), "output_tokens": fit(p.values["output_tokens"])}
    if len(p.values["step_reasoning_tokens"]):   # a reasoning model: the answer after its thoughts
        fits |= {"output_tokens": fit(p.values["step_answer_tokens"]),
                 "thinking_tokens": fit(p.values["step_reasoning_tokens"])}
    return {"kind": "chat", "scale": 1.0, **{k: f.dist for k, f in fits.items()}}, fits


def workload(p: Profile) -> tuple[dict, dict[str, Fit]]:
    """Agentic when tasks make more than one LLM call on average or call tools, else chat."""
    multi = len(p.values["calls_per_task"]) and p.values["calls_per_task"].mean() > 1
    return agentic(p) if multi or p.tool_calls else chat(p)


WHAT = {"task_tokens": "task statement tokens", "steps": "steps per task", "output_tokens": "output tokens per step",
        "observation_tokens": "observation tokens per tool call", "tool_latency": "tool latency (s)",
        "input_tokens": "prompt tokens per request", "subagents.count": "sub-agents per spawn",
        "subagents.steps": "steps per sub-agent", "subagents.summary_tokens": "sub-agent summary tokens",
        "thinking_tokens": "thought tokens per call (usage's reasoning tokens)"}


def _flow(value) -> str:
    if not isinstance(value, (dict, list)):
        return str(value)   # kind, scale, prefix_tokens: plain scalars (safe_dump would add "...")
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def to_yaml(params: dict, fits: dict[str, Fit], p: Profile, sources: list[str]) -> str:
    """The workload file: every key on its line, each fitted one under its fit's comment."""
    lines = [f"# Fitted by `bench profile` on {dt.date.today().isoformat()} from {', '.join(sources)}",
             f"# ({p.tasks} tasks, {p.llm_calls} LLM calls, {p.tool_calls} tool calls). Families and method:",
             "# bench/profile/fit.py (lognormal by MLE on log values, KS D/p; else empirical quantiles).",
             f"# prefix_tokens from {p.prefix_source}.",
             "# context_limit_tokens is the target model's (not in the log): set it for your model."]
    for key, value in params.items():
        if key == "tool_latency":
            lines.append(fits["tool_latency"].comment(WHAT["tool_latency"]))
        elif key == "subagents":
            lines += [fits[f"subagents.{k}"].comment(WHAT[f"subagents.{k}"])
                      for k in ("count", "steps", "summary_tokens")]
        elif key == "tool_calls_per_step":
            fan_out = dict(sorted(p.fan_out.items()))
            lines.append(f"# parallel tool calls per step (steps with >= 1 tool): {fan_out} steps")
        elif key in fits:
            lines.append(fits[key].comment(WHAT.get(key, key)))
        lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def write(path: str, params: dict, fits: dict[str, Fit], p: Profile, sources: list[str]) -> Path:
    """Write the file and check it loads as a workload (a bad fit fails here, not at run time)."""
    from bench import config

    config.resolve_workload(params, path)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_yaml(params, fits, p, sources))
    config.resolve_workload({"file": str(out)}, path)
    return out
