"""An OpenAI-compatible /v1/completions endpoint that streams instantly: no model behind it.

It measures the client (`bench selftest`) and stands in for a server in fault tests. Each
request streams `max_tokens` SSE chunks of one token each (token ids as vLLM's
`return_token_ids` gives them), then a usage chunk and `[DONE]`. Run it in its own process so
it never shares the client's event loop or GIL:

    python -m bench.selftest.stub_server --host 127.0.0.1 --port 8123 [--delay-ms 2] [--die-at 7]

`--die-at N` SIGKILLs the server when its N-th request arrives (an engine crash mid-run);
`--expect-key-env NAME` logs whether each request's bearer token equals that variable, and never
the token itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from aiohttp import web

DONE = b"data: [DONE]\n\n"


def sse(event: dict) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def token_event(token_id: int) -> bytes:
    return sse({"object": "text_completion", "choices": [{"index": 0, "text": "x",
                                                            "token_ids": [token_id]}]})


# Encoded once: the stub must cost far less per chunk than the client it measures.
TOKEN_EVENTS = [token_event(i) for i in range(1000)]


def usage_event(prompt_tokens: int, completion_tokens: int) -> bytes:
    return sse({"object": "text_completion", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}})


async def stream_completion(request: web.Request, body: dict, delay_s: float = 0.0) -> web.StreamResponse:
    """Stream `max_tokens` one-token chunks (after `delay_s` each), usage, then [DONE].

    Without a delay the whole stream goes out in one write (the client still parses every
    event): a write per chunk would make the stub, not the client, the selftest's bottleneck.
    """
    n = int(body.get("max_tokens") or 16)
    prompt = body.get("prompt")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    end = usage_event(len(prompt) if isinstance(prompt, list) else 1, n) + DONE
    if not delay_s:
        await resp.write(b"".join(TOKEN_EVENTS[i % 1000] for i in range(n)) + end)
    else:
        for i in range(n):
            await asyncio.sleep(delay_s)
            await resp.write(TOKEN_EVENTS[i % 1000])
        await resp.write(end)
    await resp.write_eof()
    return resp


def make_app(delay_ms: float = 0.0, die_at: int | None = None, expect_key_env: str | None = None) -> web.Application:
    seen = [0]

    async def completions(request: web.Request) -> web.StreamResponse:
        seen[0] += 1
        if die_at is not None and seen[0] >= die_at:
            print(f"request {seen[0]}: dying (SIGKILL) as asked by --die-at", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if expect_key_env is not None:
            ok = request.headers.get("Authorization") == f"Bearer {os.environ.get(expect_key_env)}"
            print(f"request {seen[0]}: authorization {'matches' if ok else 'MISSING or WRONG'}", flush=True)
        return await stream_completion(request, await request.json(), delay_ms / 1000)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/health", health)
    return app


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
    web.run_app(make_app(a.delay_ms, a.die_at, a.expect_key_env), host=a.host, port=a.port,
                print=None, access_log=None)


if __name__ == "__main__":
    sys.exit(main())
