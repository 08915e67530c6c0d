"""An agent application's OTel export with known distributions, and the quantities of a fitted
distribution the profile tests compare against."""
import json
import math

import numpy as np

from bench.workloads.dists import Z90

S = 10**9
T0 = 1_750_000_000 * S   # Unix ns


def app_log(path, n_tasks=60, seed=1):
    """An agent application's OTel export: known lognormal steps, outputs, observations, tools."""
    rng = np.random.default_rng(seed)
    ln = lambda med, p90: rng.lognormal(math.log(med), math.log(p90 / med) / Z90)  # noqa: E731
    op = lambda name: {"key": "gen_ai.operation.name", "value": {"stringValue": name}}  # noqa: E731
    tok = lambda k, v: {"key": f"gen_ai.usage.{k}_tokens", "value": {"intValue": str(v)}}  # noqa: E731
    lines = []
    for t in range(n_tasks):
        trace, root = f"{t:032x}", f"{t:08x}00000000"
        steps = int(np.clip(round(ln(4, 8)), 2, 12))
        prompt, now = 1000 + max(1, int(ln(100, 300))), T0 + t * 1000 * S
        spans = []
        for k in range(steps):
            out = max(1, int(ln(200, 600)))
            end = now + int((0.2 + out * 0.01) * S)
            spans.append({"traceId": trace, "spanId": f"{t:08x}{k:04x}0000", "parentSpanId": root, "name": "chat",
                          "startTimeUnixNano": str(now), "endTimeUnixNano": str(end),
                          "attributes": [op("chat"), tok("input", prompt), tok("output", out)]})
            if k == steps - 1:
                break
            n_tools = 1 if rng.random() < 0.8 else 2
            lats = [ln(0.5, 2.0) for _ in range(n_tools)]
            for j, lat in enumerate(lats):
                spans.append({"traceId": trace, "spanId": f"{t:08x}{k:04x}{j + 1:04x}", "parentSpanId": root,
                              "name": "execute_tool", "startTimeUnixNano": str(end),
                              "endTimeUnixNano": str(end + int(lat * S)), "attributes": [op("execute_tool")]})
            prompt += out + sum(max(1, int(ln(300, 1200))) for _ in range(n_tools))
            now = end + int(max(lats) * S)
        spans.insert(0, {"traceId": trace, "spanId": root, "parentSpanId": "", "name": "invoke_agent",
                         "startTimeUnixNano": str(T0 + t * 1000 * S), "endTimeUnixNano": spans[-1]["endTimeUnixNano"],
                         "attributes": [op("invoke_agent")]})
        lines += [json.dumps(s) for s in spans]
    path.write_text("\n".join(lines) + "\n")


def median_p90(dist: dict) -> tuple[float, float]:
    if dist["dist"] == "lognormal":
        return dist["median"], dist["p90"]
    if dist["dist"] == "fixed":
        return dist["value"], dist["value"]
    return float(np.quantile(dist["values"], 0.5)), float(np.quantile(dist["values"], 0.9))


def log_sigma(dist: dict) -> float:
    med, p90 = median_p90(dist)
    if dist["dist"] == "empirical":
        return float(np.std(np.log(np.maximum(dist["values"], 1e-9))))
    return math.log(p90 / med) / Z90 if p90 > med else 0.0
