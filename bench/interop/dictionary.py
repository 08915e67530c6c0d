"""The metric dictionary: for each metric of ours (bench.metrics.definitions), the nearest metric
of each peer, its name there and its definition, and whether it is the same quantity.

The rows come from the metric table, so a metric added there appears in docs/metric-dictionary.md
(scripts/metric_dictionary.py writes it; tests/unit/test_metric_dictionary.py fails when the page
is stale) with "no counterpart recorded" until an entry here names one. `same` says whether
`bench import` takes the peer's summary value as ours (each importer applies it to its format's
keys); a peer's per-request records are always summarized with our own definitions.

Sources, read for this table: vLLM 0.32 vllm/benchmarks/serve.py; AIPerf 0.13.0
aiperf/metrics/types/*.py; GuideLLM 0.8.1 guidellm/benchmark/schemas; inference-perf 0.7.0
inference_perf/reportgen; SGLang python/sglang/bench_serving.py; llm-d benchmark_report
schema_v0_2.py (Benchmark Report v0.2).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerMetric:
    name: str            # the peer's own name (summary key, JSON path)
    definition: str      # in the peer's terms
    unit: str            # the peer's unit
    same: bool           # the same quantity as ours (at most a unit change)
    scale: float = 1.0   # the peer's value x scale = ours (s -> ms: 1000)


TOOLS: dict[str, str] = {
    "vllm": "vLLM bench serve",
    "aiperf": "NVIDIA AIPerf",
    "guidellm": "GuideLLM",
    "inference-perf": "inference-perf",
    "sglang": "SGLang bench_serving",
    "br0.2": "llm-d Benchmark Report v0.2",
}

_P = PeerMetric
_BR = "results.request_performance.aggregate"

PEERS: dict[str, dict[str, PeerMetric]] = {
    "ttft_ms": {
        "vllm": _P("mean_ttft_ms, median_ttft_ms, p99_ttft_ms", "first streamed chunk - request start", "ms", True),
        "aiperf": _P("time_to_first_token", "first response timestamp - request start timestamp", "ns (shown ms)",
                     True, 1e-6),
        "guidellm": _P("time_to_first_token_ms", "first token iteration - request start", "ms", True),
        "inference-perf": _P("time_to_first_token", "first token received - request start", "s", True, 1e3),
        "sglang": _P("mean_ttft_ms, median_ttft_ms, p99_ttft_ms", "first streamed chunk - request start", "ms", True),
        "br0.2": _P(f"{_BR}.latency.time_to_first_token", "time to generate the first token", "s or ms", True),
    },
    "tpot_ms": {
        "vllm": _P("mean_tpot_ms", "(latency - ttft) / (output_tokens - 1), per request with > 1 token", "ms", True),
        "aiperf": _P("inter_token_latency", "(request latency - TTFT) / (output tokens - tokens of the first "
                     "chunk): equal to ours when the first chunk carries one token", "ns (shown ms)", False, 1e-6),
        "guidellm": _P("inter_token_latency_ms", "(last token - first token) / (output tokens - 1)", "ms", True),
        "inference-perf": _P("time_per_output_token", "(last token - first token) / (output tokens - 1)",
                             "s/token", True, 1e3),
        "sglang": _P("mean_tpot_ms", "(latency - ttft) / (output_tokens - 1), per request", "ms", True),
        "br0.2": _P(f"{_BR}.latency.time_per_output_token", "time per output token, excluding the first, as "
                    "the reporting tool defines it (ours when bench wrote the report)", "s/token or ms/token", False),
    },
    "itl_ms": {
        "vllm": _P("mean_itl_ms, median_itl_ms, p99_itl_ms", "gaps between consecutive streamed chunks, pooled "
                   "over requests (a chunk of k tokens is one gap, ours k-1 zero gaps more): our chunk_gap_ms",
                   "ms", False),
        "aiperf": _P("inter_chunk_latency", "gaps between consecutive response chunks of a request", "ns", False,
                     1e-6),
        "guidellm": _P("(none)", "GuideLLM's inter_token_latency_ms is a per-request mean: our tpot_ms", "ms", False),
        "inference-perf": _P("inter_token_latency", "each request's mean gap between its tokens (as the client "
                             "re-tokenized the text), summarized over requests", "s", False, 1e3),
        "sglang": _P("mean_itl_ms, median_itl_ms, p99_itl_ms", "gaps between streamed chunks, pooled", "ms", False),
        "br0.2": _P(f"{_BR}.latency.inter_token_latency", "latency between generated tokens, excluding the first "
                    "(meaning depends on the tool that filled it)", "s/token or ms/token", False),
    },
    "e2e_ms": {
        "vllm": _P("mean_e2el_ms, median_e2el_ms, p99_e2el_ms", "last chunk - request start", "ms", True),
        "aiperf": _P("request_latency", "final response timestamp - request start", "ns (shown ms)", True, 1e-6),
        "guidellm": _P("request_latency", "request end - request start (per request, in its requests list)", "s",
                       True, 1e3),
        "inference-perf": _P("request_latency", "response complete - request start", "s", True, 1e3),
        "sglang": _P("mean_e2e_latency_ms, median_e2e_latency_ms", "last chunk - request start", "ms", True),
        "br0.2": _P(f"{_BR}.latency.request_latency", "end-to-end request latency", "s or ms", True),
    },
    "chunk_gap_ms": {
        "vllm": _P("mean_itl_ms, median_itl_ms, p99_itl_ms (itls per request with --save-detailed)",
                   "gaps between consecutive streamed chunks, pooled over requests", "ms", True),
        "aiperf": _P("inter_chunk_latency", "gaps between consecutive response chunks", "ns", True, 1e-6),
        "sglang": _P("itls", "gaps between streamed chunks", "s", True, 1e3),
    },
    "request_s": {
        "vllm": _P("request_throughput", "completed / benchmark duration (start of the run to its end)", "req/s",
                   False),
        "aiperf": _P("request_throughput", "valid requests / (last response - first request)", "req/s", True),
        "guidellm": _P("requests_per_second", "completed requests per second of the benchmark", "req/s", False),
        "inference-perf": _P("requests_per_sec", "successful requests / the stage's wall time", "req/s", False),
        "sglang": _P("request_throughput", "completed / benchmark duration", "req/s", False),
        "br0.2": _P(f"{_BR}.throughput.requests_rate", "request rate over the reporting tool's duration",
                    "queries/s", False),
    },
    "output_tok_s": {
        "vllm": _P("output_throughput", "output tokens / benchmark duration (start of the run to its end)",
                   "tok/s", False),
        "aiperf": _P("output_token_throughput", "output tokens / (last response - first request)", "tok/s", True),
        "guidellm": _P("output_tokens_per_second", "output tokens per second of the benchmark", "tok/s", False),
        "inference-perf": _P("output_tokens_per_sec", "output tokens / stage duration", "tok/s", False),
        "sglang": _P("output_throughput", "output tokens / benchmark duration", "tok/s", False),
        "br0.2": _P(f"{_BR}.throughput.output_token_rate", "output token rate over the reporting tool's duration",
                    "tokens/s", False),
    },
    "total_tok_s": {
        "vllm": _P("total_token_throughput", "(input + output tokens) / benchmark duration", "tok/s", False),
        "aiperf": _P("total_token_throughput", "(input + output tokens) / benchmark duration", "tok/s", True),
        "guidellm": _P("tokens_per_second", "(prompt + output tokens) per second of the benchmark", "tok/s", False),
        "inference-perf": _P("total_tokens_per_sec", "(input + output tokens) / stage duration", "tok/s", False),
        "sglang": _P("total_throughput", "(input + output tokens) / benchmark duration", "tok/s", False),
        "br0.2": _P(f"{_BR}.throughput.total_token_rate", "(input + output) token rate over the reporting "
                    "tool's duration", "tokens/s", False),
    },
    "goodput_request_s": {
        "vllm": _P("request_goodput", "requests meeting every --goodput SLO / duration", "req/s", True),
        "aiperf": _P("goodput", "requests meeting every --goodput SLO / duration", "req/s", True),
        "sglang": _P("request_goodput", "requests meeting the SLOs / duration", "req/s", True),
    },
    "error_rate": {
        "aiperf": _P("error_request_count / request_count", "failed requests / all requests", "fraction", True),
        "guidellm": _P("request_totals.errored / request_totals.total", "errored / all requests", "fraction", True),
        "br0.2": _P(f"{_BR}.requests.failures / total", "requests that responded with an error / all", "fraction",
                    True),
    },
    "errors": {
        "vllm": _P("failed", "requests that failed", "requests", True),
        "aiperf": _P("error_request_count", "requests that failed", "requests", True),
        "guidellm": _P("request_totals.errored", "requests that errored", "requests", True),
        "inference-perf": _P("failures.count", "requests that failed", "requests", True),
        "br0.2": _P(f"{_BR}.requests.failures", "requests that responded with an error", "count", True),
    },
    "requests": {
        "vllm": _P("num_prompts", "requests asked for", "requests", False),
        "aiperf": _P("request_count", "requests sent", "requests", True),
        "guidellm": _P("request_totals.total", "requests sent", "requests", True),
        "br0.2": _P(f"{_BR}.requests.total", "requests sent", "count", True),
    },
    "completed": {
        "vllm": _P("completed", "requests that succeeded", "requests", True),
        "aiperf": _P("request_count - error_request_count", "requests without an error", "requests", True),
        "guidellm": _P("request_totals.successful", "requests that succeeded", "requests", True),
        "inference-perf": _P("successes.count", "requests that succeeded", "requests", True),
    },
    "prompt_tokens_total": {
        "vllm": _P("total_input_tokens", "prompt tokens of completed requests", "tok", True),
        "aiperf": _P("total_isl", "sum of input sequence lengths", "tok", True),
        "guidellm": _P("prompt_token_count (total)", "prompt tokens of the requests", "tok", True),
        "sglang": _P("total_input_tokens", "prompt tokens", "tok", True),
        "br0.2": _P(f"{_BR}.requests.input_length", "input sequence length (a distribution, not a total)", "count",
                    False),
    },
    "output_tokens_total": {
        "vllm": _P("total_output_tokens", "output tokens of completed requests", "tok", True),
        "aiperf": _P("total_osl", "sum of output sequence lengths (reasoning tokens included)", "tok", True),
        "guidellm": _P("output_token_count (total)", "output tokens of the requests", "tok", True),
        "sglang": _P("total_output_tokens", "output tokens", "tok", True),
        "br0.2": _P(f"{_BR}.requests.output_length", "output sequence length (a distribution, not a total)",
                    "count", False),
    },
    "duration_s": {
        "vllm": _P("duration", "benchmark start to end (includes start-up of the request loop)", "s", False),
        "aiperf": _P("benchmark_duration", "last response - first request", "ns (shown s)", True, 1e-9),
        "guidellm": _P("duration", "benchmark start to end", "s", False),
        "sglang": _P("duration", "benchmark start to end", "s", False),
        "br0.2": _P("run.time.duration", "ISO-8601 duration of the experiment", "ISO-8601", False),
    },
    "ttft_from_scheduled_ms": {
        "aiperf": _P("credit_drop_latency + time_to_first_token", "queueing before the send plus TTFT", "ns", False),
    },
    "send_lag_ms": {
        "vllm": _P("queue_times", "time a request waited for a --max-concurrency slot", "s", False),
        "aiperf": _P("credit_drop_latency", "credit issued to request sent", "ns", False),
    },
    "client_cpu_util": {
        "guidellm": _P("(scheduler state)", "GuideLLM records its own worker timings, not CPU", "-", False),
    },
    # reasoning models (docs/reasoning.md); vLLM bench serve and SGLang's bench have no reasoning fields
    "ttfa_ms": {
        "aiperf": _P("time_to_first_output_token", "first non-reasoning content response - request start",
                     "ns (shown ms)", True, 1e-6),
        "guidellm": _P("time_to_first_output_token_ms", "first content (not reasoning) token - request start",
                       "ms", True),
        "inference-perf": _P("(none)", "its TTFT ignores the reasoning channel (its issue #559)", "s", False),
    },
    "reasoning_tokens": {
        "aiperf": _P("reasoning_token_count", "the reasoning text re-tokenized by the client's tokenizer",
                     "tokens", False),
        "guidellm": _P("(none)", "no count of its own (the reasoning text, where kept)", "tokens", False),
    },
    "answer_tokens": {
        "aiperf": _P("output_token_count", "the content re-tokenized, reasoning excluded", "tokens", False),
        "guidellm": _P("(none)", "no count of its own; its output_token_count is usage's completion tokens "
                       "(thought + answer)", "tokens", False),
    },
}

# Metrics a peer reports that we have no row for (shown under the table).
PEER_ONLY: tuple[tuple[str, PeerMetric], ...] = (
    ("guidellm", _P("time_per_output_token_ms", "(last token - request start) / output tokens: the wait for "
                    "the first token included", "ms", False)),
    ("inference-perf", _P("normalized_time_per_output_token", "request latency / output tokens", "s/token",
                          False)),
    ("br0.2", _P(f"{_BR}.latency.normalized_time_per_output_token", "typical time per output token, first "
                 "included (NTPOT)", "s/token or ms/token", False)),
    ("aiperf", _P("output_token_throughput_per_user", "1 / inter_token_latency, per request", "tok/s/user",
                  False)),
    ("aiperf", _P("time_to_second_token", "second token - first token", "ns", False)),
    ("vllm", _P("max_output_tokens_per_s", "peak output tokens in one second of the run", "tok/s", False)),
    ("guidellm", _P("request_concurrency", "requests in flight over the benchmark", "requests", False)),
)


def nearest(metric: str, tool: str) -> PeerMetric | None:
    return PEERS.get(metric, {}).get(tool)
