"""Prometheus flattening and histogram quantiles on an exposition small enough to check by hand."""
import pytest

from bench.telemetry import prometheus

TEXT = """\
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.01",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{le="0.02",model_name="m"} 6.0
vllm:time_to_first_token_seconds_bucket{le="0.04",model_name="m"} 10.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 10.0
vllm:time_to_first_token_seconds_count{model_name="m"} 10.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 0.19
# HELP vllm:prefix_cache_hits_total Prefix cache hits.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{model_name="m"} 768.0
"""


def test_parse_keeps_counters_and_cumulative_buckets():
    out = prometheus.parse_text(TEXT)
    assert out["prefix_cache_hits"] == 768
    assert out["time_to_first_token_seconds_count"] == 10
    assert out["time_to_first_token_seconds_bucket.le=0.02"] == 6
    assert out["time_to_first_token_seconds_bucket.le=inf"] == 10


def test_quantiles_interpolate_like_prometheus():
    # 10 observations: 2 in (0, 10 ms], 4 in (10, 20], 4 in (20, 40].
    # p50: rank 5 lies in (10, 20] at (5 - 2) / 4 of the way: 10 + 10 * 0.75 = 17.5 ms.
    # p90: rank 9 lies in (20, 40] at (9 - 6) / 4: 20 + 20 * 0.75 = 35 ms.
    lat = prometheus.latency_quantiles_ms(prometheus.parse_text(TEXT))
    ttft = lat["time_to_first_token_ms"]
    assert ttft["n"] == 10
    assert ttft["p50"] == pytest.approx(17.5)
    assert ttft["p90"] == pytest.approx(35.0)
    assert prometheus.quantile([(1.0, 0.0), (float("inf"), 0.0)], 0.5) is None
    # ranks past the last finite bound return that bound (the +Inf bucket has no width)
    assert prometheus.quantile([(1.0, 1.0), (float("inf"), 4.0)], 0.9) == 1.0


@pytest.mark.parametrize("base_url, url", [
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/metrics"),
    ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/metrics"),
    ("https://api.example.com/proxy/v1?x=1#f", "https://api.example.com/metrics"),
    ("http://user:pw@host:9/v1", "http://host:9/metrics"),
    ("http://[::1]:8000/v1", "http://[::1]:8000/metrics"),
    ("http://h:8000", "http://h:8000/metrics"),
])
def test_the_counters_are_scraped_from_the_server_root(base_url, url):
    assert prometheus.metrics_url(base_url) == url


def test_the_openai_backend_scrapes_the_root_by_default():
    import asyncio

    from bench.backends.openai_http import OpenAIBackend

    async def go():
        b = OpenAIBackend("m", {"base_url": "http://127.0.0.1:9/v1"})
        await b.start()
        try:
            return b.metrics_url
        finally:
            await b.stop()
    assert asyncio.run(go()) == "http://127.0.0.1:9/metrics"
