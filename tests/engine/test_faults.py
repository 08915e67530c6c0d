"""Server faults against a local HTTP server the test controls: every request is recorded with
its reason, the run ends cleanly, its folder is valid, and every completed sample is on disk.

One aiohttp server (a background thread) serves every in-thread fault under its own path
prefix; the crash and the API-key tests start the stub server as a real subprocess.
SIGINT/SIGTERM during a run: tests/engine/test_interrupt.py.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from rich.console import Console

from bench import config
from bench.run import runner
from bench.run.display import summary_table
from bench.results.files import read_run, read_samples
from bench.run.server import free_port
from bench.selftest.sse_events import DONE, completion_events, token_event

N = 10                        # requests per run
BAD = range(3, 7)             # 1-based arrivals that get the fault in burst modes
WORKLOAD = {"kind": "chat", "input_tokens": {"dist": "fixed", "value": 8},
            "output_tokens": {"dist": "fixed", "value": 4}}


def fault_app() -> web.Application:
    seen: Counter = Counter()

    async def completions(request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        seen[mode] += 1
        n, body = seen[mode], await request.json()
        if mode in ("r429", "r500") and n in BAD:
            status = int(mode[1:])
            return web.json_response({"error": {"message": "CUDA out of memory" if status == 500
                                                else "rate limited"}}, status=status)
        if mode in ("stall", "badsse") and n == 4:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(token_event(1))
            if mode == "stall":
                await asyncio.sleep(3)          # longer than the client's read timeout
            else:
                await resp.write(b"data: {\"choices\": [{\"text\": \"x\", \"tok\n\n" + DONE)
            return resp
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        prompt = body.get("prompt")
        await resp.write(b"".join(completion_events(int(body.get("max_tokens") or 16),
                                                    len(prompt) if isinstance(prompt, list) else 1)))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/{mode}/v1/completions", completions)
    return app


@pytest.fixture(scope="module")
def fault_url():
    port = free_port("127.0.0.1")
    loop = asyncio.new_event_loop()
    app_runner = web.AppRunner(fault_app())
    loop.run_until_complete(app_runner.setup())
    loop.run_until_complete(web.TCPSite(app_runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def run_against(url: str, tmp_path: Path, **options):
    specs = config.load_doc({"name": "fault", "model": "tiny", "workload": WORKLOAD,
                             "backend": {"name": "openai", "options": {"base_url": url, "metrics_url": None,
                                                                        **options}},
                             "load": {"kind": "concurrency", "concurrency": 2, "requests": N}}, "fault.yaml")
    (result,) = runner.run_all(specs, tmp_path)
    return result


def on_disk(result) -> tuple[list, dict]:
    """Samples and run.json as a reader finds them; their counts must agree with the summary."""
    samples = list(read_samples(result.dir))
    meta = read_run(result.dir)
    assert meta["n_samples"] == len(samples) == meta["summary"]["requests"]
    assert meta["summary"]["completed"] == sum(s.ok for s in samples)
    assert not list(result.dir.glob(".*.tmp"))          # no temporary file left behind
    return samples, meta


@pytest.mark.parametrize("mode,reason,options", [
    ("r429", "http_429", {}),
    ("r500", "http_500", {}),
    ("stall", "read_timeout", {"read_timeout_s": 0.5}),
    ("badsse", "bad_sse", {}),
])
def test_http_fault_is_an_error_with_its_reason(fault_url, tmp_path, tiny_path, mode, reason, options):
    result = run_against(f"{fault_url}/{mode}/v1", tmp_path, **options)
    samples, meta = on_disk(result)
    bad = len(BAD) if mode in ("r429", "r500") else 1
    # Every planned request was sent and recorded; some failed: complete with error_rate > 0.
    assert meta["status"] == "complete" and len(samples) == N
    assert meta["error_reasons"] == {reason: bad}
    assert meta["summary"][f"errors_{reason}"] == bad
    assert meta["summary"]["error_rate"] == pytest.approx(bad / N)
    assert sum(s.ok for s in samples) == N - bad
    assert all(s.output_tokens == 4 for s in samples if s.ok)
    if mode == "r500":
        assert "CUDA out of memory" in next(s.error for s in samples if not s.ok)
    console = Console(record=True, width=200)
    console.print(summary_table([result]))
    text = console.export_text()
    assert f"errors: {reason}" in text and f"{bad / N:.1%}" in text


def test_connection_refused_stops_the_run_with_its_reason(tmp_path, tiny_path):
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}/v1"
    result = run_against(url, tmp_path, connect_timeout_s=2)
    samples, meta = on_disk(result)
    assert meta["status"] == "failed" and "connect_refused" in meta["error"]
    assert 1 <= len(samples) <= 2 and set(meta["error_reasons"]) == {"connect_refused"}


def stub_server(*args: str) -> dict:
    return {"command": ["{python}", "-m", "bench.selftest.stub_server", "--host", "{host}", "--port", "{port}", *args],
            "stop_timeout_s": 5, "startup_timeout_s": 60}


def test_server_killed_mid_sweep_point_then_sweep_goes_on(tmp_path, tiny_path):
    # The stub SIGKILLs itself when request 12 arrives: point 1 (8 requests) is whole, point 2
    # dies after its third request, and point 3 runs against a freshly started server.
    doc = {"name": "crash", "model": "tiny", "workload": WORKLOAD,
           "backend": {"name": "openai", "options": {"metrics_url": None}},
           "server": stub_server("--die-at", "12", "--delay-ms", "5"),
           "load": {"kind": "concurrency", "concurrency": 2, "requests": 8},
           "matrix": {"label": ["a", "b", "c"]}}
    results = runner.run_all(config.load_doc(doc, "crash.yaml"), tmp_path)
    assert [r.status for r in results] == ["complete", "partial", "complete"]
    counts = []
    for r in results:
        samples, meta = on_disk(r)
        counts.append(sum(s.ok for s in samples))
    assert counts[0] == counts[2] == 8
    # Requests 9-11 of the server's life were sent before the crash; 11 may have been cut.
    assert 2 <= counts[1] <= 3
    crashed = read_run(results[1].dir)
    assert set(crashed["error_reasons"]) <= {"disconnected", "connect_refused"}
    assert crashed["error_reasons"]["connect_refused"] >= 1
    assert crashed["summary"]["requests"] < 8          # stopped sending once nobody listened
    assert "dying (SIGKILL)" in (results[1].dir / "server.log").read_text()
    assert "dying" not in (results[2].dir / "server.log").read_text()


def test_api_key_reaches_the_server_and_nothing_else(tmp_path, tiny_path):
    secret = "sk-test-" + "7f3a9c21e5d84b06"
    cfg = tmp_path / "key.yaml"
    cfg.write_text(json.dumps({
        "name": "key", "model": "tiny", "workload": WORKLOAD,
        "backend": {"name": "openai", "options": {"api_key_env": "BENCH_SECRET", "metrics_url": None}},
        "server": stub_server("--expect-key-env", "BENCH_SECRET"),
        "load": {"kind": "concurrency", "concurrency": 2, "requests": 4}}))
    res = tmp_path / "res"
    env = {**__import__("os").environ, "BENCH_SECRET": secret}
    out = subprocess.run([sys.executable, "-m", "bench", "run", str(cfg), "--results-dir", str(res),
                          "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    (run_dir,) = res.iterdir()
    log = (run_dir / "server.log").read_text()
    assert log.count("authorization matches") == 4 and "WRONG" not in log
    files = [p for p in res.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run.json", "samples.jsonl", "server.log"}
    for p in files:
        assert secret.encode() not in p.read_bytes(), p
    assert secret not in out.stdout + out.stderr
    assert "BENCH_SECRET" in (run_dir / "run.json").read_text()   # the variable's name is kept


def test_client_warnings_reach_run_json_and_table(fault_url, tmp_path, tiny_path, monkeypatch):
    from bench.telemetry import client as client_monitor
    monkeypatch.setattr(client_monitor, "MAX_SEND_LAG_P99_MS", -1.0)   # any lag is "too much"
    specs = config.load_doc({"name": "lag", "model": "tiny", "workload": WORKLOAD,
                             "backend": {"name": "openai", "options": {"base_url": f"{fault_url}/ok/v1",
                                                                        "metrics_url": None}},
                             "load": {"kind": "rate", "rate": 200, "requests": 20}}, "lag.yaml")
    (result,) = runner.run_all(specs, tmp_path)
    _, meta = on_disk(result)
    assert meta["status"] == "complete"
    assert any("did not keep the open-loop schedule" in w for w in meta["warnings"])
    s = meta["summary"]
    assert s["loop_lag_ms_n"] > 0 and 0 <= s["client_loop_cpu_util"] <= s["client_cpu_util"] + 0.05
    console = Console(record=True, width=200)
    console.print(summary_table([result]))
    assert "client warnings" in console.export_text()


