"""Does a run through Ray load actors send what local workers send? One config, run twice against
one server (a matrix over load.executor: local, ray: one engine key, so one server for both), on
Ray's local two-node test cluster (or RAY_ADDRESS's cluster); then the two runs' requests, planned
offsets and send offsets compared request by request.

    python scripts/ray_same_schedule.py CONFIG [--results-dir DIR]

CONFIG: an `openai` backend run with `load.workers: 2` (a managed `server:` or a base_url), e.g.
a vLLM server on the tiny model (docs/ray.md, "What was run").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def _runs(results: Path) -> dict[str, tuple[dict, list[dict]]]:
    out = {}
    for p in results.glob("*/run.json"):
        meta = json.loads(p.read_text())
        samples = [json.loads(line) for line in open(p.parent / "samples.jsonl")]
        # a local run's config is dumped without `executor` (as before Ray: test_ray_config.py)
        out[meta["config"]["load"].get("executor", "local")] = (meta, [s for s in samples if not s["warmup"]])
    return out


def compare(local: list[dict], remote: list[dict]) -> dict[str, float]:
    """Same requests (ids, prompt and output lengths), planned offsets and send offsets (ms)."""
    a = {s["request_id"]: s for s in local}
    b = {s["request_id"]: s for s in remote}
    if len(a) != len(local) or len(b) != len(remote):
        raise SystemExit("a request id appears twice")
    if a.keys() != b.keys():
        raise SystemExit(f"different requests: {len(a.keys() - b.keys())} only local, "
                         f"{len(b.keys() - a.keys())} only ray")

    def offsets(runs, key):
        t0 = min(s["scheduled_ns"] for s in runs.values())
        return np.array([(runs[r][key] - t0) / 1e6 for r in sorted(runs)])

    planned = np.abs(offsets(a, "scheduled_ns") - offsets(b, "scheduled_ns"))
    sent = np.abs(offsets(a, "sent_ns") - offsets(b, "sent_ns"))
    same_lengths = all(a[r]["prompt_tokens"] == b[r]["prompt_tokens"] and a[r]["output_tokens"] == b[r]["output_tokens"]
                       for r in a)
    return {"requests": len(a), "same_prompt_and_output_lengths": same_lengths,
            "errors_local": sum(s["error"] is not None for s in local),
            "errors_ray": sum(s["error"] is not None for s in remote),
            "planned_offset_diff_ms_max": float(planned.max()),
            "send_offset_diff_ms_p50": float(np.percentile(sent, 50)),
            "send_offset_diff_ms_p99": float(np.percentile(sent, 99))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args()
    import ray
    cluster = None
    if not os.environ.get("RAY_ADDRESS"):
        from bench.run.ray_pool import local_cluster
        cluster = local_cluster(nodes=2, cpus=1)
    doc = yaml.safe_load(Path(args.config).read_text())
    doc.setdefault("matrix", {})["load.executor"] = ["local", "ray"]
    doc["load"] = doc.get("load", {}) | {"ray": {"strategy": "STRICT_SPREAD"}}
    results = Path(args.results_dir or tempfile.mkdtemp(prefix="ray-same-schedule-"))
    cfg = results / "config.yaml"
    results.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(doc))
    from bench import cli
    t = time.monotonic()
    try:
        rc = cli.main(["run", str(cfg), "--results-dir", str(results), "--no-progress"])
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    print(f"bench run: exit {rc} in {time.monotonic() - t:.0f} s; runs in {results}")
    runs = _runs(results)
    (lm, local), (rm, remote) = runs["local"], runs["ray"]
    out = compare(local, remote)
    out["send_lag_ms_p99_local"] = lm["summary"].get("send_lag_ms_p99")
    out["send_lag_ms_p99_ray"] = rm["summary"].get("send_lag_ms_p99")
    out["ray_nodes"] = len({s["meta"].get("node") for s in remote})
    out["status"] = f"{lm['status']} / {rm['status']}"
    for k, v in out.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    return 0 if rc == 0 and out["same_prompt_and_output_lengths"] else 1


if __name__ == "__main__":
    sys.exit(main())
