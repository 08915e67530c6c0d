"""The stub server speaks HTTP/1.1 as a real client expects: read here by httpx (h11, a parser
that is not the one the stub or our client uses) over keep-alive, chunked, instant and delayed."""
import asyncio
import itertools
import json
import threading
import time

import httpx
import pytest

from bench.run.server import free_port
from bench.selftest.stub_server import Stub, instant_response, serve


def _serve(stub: Stub) -> str:
    port = free_port("127.0.0.1")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_until_complete, args=(serve("127.0.0.1", port, stub),), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/health")
            return url
        except httpx.ConnectError:
            time.sleep(0.01)
    raise RuntimeError("stub did not start")


@pytest.fixture(scope="module")
def instant():
    return _serve(Stub())


def _events(resp: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in resp.iter_lines() if line.startswith("data: ")]


def test_streams_max_tokens_chunks_then_usage_and_done_over_one_connection(instant):
    with httpx.Client(base_url=instant) as client:
        for n, prompt in [(5, [1, 2, 3]), (40, "some text"), (5, [7] * 9)]:
            with client.stream("POST", "/v1/completions", json={"max_tokens": n, "prompt": prompt}) as r:
                assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
                events = _events(r)
            assert events[-1] == "[DONE]" and len(events) == n + 2
            ids = [json.loads(e)["choices"][0]["token_ids"][0] for e in events[:n]]
            assert ids == list(range(n))
            usage = json.loads(events[n])["usage"]
            assert usage == {"prompt_tokens": len(prompt) if isinstance(prompt, list) else 1,
                             "completion_tokens": n}
        assert client.get("/health").text == "ok"
        assert client.get("/metrics").status_code == 404
        assert client.post("/v1/completions", content=b"{not json").status_code == 400


def test_a_delayed_stream_arrives_chunk_by_chunk_and_in_order():
    url = _serve(Stub(delay_ms=20))
    with httpx.Client(base_url=url) as client:
        t0 = time.monotonic()
        with client.stream("POST", "/v1/completions", json={"max_tokens": 4}) as r:
            arrivals = [time.monotonic() - t0 for line in r.iter_lines() if line.startswith("data: ")]
        assert len(arrivals) == 6
        gaps = [b - a for a, b in itertools.pairwise(arrivals[:4])]
        assert min(gaps) > 0.01 and arrivals[3] > 0.07   # 20 ms before each chunk, not one burst
        second = client.post("/v1/completions", json={"max_tokens": 2})
        assert second.text.count("data: ") == 4           # the connection still serves after it


def test_instant_response_is_cached_and_whole():
    a, b = instant_response(8, 3), instant_response(8, 3)
    assert a is b and a.startswith(b"HTTP/1.1 200 OK") and a.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")


def test_keep_alive_answers_requests_one_after_another_on_one_socket(instant):
    import socket
    host, port = instant.removeprefix("http://").split(":")
    body = b'{"max_tokens": 3, "prompt": [1, 2]}'
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection((host, int(port))) as s:
        s.settimeout(5)
        for _ in range(2):      # the same socket: no reconnect could hide a closed connection
            s.sendall(req)
            got = b""
            while not got.endswith(b"0\r\n\r\n"):
                got += s.recv(65536)
            assert got == instant_response(3, 2)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        tail = b""
        while chunk := s.recv(65536):   # the server closes after a `Connection: close` request
            tail += chunk
        assert tail.endswith(b"\r\n\r\nok")
