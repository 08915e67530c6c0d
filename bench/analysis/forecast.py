"""`bench forecast`: from a load sweep, the largest load per replica meeting the SLOs, the replicas
for a target rate and the cost per request (or task) and per million tokens, with a band.

Model: piecewise-linear interpolation of throughput and of each SLO statistic against the offered
load (concurrency, or rate for open-loop runs) between measured points; no extrapolation.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.analysis import stats
from bench.results import capacity_file, store
from bench import registry
from bench.errors import UserError

N_BOOT = 300
BAND = (5.0, 95.0)          # a 90% band
ASSUMPTIONS = (
    "replicas are identical to the measured one and load is split evenly between them",
    "between measured load points, throughput and each SLO statistic are linear in the offered load; "
    "no extrapolation: if every point meets the SLOs, capacity is the highest measured point (a lower bound)",
    "the traffic mix at the target rate is the measured one (tokens per {unit} as measured)",
    "cost = replicas x GPUs per replica x price per GPU-hour, all replicas billed all hour; cost per "
    "{unit} and per million tokens are at the target rate (idle headroom included)",
    "band: {lo:g}-{hi:g} percentiles over {n} bootstrap resamples of requests (tasks) within each run; "
    "run-to-run drift of the machine is not in it",
)


@dataclass(frozen=True)
class Point:
    load: float
    rate: float                         # units (requests or tasks) per second
    slo_values: dict[str, float]        # SLO statistic -> value
    tokens_per_unit: float              # prompt + output
    output_tokens_per_unit: float


@dataclass(frozen=True)
class Forecast:
    unit: str
    slos: dict[str, float]
    points: list[Point]
    max_load: float | None              # largest offered load per replica meeting every SLO
    capacity: float | None              # units/s per replica at that load
    replicas: int | None
    cost_per_hour: float | None
    cost_per_unit: float | None
    cost_per_mtok: float | None
    cost_per_output_mtok: float | None
    band: dict[str, tuple[float, float]] = field(default_factory=dict)
    infeasible_share: float = 0.0       # share of resamples where no load met the SLOs


def _interp(x0: float, x1: float, t: float) -> float:
    return x0 + t * (x1 - x0)


def max_load(points: list[Point], slos: dict[str, float]) -> tuple[float, float, int, float] | None:
    """(load, rate, segment index, t) of the largest load such that every SLO holds from the lowest
    load up to it; None when the lowest load already misses one."""
    pts = sorted(points, key=lambda p: p.load)
    ok = lambda p: all(p.slo_values[k] <= v for k, v in slos.items())  # noqa: E731
    if not ok(pts[0]):
        return None
    for i in range(len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        if ok(b):
            continue
        t = min((v - a.slo_values[k]) / (b.slo_values[k] - a.slo_values[k])
                for k, v in slos.items() if b.slo_values[k] > v)
        return _interp(a.load, b.load, t), _interp(a.rate, b.rate, t), i, t
    return pts[-1].load, pts[-1].rate, len(pts) - 1, 0.0


def plan(points: list[Point], slos: dict[str, float], target_rate: float, price_per_gpu_hour: float,
         gpus_per_replica: int = 1, unit: str = "request") -> Forecast:
    """The point forecast (no band) from measured or resampled points."""
    found = max_load(points, slos)
    if found is None or found[1] <= 0:
        return Forecast(unit, slos, points, None, None, None, None, None, None, None)
    load, rate, i, t = found
    pts = sorted(points, key=lambda p: p.load)
    b = pts[min(i + 1, len(pts) - 1)]
    tok = _interp(pts[i].tokens_per_unit, b.tokens_per_unit, t)
    out_tok = _interp(pts[i].output_tokens_per_unit, b.output_tokens_per_unit, t)
    replicas = math.ceil(target_rate / rate - 1e-9)
    per_hour = replicas * gpus_per_replica * price_per_gpu_hour
    units_per_hour = target_rate * 3600
    return Forecast(unit, slos, points, load, rate, replicas, per_hour, per_hour / units_per_hour,
                    per_hour / (units_per_hour * tok) * 1e6 if tok else None,
                    per_hour / (units_per_hour * out_tok) * 1e6 if out_tok else None)


def _rate_key(unit: str) -> str:
    return "tasks_s" if unit == "task" else "request_s"


def _tokens(samples, unit: str) -> tuple[float, float]:
    ok = [s for s in samples if s.ok and s.token_ns]
    n = len({s.task_id for s in ok if s.task_id is not None}) if unit == "task" else len(ok)
    if not n:
        return 0.0, 0.0
    return sum(s.prompt_tokens + s.output_tokens for s in ok) / n, sum(s.output_tokens for s in ok) / n


def sweep(runs: list[store.Run], slos: dict[str, float], unit: str = "request",
          n_boot: int = N_BOOT, seed: int = 0) -> tuple[list[Point], list[list[Point]]]:
    """Measured points, and n_boot resampled sweeps (each run's samples resampled independently)."""
    by_load: dict[float, list[store.Run]] = {}
    for run in runs:      # repeated runs at one load point are pooled
        load = store.load_point(run.meta)
        if load is None:
            raise UserError(str(run.dir), "cannot forecast from this run: no load.concurrency or load.rate")
        by_load.setdefault(float(load), []).append(run)
    points, boots = [], [[] for _ in range(n_boot)]
    keys = [_rate_key(unit), *slos]
    for j, (load, group) in enumerate(sorted(by_load.items())):
        samples = [r.samples() for r in group]
        slo = group[0].meta["config"].get("slo")
        rs = {k: stats.resampler(k, samples, slo) for k in keys}
        missing = [k for k, r in rs.items() if r is None]
        if missing:
            raise UserError(str(group[0].dir), f"cannot forecast from this run: no samples for {', '.join(missing)}")
        tok, out_tok = _tokens([s for ss in samples for s in ss], unit)
        points.append(Point(load, rs[keys[0]].point, {k: rs[k].point for k in slos}, tok, out_tok))
        draws = {k: stats.bootstrap(r, n_boot, seed + 1000 * j + i) for i, (k, r) in enumerate(rs.items())}
        for b in range(n_boot):
            boots[b].append(Point(load, float(draws[keys[0]][b]), {k: float(draws[k][b]) for k in slos},
                                  tok, out_tok))
    return points, boots


def forecast(runs: list[store.Run], slos: dict[str, float], target_rate: float, price_per_gpu_hour: float,
             gpus_per_replica: int = 1, unit: str = "request", n_boot: int = N_BOOT) -> Forecast:
    groups = {store.keys(r.meta)["group"] for r in runs}
    if len(groups) > 1:
        raise UserError("forecast", f"the runs belong to {len(groups)} groups (model, backend, hardware, "
                                    "workload, seed differ); give one load sweep")
    if len({store.load_point(r.meta) for r in runs}) < 2:
        raise UserError("forecast", "need runs at 2 or more load points (a load sweep)")
    points, boots = sweep(runs, slos, unit, n_boot)
    best = plan(points, slos, target_rate, price_per_gpu_hour, gpus_per_replica, unit)
    plans = [plan(p, slos, target_rate, price_per_gpu_hour, gpus_per_replica, unit) for p in boots]
    feasible = [p for p in plans if p.capacity is not None]
    band = {}
    for name in ("max_load", "capacity", "replicas", "cost_per_unit", "cost_per_mtok", "cost_per_output_mtok"):
        vals = [getattr(p, name) for p in feasible if getattr(p, name) is not None]
        if vals:
            lo, hi = np.percentile(vals, BAND)
            band[name] = (float(lo), float(hi))
    return Forecast(**{**best.__dict__, "band": band,
                       "infeasible_share": 1 - len(feasible) / len(plans) if plans else 0.0})


def render(f: Forecast, target_rate: float, price: float, gpus: int) -> str:
    u = f.unit
    lines = [f"load sweep ({len(f.points)} points; load = concurrency or rate):",
             f"  {'load':>8} {u + 's/s':>11} " + " ".join(f"{k:>14}" for k in f.slos) + f" {'tok/' + u:>10}"]
    for p in sorted(f.points, key=lambda p: p.load):
        lines.append(f"  {p.load:>8g} {p.rate:>11.4g} " + " ".join(f"{p.slo_values[k]:>14.4g}" for k in f.slos)
                     + f" {p.tokens_per_unit:>10.4g}")
    lines.append("SLOs: " + ", ".join(f"{k} <= {v:g}" for k, v in f.slos.items()))

    def with_band(name: str, value: float | None, fmt: str) -> str:
        if value is None:
            return "-"
        lo_hi = f.band.get(name)
        return fmt.format(value) + (f"  (90% band {fmt.format(lo_hi[0])} .. {fmt.format(lo_hi[1])})" if lo_hi else "")

    if f.capacity is None:
        lines.append("no measured load meets the SLOs: even the lowest load misses them; no forecast")
    else:
        lines += [
            f"max load per replica meeting the SLOs: {with_band('max_load', f.max_load, '{:.3g}')}",
            f"capacity per replica: {with_band('capacity', f.capacity, '{:.4g}')} {u}s/s",
            f"target: {target_rate:g} {u}s/s -> replicas ({gpus} GPU each): "
            f"{with_band('replicas', f.replicas, '{:.0f}')}",
            f"cost: ${f.cost_per_hour:.4g}/hour at ${price:g}/GPU-hour",
            f"cost per {u}: {with_band('cost_per_unit', f.cost_per_unit, '${:.4g}')}",
            f"cost per million tokens (prompt + output): {with_band('cost_per_mtok', f.cost_per_mtok, '${:.4g}')}",
            f"cost per million output tokens: {with_band('cost_per_output_mtok', f.cost_per_output_mtok, '${:.4g}')}",
        ]
    if f.infeasible_share:
        lines.append(f"in {f.infeasible_share:.0%} of resamples no load met the SLOs")
    lines.append("assumptions:")
    lines += [f"  - {a.format(unit=u, lo=BAND[0], hi=BAND[1], n=N_BOOT)}" for a in ASSUMPTIONS]
    return "\n".join(lines)


def parse_slos(items: list[str] | None, runs: list[store.Run]) -> dict[str, float]:
    """`KEY=VALUE` (e.g. ttft_ms_p99=500); default: each config SLO `x: v` as `x_p99 <= v`."""
    if not items:
        slo = runs[0].meta["config"].get("slo") or {}
        out = {f"{k}_p99": float(v) for k, v in slo.items() if v is not None and k != "percentile"}
        if not out:
            raise UserError("--slo", "no SLO given and the runs' config has none; pass e.g. --slo ttft_ms_p99=500")
        return out
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UserError("--slo", f"{item!r}: expected KEY=NUMBER, e.g. ttft_ms_p99=500") from None
        if stats.higher_is_better(key.strip()) is not False:
            raise UserError("--slo", f"{key!r}: expected a latency statistic such as ttft_ms_p99, tpot_ms_p50")
    return out


CAPACITY_ASSUMPTIONS = (
    "replicas are identical to the measured one and load is split evenly between them",
    "capacity per replica is the searched load meeting the SLO at its percentile (bench run with "
    "load.kind: capacity); its band is the search's interval [last load meeting, first missing]",
    "the traffic mix at the target rate is the measured one (tokens per {unit} as measured)",
    "cost = replicas x GPUs per replica x price per GPU-hour, all replicas billed all hour",
)


def capacity_path(paths: list[str]) -> Path | None:
    """The capacity search file given instead of a sweep's runs (one *.capacity.json)."""
    found = [Path(p) for p in paths if str(p).endswith(".capacity.json")]
    if found and len(paths) > 1:
        raise UserError(", ".join(paths), "give one .capacity.json file, or a sweep's runs, not both")
    if found and not found[0].exists():
        raise UserError(str(found[0]), "file not found")
    return found[0] if found else None


def from_capacity(doc: dict, target_rate: float, price_per_gpu_hour: float, gpus_per_replica: int = 1) -> Forecast:
    """Replicas and cost from a capacity search: units/s per replica at the found capacity (for a
    search over concurrency, what the system served there), banded by the search's bracket."""
    doc = capacity_file.upgrade(doc)
    unit = "task" if doc["units_s_unit"] == "tasks/s" else "request"
    pct = doc["slo"]["percentile"]
    slos = {f"{k}_p{pct:g}": v for k, v in doc["slo"].items() if v is not None and k != "percentile"}
    points = [Point(p["load"], p["units_s"], {k: p[k] for k in slos if k in p},
                    p.get("total_tok_s", 0.0) / p["units_s"] if p["units_s"] else 0.0,
                    p["output_tok_s"] / p["units_s"] if p["units_s"] else 0.0)
              for p in doc["probes"] if p.get("units_s") is not None and p.get("slo_met") is not None]
    per_second = registry.load_class(doc["over"]).per_second    # the load is itself units/s
    rate = doc["capacity"] if per_second else doc.get("units_s_at_capacity")
    if doc["capacity"] is None or not rate:
        return Forecast(unit, slos, points, None, None, None, None, None, None, None)
    near = min(points, key=lambda p: abs(p.load - doc["capacity"])) if points else None
    best = plan([Point(doc["capacity"], rate, {}, near.tokens_per_unit if near else 0.0,
                       near.output_tokens_per_unit if near else 0.0)], {}, target_rate, price_per_gpu_hour,
                gpus_per_replica, unit)
    band = {"max_load": (doc["bracket_low"] or doc["capacity"],
                         doc["bracket_high"] if doc["bracket_high"] is not None else doc["capacity"])}
    if per_second:
        lo, hi = band["max_load"]
        band["capacity"] = (lo, hi)
        band["replicas"] = (math.ceil(target_rate / hi - 1e-9), math.ceil(target_rate / lo - 1e-9)) if lo else None
        if band["replicas"] is None:
            del band["replicas"]
    return Forecast(**{**best.__dict__, "slos": slos, "points": points, "band": band})


def render_capacity(f: Forecast, doc: dict, target_rate: float, price: float, gpus: int) -> str:
    u = f.unit
    head = [f"capacity search {doc['search']} ({doc['workload']} on {doc['backend']}, {doc['model']}): "
            f"{len(doc['probes'])} probes over {doc['over']}, stopped: {doc['stopped']}"]
    if f.capacity is None:
        return "\n".join(head + ["no load probed met the SLOs: no forecast"])
    per_hour = target_rate * 3600
    rep_band = f.band.get("replicas")
    rep = f"{f.replicas}" + (f" (interval {rep_band[0]} .. {rep_band[1]})" if rep_band else "")
    lines = head + [
        f"capacity per replica at SLO: {doc['capacity']:.4g} {doc['unit']} (bracket [{doc['bracket_low']:.4g}, "
        f"{doc['bracket_high'] if doc['bracket_high'] is not None else '-'}]) = {f.capacity:.4g} {u}s/s",
        f"answer: {per_hour:,.0f} {u}s/hour of this traffic need {rep} replica(s) ({gpus} GPU each), "
        f"${f.cost_per_unit:.4g} per {u} (${f.cost_per_hour:.4g}/hour at ${price:g}/GPU-hour)",
    ]
    if f.cost_per_mtok is not None:
        lines.append(f"cost per million tokens (prompt + output): ${f.cost_per_mtok:.4g}")
    lines.append("assumptions:")
    lines += [f"  - {a.format(unit=u)}" for a in CAPACITY_ASSUMPTIONS]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="the sweep's run folders or a folder of them, or a .capacity.json")
    p.add_argument("--target-rate", type=float, required=True, help="requests (or tasks) per second")
    p.add_argument("--price-per-gpu-hour", type=float, required=True)
    p.add_argument("--gpus-per-replica", type=int, default=1)
    p.add_argument("--slo", action="append", metavar="KEY=VALUE", help="e.g. ttft_ms_p99=500 (repeatable)")
    p.add_argument("--per", default="request", choices=["request", "task"], help="unit of the target rate")


