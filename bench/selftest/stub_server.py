"""An OpenAI-compatible /v1/completions endpoint that streams instantly: no model behind it.

It measures the client (`bench selftest`) and stands in for a server in fault tests. Each
request streams `max_tokens` SSE chunks of one token each (token ids as vLLM's
`return_token_ids` gives them), then a usage chunk and `[DONE]`, chunked as vLLM's server sends
them. Run it in its own process so it never shares the client's event loop or GIL:

    python -m bench.selftest.stub_server --host 127.0.0.1 --port 8123 [--delay-ms 2] [--die-at 7]

`--die-at N` SIGKILLs the server when its N-th request arrives (an engine crash mid-run);
`--expect-key-env NAME` logs whether each request's bearer token equals that variable, and never
the token itself.

Why a bare asyncio Protocol with httptools and not a web framework: the stub shares the machine
with the client it measures, so every microsecond it spends is one the client cannot. An aiohttp
app costs ~140-200 us of CPU per request at 1,000-3,000 requests/s (a fifth to two fifths of a
core beside the client it measures); this costs ~20 us
(docs/load-generator.md, "The stub server"). Without a delay a whole response (head, events,
end) is one cached bytes object and one write.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from functools import lru_cache
from typing import Any

import httptools
import msgspec

from bench.selftest.sse_events import completion_events

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
HEALTH = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n" \
            b'{"error":"not found"}'
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
END = b"0\r\n\r\n"


class _Body(msgspec.Struct):
    max_tokens: int | None = None
    prompt: Any = None     # token ids, text or texts: only its length in tokens is used


_decode = msgspec.json.Decoder(_Body).decode


def chunk(data: bytes) -> bytes:
    """One piece of HTTP/1.1 chunked transfer coding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@lru_cache(maxsize=256)
def instant_response(n: int, prompt_tokens: int) -> bytes:
    """The whole response, head to end, as one write (the client still parses every event)."""
    return HEAD + chunk(b"".join(completion_events(n, prompt_tokens))) + END


class Stub:
    """What the server was asked to do, and how many completions it has seen."""

    def __init__(self, delay_ms: float = 0.0, die_at: int | None = None, expect_key_env: str | None = None):
        self.delay_s = delay_ms / 1000
        self.die_at = die_at
        self.expect_key = None if expect_key_env is None else f"Bearer {os.environ.get(expect_key_env)}".encode()
        self.seen = 0

    def arrived(self, authorization: bytes | None) -> None:
        self.seen += 1
        if self.die_at is not None and self.seen >= self.die_at:
            print(f"request {self.seen}: dying (SIGKILL) as asked by --die-at", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.expect_key is not None:
            ok = authorization == self.expect_key
            print(f"request {self.seen}: authorization {'matches' if ok else 'MISSING or WRONG'}", flush=True)


class StubProtocol(asyncio.Protocol):
    """One client connection: requests parsed by httptools, answered in order (keep-alive)."""

    def __init__(self, stub: Stub):
        self.stub = stub
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.Task | None = None     # a delayed stream still being written
        self.url, self.auth, self.body = b"", None, []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.pending is not None:
            self.pending.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    # ---- httptools callbacks ----
    def on_message_begin(self) -> None:
        self.url, self.auth, self.body = b"", None, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self.auth = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        method, path = self.parser.get_method(), self.url.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/completions":
            self.stub.arrived(self.auth)
            self.complete(b"".join(self.body), keep)
            return
        self.send(HEALTH if method == b"GET" and path == b"/health" else NOT_FOUND, keep)

    # ---- answers ----
    def complete(self, raw: bytes, keep: bool) -> None:
        try:
            body = _decode(raw)
        except msgspec.DecodeError:   # not JSON, or a field of the wrong type
            self.send(BAD_REQUEST, False)
            return
        n = body.max_tokens or 16
        prompt_tokens = len(body.prompt) if isinstance(body.prompt, list) else 1
        if not self.stub.delay_s and self.pending is None:
            self.send(instant_response(n, prompt_tokens), keep)
        else:   # after the stream before it on this connection, if one is still going
            self.pending = asyncio.ensure_future(self.stream(self.pending, n, prompt_tokens, keep))

    async def stream(self, before: asyncio.Task | None, n: int, prompt_tokens: int, keep: bool) -> None:
        if before is not None:
            await before
        self.transport.write(HEAD)
        events = completion_events(n, prompt_tokens)
        for event in events[:-1]:
            await asyncio.sleep(self.stub.delay_s)
            self.transport.write(chunk(event))
        self.send(chunk(events[-1]) + END, keep)
        if self.pending is asyncio.current_task():
            self.pending = None

    def send(self, data: bytes, keep: bool) -> None:
        self.transport.write(data)
        if not keep:
            self.transport.close()


async def serve(host: str, port: int, stub: Stub) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: StubProtocol(stub), host, port,
                                                            backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.selftest.stub_server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=0.0, help="before each chunk")
    p.add_argument("--die-at", type=int, help="SIGKILL itself when this request (1-based) arrives")
    p.add_argument("--expect-key-env", help="log whether the bearer token equals this variable")
    p.add_argument("--pid-file", help="write this process's id here (tests end it by id)")
    a = p.parse_args(argv)
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write(str(os.getpid()))
    print(f"stub server on http://{a.host}:{a.port}", flush=True)
    try:
        import uvloop  # the stub's own CPU is the client's loss on a shared machine
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(serve(a.host, a.port, Stub(a.delay_ms, a.die_at, a.expect_key_env)))


if __name__ == "__main__":
    sys.exit(main())
