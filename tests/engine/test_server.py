"""The openai backend against a real vLLM OpenAI server on loopback, started by ManagedServer
(one for the module), plus the managed-server lifecycle with cheap real processes."""
from __future__ import annotations

import os
import re
import sys

import pytest

from bench.backends.base import BackendError
from bench.backends.openai_http import OpenAIBackend
from bench.models import resolve_model
from bench.run.assemble import deltas as _deltas
from bench.config_server import ServerSpec
from bench.run.server import ManagedServer, ServerError, free_port
from tests.helpers.vllm_helpers import BLOCK, PREFIX, check_stream, distinct_prompts, request, run
from tests.helpers.vllm_present import skip_without_vllm


MAX_LEN = 1024
# The tiny tokenizer has no chat template; this one sends the user's text as is.
PLAIN_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


@pytest.fixture(scope="module")
def server(loop, tmp_path_factory):
    skip_without_vllm()
    template = tmp_path_factory.mktemp("chat") / "plain.jinja"
    template.write_text(PLAIN_TEMPLATE)
    spec = ServerSpec(args=["--max-model-len", str(MAX_LEN), "--enable-prefix-caching",
                            "--chat-template", str(template),
                            "--uvicorn-log-level", "warning"],
                      env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    srv = ManagedServer(spec, resolve_model("tiny"))
    loop.run_until_complete(srv.start())
    yield srv
    proc = srv.proc
    loop.run_until_complete(srv.stop())
    srv.log_path.unlink()
    assert proc.poll() is not None  # stopped, not left behind


def client(loop, server, **options):
    backend = OpenAIBackend(resolve_model("tiny"), {"base_url": server.url + "/v1", **options})
    loop.run_until_complete(backend.start())
    return backend


@pytest.mark.parametrize("ids", [True, False], ids=["token_ids", "usage_counts"])
def test_completions_token_ids_stream_exact_tokens(server, loop, ids):
    # Without returned ids, per-chunk counts come from the growth of continuous usage stats.
    backend = client(loop, server, extra_body={} if ids else {"return_token_ids": False})
    reqs = [request(f"c{i}", p, n) for i, (p, n) in
            enumerate(zip(distinct_prompts(3, 50, salt=3), (1, 9, 30)))]
    for s, r in zip(run(loop, backend, reqs), reqs):
        check_stream(s, r)
        assert len(s.output_token_ids) == (s.output_tokens if ids else 0)
    loop.run_until_complete(backend.stop())


def test_text_prompts_and_chat_count_exact_outputs(server, loop):
    text = client(loop, server, prompt="text")
    chat = client(loop, server, endpoint="chat")
    reqs = [request(f"t{i}", p, 12) for i, p in enumerate(distinct_prompts(2, 40, salt=4))]
    for backend in (text, chat):
        for s in run(loop, backend, reqs):
            assert s.error is None, s.error
            assert s.output_tokens == 12 and len(s.token_ns) == 12
            assert s.prompt_tokens > 0          # the server's count of the re-tokenized text
        loop.run_until_complete(backend.stop())


def test_server_metrics_deltas_and_prefix_cache_hits(server, loop):
    backend = client(loop, server)
    before = loop.run_until_complete(backend.server_stats())
    run(loop, backend, [request("q0", PREFIX + (5,), 4)])
    shared = [request(f"q{i}", PREFIX + (i, i + 1), 3) for i in range(1, 4)]
    samples = run(loop, backend, shared)
    delta = _deltas(before, loop.run_until_complete(backend.server_stats()))
    assert delta["prefix_cache_hits"] == 3 * 2 * BLOCK
    assert delta["generation_tokens"] == 4 + 3 * 3
    assert delta["prompt_tokens"] == len(PREFIX) + 1 + 3 * (len(PREFIX) + 2)
    assert delta["e2e_request_latency_seconds_count"] == 4
    assert delta["kv_cache_tokens_capacity"] > 0
    assert all(s.cached_prompt_tokens == 2 * BLOCK for s in samples)   # usage.prompt_tokens_details
    loop.run_until_complete(backend.stop())


def test_server_that_is_not_there_is_a_clear_error(loop):
    backend = OpenAIBackend("tiny", {"base_url": f"http://127.0.0.1:{free_port('127.0.0.1')}/v1",
                                     "connect_timeout_s": 2})
    loop.run_until_complete(backend.start())
    (sample,) = run(loop, backend, [request("x", (5, 6, 7), 3)])
    assert sample.error.startswith("connect_refused: cannot connect to http://127.0.0.1:")
    assert "is the server running?" in sample.error
    assert loop.run_until_complete(backend.server_stats()) is None
    loop.run_until_complete(backend.stop())


def test_api_key_comes_from_the_named_variable(loop, monkeypatch):
    monkeypatch.delenv("BENCH_TEST_KEY", raising=False)
    backend = OpenAIBackend("tiny", {"api_key_env": "BENCH_TEST_KEY"})
    with pytest.raises(BackendError, match="BENCH_TEST_KEY .* is not set"):
        loop.run_until_complete(backend.start())
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-secret")
    loop.run_until_complete(backend.start())
    assert backend._headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(backend.info()) + repr(backend.options)
    loop.run_until_complete(backend.stop())


def test_managed_server_that_exits_reports_its_log(loop):
    spec = ServerSpec(command=[sys.executable, "-c", "print('no model here'); raise SystemExit(3)"])
    srv = ManagedServer(spec, "m")
    with pytest.raises(ServerError, match="exited with code 3 .*no model here"):
        loop.run_until_complete(srv.start())
    srv.log_path.unlink()  # kept on failure for the user; not by the tests


def test_managed_server_starts_healthy_and_stops_its_process_group(loop, tmp_path):
    # Any command: a plain HTTP server (serving an empty folder) stands in for a model server.
    spec = ServerSpec(command=["{python}", "-m", "http.server", "--bind", "{host}", "{port}",
                               "--directory", str(tmp_path)], health_path="/", stop_timeout_s=5)
    srv = ManagedServer(spec, "m")
    loop.run_until_complete(srv.start())
    pid = srv.proc.pid
    os.kill(pid, 0)  # running
    loop.run_until_complete(srv.stop())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "GET / HTTP" in srv.log_path.read_text()   # its log was kept
    srv.log_path.unlink()


def test_managed_server_health_timeout(loop):
    spec = ServerSpec(command=["{python}", "-c", "import time; time.sleep(60)"],
                      startup_timeout_s=1.5, stop_timeout_s=2)
    srv = ManagedServer(spec, "m")
    with pytest.raises(ServerError, match="not healthy at http://127.0.0.1:.*after 2 s"):
        loop.run_until_complete(srv.start())
    assert srv.proc is None
    srv.log_path.unlink()


def test_run_against_a_missing_server_fails_with_one_clear_reason(tmp_path):
    from bench import config
    from bench.run import runner

    url = f"http://127.0.0.1:{free_port('127.0.0.1')}/v1"
    specs = config.load_doc({"name": "gone", "backend": {"name": "openai", "options": {"base_url": url}},
                             "workload": {"file": "chat", "scale": 0.02},
                             "load": {"kind": "concurrency", "concurrency": 2, "requests": 3}}, "gone.yaml")
    (result,) = runner.run_all(specs, tmp_path)
    assert result.status == "failed"
    assert re.match(rf"all [12] requests failed; first: connect_refused: cannot connect to {url}", result.meta["error"])
    # nobody listens: the driver stops starting sessions after the first refusal (<= concurrency)
    assert 1 <= result.meta["error_reasons"]["connect_refused"] <= 2
