"""Prometheus metrics (a server's /metrics text, or vLLM's in-process snapshot) as flat counters.

One naming scheme for both sources, so engine and server statistics read the same:
`vllm:prefix_cache_hits_total` -> `prefix_cache_hits`; labels other than model/engine become a
suffix (`request_success.length`, `spec_decode_num_accepted_tokens_per_pos.0`); a histogram
gives `<name>_count`, `<name>_sum` and its cumulative buckets `<name>_bucket.le=<bound>`;
vLLM's cache_config_info gives `kv_cache_tokens_capacity` and `kv_cache_max_concurrency`. Gauges
keep only names the runner treats as gauges (`_perc`, ...): the runner stores counters as run
deltas and gauges as read at the end.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Iterable

_IGNORED_LABELS = {"model_name", "engine", "le", "quantile"}
_GAUGE_SUFFIXES = ("_perc",)
# cache_config_info carries these as label strings; they are gauges of the engine's setup.
_INFO_LABELS = {"kv_cache_size_tokens": "kv_cache_tokens_capacity",
                "kv_cache_max_concurrency": "kv_cache_max_concurrency"}


def metrics_url(base_url: str) -> str:
    """Where a server's counters are: `/metrics` at its root, whatever path its API is under
    (vLLM serves `/v1/completions` and `/metrics`, not `/v1/metrics`). Scheme, host and port of
    `base_url`; its path, query and fragment are dropped."""
    from urllib.parse import urlsplit

    u = urlsplit(base_url)
    host = f"[{u.hostname}]" if u.hostname and ":" in u.hostname else u.hostname
    return f"{u.scheme}://{host}{f':{u.port}' if u.port else ''}/metrics"


def _base(name: str) -> str:
    name = name.split(":", 1)[1] if ":" in name else name
    return name.removesuffix("_total")


def _key(name: str, labels: dict[str, str]) -> str:
    extra = [str(v) for k, v in sorted(labels.items()) if k not in _IGNORED_LABELS]
    return ".".join([name, *extra])


def _bucket_key(base: str, labels: dict[str, str], le: str) -> str:
    return f"{_key(base + '_bucket', labels)}.le={float(le):g}"


def _info(labels: dict[str, str], out: dict[str, float]) -> None:
    for label, key in _INFO_LABELS.items():
        try:
            out[key] = out.get(key, 0.0) + float(labels[label])
        except (KeyError, ValueError):
            pass


def _add(out: dict[str, float], key: str, value: float) -> None:
    out[key] = out.get(key, 0.0) + float(value)  # summed over engines / model names


def parse_text(text: str, prefix: str = "vllm:") -> dict[str, float]:
    """Flatten a Prometheus text exposition, keeping metrics whose name starts with `prefix`."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if not fam.name.startswith(prefix):
            continue
        base = _base(fam.name)
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            if base.endswith("_info"):
                _info(s.labels, out)
            elif fam.type == "counter":
                _add(out, _key(base, s.labels), s.value)
            elif fam.type == "histogram" and s.name.endswith(("_count", "_sum")):
                _add(out, _key(base + s.name[s.name.rindex("_"):], s.labels), s.value)
            elif fam.type == "histogram" and s.name.endswith("_bucket"):
                _add(out, _bucket_key(base, s.labels, s.labels.get("le", "+Inf")), s.value)
            elif fam.type == "gauge" and base.endswith(_GAUGE_SUFFIXES):
                _add(out, _key(base, s.labels), s.value)
    return out


def from_vllm_snapshot(metrics: Iterable[Any]) -> dict[str, float]:
    """Flatten `vllm.v1.metrics.reader.get_metrics_snapshot()` with the same names as parse_text."""
    out: dict[str, float] = {}
    for m in metrics:
        base = _base(m.name)
        kind = type(m).__name__
        if base.endswith("_info"):
            _info(m.labels, out)
        elif kind == "Counter":
            _add(out, _key(base, m.labels), m.value)
        elif kind == "Vector":  # per-position counters (spec decode acceptance)
            for pos, value in enumerate(m.values):
                _add(out, _key(base, m.labels) + f".{pos}", value)
        elif kind == "Histogram":
            _add(out, _key(base + "_count", m.labels), m.count)
            _add(out, _key(base + "_sum", m.labels), m.sum)
            for le, value in m.buckets.items():
                _add(out, _bucket_key(base, m.labels, le), value)
        elif kind == "Gauge" and base.endswith(_GAUGE_SUFFIXES):
            _add(out, _key(base, m.labels), m.value)
    return out


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus's histogram_quantile: linear interpolation inside the bucket holding rank
    q * count, from cumulative (upper bound, count) pairs; the +Inf bucket gives its lower bound."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cum in buckets:
        if cum >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / (cum - below) if cum > below else 1.0)
        lower, below = bound, cum
    return lower


def latency_quantiles_ms(deltas: dict[str, float],
                         qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, dict[str, float]]:
    """Percentiles (ms) of every `*_seconds` histogram in a run's counter deltas, with its count:
    the server's own view of TTFT, inter-token latency, queueing and E2E, beside the client's."""
    grouped: dict[str, list[tuple[float, float]]] = {}
    for key, value in deltas.items():
        name, sep, le = key.partition("_bucket.le=")
        if sep and name.endswith("_seconds") and "." not in name:
            grouped.setdefault(name, []).append((float(le), value))
    out = {}
    for name, buckets in sorted(grouped.items()):
        n = max(c for _, c in buckets)
        if n > 0:
            row = {f"p{round(q * 100)}": quantile(buckets, q) * 1000 for q in qs}
            out[name.removesuffix("_seconds") + "_ms"] = {**row, "n": n}
    return out