def main(args: argparse.Namespace) -> int:
    return forecast_paths(args.runs, args.target_rate, args.price_per_gpu_hour, args.slo, args.gpus_per_replica,
                          args.per)


def forecast_paths(paths: list[str], target_rate: float, price_per_gpu_hour: float, slo: list[str] | None = None,
                   gpus_per_replica: int = 1, unit: str = "request") -> int:
    if target_rate <= 0 or price_per_gpu_hour < 0 or gpus_per_replica < 1:
        raise UserError("forecast", "--target-rate must be > 0, --price-per-gpu-hour >= 0, --gpus-per-replica >= 1")
    cap = capacity_path(paths)
    if cap is not None:
        doc = capacity_file.read(cap)
        f = from_capacity(doc, target_rate, price_per_gpu_hour, gpus_per_replica)
        print(render_capacity(f, doc, target_rate, price_per_gpu_hour, gpus_per_replica))
        return 0 if f.capacity is not None else 1
    runs = [r for r in store.find_runs(paths) if r.meta.get("status") == "complete"]
    if not runs:
        raise UserError(", ".join(paths), "no complete runs")
    f = forecast(runs, parse_slos(slo, runs), target_rate, price_per_gpu_hour, gpus_per_replica, unit)
    print(render(f, target_rate, price_per_gpu_hour, gpus_per_replica))
    return 0 if f.capacity is not None else 1
