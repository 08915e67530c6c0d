"""Reproduces the numbers of issue 16's "what it must show" on this machine (docs/statistics.md).

    python scripts/verdict_checks.py aa        [--trials 3] [--reps 5] [--requests 48]
    python scripts/verdict_checks.py slowdown  [--reps 5]
    python scripts/verdict_checks.py step      [--runs 12] [--k 6]
    python scripts/verdict_checks.py errors

Each writes its runs under --out (default /tmp/bench-verdicts/<check>/) and prints the
`bench compare` / `bench trend` output it judges, then one line PASS/FAIL per claim.

- aa: configs/hf-sweep.yaml (requests 24 instead of 48 and torch_threads 1, to fit a shared
  2-core machine) with `repetitions: 2 * reps` (A B A B ... interleaved, every load point
  in each round); even repetitions are side A, odd ones side B; per load point `bench compare`:
  PASS when no default metric gets a regression/improvement verdict. Repeated `--trials` times.
- slowdown: the default chat workload at concurrency 4 with hf torch_threads 1 (A) against 2 (B),
  a real settings change, `reps` runs per arm interleaved A B A B (one process per run: torch's
  thread count is per process): PASS when `bench compare` judges output_tok_s a regression.
- step: a series of `runs` runs of one config; after run k the hf backend's default
  torch_threads changes from 1 to torch's own (a thread per core), as a commit changing a default
  would (the config file is the same, so the runs stay one series). PASS when `bench trend` finds the change point at
  k +/- 1, and finds none in a second series of the same length without the change.
- errors: hand-built runs (not measured): a set of 5 runs without errors against 5 where every
  10th request failed, and a series of 9 + 3 such runs: PASS when compare and trend's gate flag it.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


# The code before a "commit": the hf backend's default torch_threads is 1. The commit drops that
# default (torch then uses a thread per core, which stalls on a shared CPU, FACTS.md). The config
# file does not set the option, so the runs before and after the commit stay one series.
PATCHED = ("import sys; from bench.backends import hf; "
           "hf.HFOptions.model_fields['torch_threads'].default = 1; hf.HFOptions.model_rebuild(force=True); "
           "from bench.cli import main; sys.exit(main(sys.argv[1:]))")


def bench(*args: str, patched: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [PY, "-c", PATCHED, *args] if patched else [PY, "-m", "bench", *args]
    out = subprocess.run(["nice", "-n", "5", *cmd], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check and out.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def write_config(doc: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def runs_of(results: Path, pattern: str) -> list[str]:
    return sorted(glob.glob(str(results / pattern)))


def aa(args) -> bool:
    ok_all = True
    base = yaml.safe_load((ROOT / "configs/hf-sweep.yaml").read_text())
    for trial in range(args.trials):
        doc = copy.deepcopy(base) | {"repetitions": 2 * args.reps}
        doc["load"]["requests"] = args.requests
        # one torch thread: on a CPU shared with other jobs, 2 threads ran 10x slower (FACTS.md)
        doc["backend"]["options"]["torch_threads"] = 1
        out = Path(args.out) / "aa" / f"trial{trial}"
        cfg = write_config(doc, out / "aa.yaml")
        if not runs_of(out / "results", "*"):
            bench("run", str(cfg), "--results-dir", str(out / "results"), "--no-progress")
        for c in doc["matrix"]["load.concurrency"]:
            side = {p: [d for d in runs_of(out / "results", f"*-concurrency={c}-rep=*")
                        if int(re.search(r"rep=(\d+)", d)[1]) % 2 == p] for p in (0, 1)}
            res = bench("compare", ",".join(side[0]), ",".join(side[1]))
            print(f"--- A/A trial {trial}, concurrency {c}\n{res.stdout}{res.stderr}")
            verdicts = re.findall(r"\b(regression|improvement)\b", res.stdout.split("Rule:")[0])
            ok = res.returncode == 0 and not verdicts
            ok_all &= ok
            print(f"{'PASS' if ok else 'FAIL'}: A/A trial {trial} concurrency {c}: "
                  f"{len(verdicts)} regression/improvement verdicts")
    return ok_all


def slowdown(args) -> bool:
    """torch_threads 1 (A) against 2 (B): a real setting; on a CPU other jobs share, 2 threads
    stall on OpenMP barriers (FACTS.md). Each arm runs in its own process (torch's thread count
    is per process), A B A B ..., each run marked with its repetition so compare pairs them."""
    base = yaml.safe_load((ROOT / "configs/hf-sweep.yaml").read_text())
    out = Path(args.out) / "slowdown"
    for rep in range(args.reps):
        for arm, threads in (("a", 1), ("b", 2)):
            doc = {k: v for k, v in base.items() if k != "matrix"} | {"name": f"slowdown-{arm}", "repetition": rep}
            doc["load"] |= {"concurrency": 4, "requests": args.requests}
            doc["backend"]["options"]["torch_threads"] = threads
            cfg = write_config(doc, out / f"{arm}{rep}.yaml")
            if len(runs_of(out / "results" / arm, "*")) <= rep:
                bench("run", str(cfg), "--results-dir", str(out / "results" / arm), "--no-progress")
    res = bench("compare", str(out / "results" / "a"), str(out / "results" / "b"))
    print(res.stdout + res.stderr)
    line = next((ln for ln in res.stdout.splitlines() if "output_tok_s" in ln), "")
    ok = "regression" in line
    print(f"{'PASS' if ok else 'FAIL'}: torch_threads 1 -> 2 at concurrency 4: {line.strip()}")
    return ok


def _series(out: Path, n: int, k: int | None, requests: int) -> Path:
    doc = {"name": "step", "model": "tiny", "backend": {"name": "hf", "options": {}},
           "workload": {"file": "chat", "scale": 0.25},
           "load": {"kind": "concurrency", "concurrency": 4, "requests": requests, "warmup": 2},
           "seed": 0}
    cfg = write_config(doc, out / "step.yaml")
    results = out / "results"
    have = len(runs_of(results, "*"))
    for i in range(have, n):
        # the "commit" after run k drops the torch_threads=1 default (config file unchanged)
        bench("run", str(cfg), "--results-dir", str(results), "--no-progress",
              patched=k is None or i < k)
    return results


def step(args) -> bool:
    ok = True
    for name, k in (("with-step", args.k), ("no-step", None)):
        results = _series(Path(args.out) / "step" / name, args.runs, k, args.step_requests)
        res = bench("trend", str(results), "--metric", "output_tok_s", "--metric", "e2e_ms_p50",
                    "--out", str(Path(args.out) / "step" / f"{name}.png"))
        print(f"--- series {name} (step after run {k})\n{res.stdout}{res.stderr}")
        found = [int(x) for x in re.findall(r"change point .*?after run (\d+)", res.stdout)]
        good = (any(abs(x - k) <= 1 for x in found) if k is not None else not found)
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}: series {name}: change points after runs {found}")
    return ok


def errors(args) -> bool:
    """Hand-built runs (tests/unit/test_runsets.py builds the same): 5 runs of 40 requests without
    errors, then 5 where every 10th request fails (HTTP 500 after 5 ms)."""
    sys.path.insert(0, str(ROOT))
    from tests.unit.test_runsets import DRIFT, write_set

    out = Path(args.out) / "errors"
    if not out.exists():
        write_set(out / "a", "a", DRIFT, t0=0)
        write_set(out / "b", "b", DRIFT, fail_every=10, t0=10)
        write_set(out / "series", "a", [1.0] * 9, t0=0)        # the newest 3 runs fail (the gate's)
        write_set(out / "series", "b", [1.0] * 3, fail_every=10, t0=10)
    res = bench("compare", str(out / "a"), str(out / "b"), "--metric", "error_rate", "--metric", "output_tok_s")
    tr = bench("trend", str(out / "series"), "--metric", "error_rate", "--fail-on-regression")
    print(res.stdout + tr.stdout)
    row = next((ln for ln in res.stdout.splitlines() if "error_rate" in ln), "")
    ok_c, ok_t = "regression" in row, tr.returncode == 1 and "GATE: REGRESSION" in tr.stdout
    print(f"{'PASS' if ok_c else 'FAIL'}: compare flags error_rate 0% -> 10%: {row.strip()}")
    print(f"{'PASS' if ok_t else 'FAIL'}: trend --fail-on-regression exits {tr.returncode} on the error step")
    return ok_c and ok_t


CHECKS = {"aa": aa, "slowdown": slowdown, "step": step, "errors": errors}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("check", choices=list(CHECKS))
    p.add_argument("--out", default="/tmp/bench-verdicts")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--requests", type=int, default=24)
    p.add_argument("--runs", type=int, default=12)
    p.add_argument("--step-requests", type=int, default=12)
    p.add_argument("--k", type=int, default=6)
    args = p.parse_args()
    return 0 if CHECKS[args.check](args) else 1


if __name__ == "__main__":
    sys.exit(main())
