"""A lean HTTP/1.1 client for streamed responses: asyncio Protocols and httptools' parser.

Why not aiohttp (which the openai backend used before): against the instant stub server
(scripts/client_cpu_vs_vllm.py) aiohttp's request machinery (cookie jar, tracing hooks, request
and response objects, a StreamReader with buffers of its own, a task per connect) was most of
the client's CPU per request, and made our client cost more than `vllm bench serve`, which is
built on it too. A benchmark client needs far less: keep-alive connections to one or a few
servers, a request written in one call, and the body handed over as it arrives. httptools is
llhttp (Node's parser in C) bound by MagicStack, the parser uvicorn uses: the bytes are parsed in
C, chunked transfer coding included. This module keeps the pool of connections, the exchange of
one request and the timeouts; bench.backends.http_connection parses a connection's bytes.

- One `await` per socket read, not per line or chunk: `Response.read()` returns every byte that
  arrived since the last call (the caller splits SSE events).
- A reused keep-alive connection that the server closed before answering is retried once on a
  fresh one (the server saw no request), as browsers and aiohttp do.
- Timeouts: connect, and read = the longest silence between bytes (aiohttp's sock_read), checked
  by one timer per request that re-arms lazily, so a byte costs no timer work.
- Errors are `HTTPStreamError` with a reason code the backend maps to its own.
"""
from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

from bench.backends.http_connection import MAX_BUFFERED, Connection, HTTPStreamError, Response

__all__ = ["HTTPStreamError", "MAX_BUFFERED", "Response", "StreamClient"]


class _Exchange:
    """`async with client.request(...) as resp:` hands the connection back (or closes it) on exit."""

    __slots__ = ("client", "method", "path", "body", "headers", "conn", "resp", "timer")

    def __init__(self, client: StreamClient, method: str, path: str, body: bytes, headers: dict[str, str]):
        self.client, self.method, self.path, self.body, self.headers = client, method, path, body, headers
        self.conn: Connection | None = None
        self.resp: Response | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Response:
        c = self.client
        await c._slots.acquire()
        try:
            for attempt in (0, 1):
                conn = await c._connection(fresh=attempt > 0)
                self.conn, self.resp = conn, Response(conn)
                conn.resp = self.resp
                conn.last_data = conn.loop.time()
                self._arm()
                conn.transport.write(c._head(self.method, self.path, self.headers, len(self.body)) + self.body)
                try:
                    await self.resp._head
                    return self.resp
                except HTTPStreamError as exc:
                    self._disarm()
                    conn.close()
                    # The server closed a reused idle connection before reading our request:
                    # it never saw it, so once more on a fresh connection is safe.
                    if attempt or conn.uses == 0 or self.resp.got_bytes or exc.reason != "disconnected":
                        raise
        except BaseException:
            self._finish(keep=False)
            raise

    async def __aexit__(self, exc_type, exc, tb) -> None:
        r = self.resp
        self._finish(keep=exc_type is None and r is not None and r._done and r._exc is None)

    def _finish(self, keep: bool) -> None:
        self._disarm()
        conn = self.conn
        if conn is not None:
            conn.resp = None
            if keep and conn.keep_alive and not conn.closed:
                conn.uses += 1
                self.client._idle.append(conn)
            else:
                conn.close()
            self.conn = None
        self.client._slots.release()

    def _arm(self) -> None:
        self.timer = self.conn.loop.call_later(self.client.read_timeout_s, self._check)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _check(self) -> None:
        """The timer: fail if the connection was silent for the read timeout, else re-arm."""
        conn, limit = self.conn, self.client.read_timeout_s
        if conn is None or self.resp is None or self.resp._done:
            return
        silent = conn.loop.time() - conn.last_data
        if silent >= limit:
            self.resp._fail(HTTPStreamError(f"no bytes for {silent:.1f} s (read timeout {limit:g} s)",
                                            "read_timeout"))
            conn.close()
        else:
            self.timer = conn.loop.call_later(limit - silent, self._check)


class StreamClient:
    """Keep-alive connections to one server (scheme, host, port), at most `max_connections`."""

    def __init__(self, base_url: str, connect_timeout_s: float = 10.0, read_timeout_s: float = 600.0,
                 max_connections: int = 1024):
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if u.scheme == "https" else None
        default = (u.scheme == "https" and self.port == 443) or (u.scheme == "http" and self.port == 80)
        self._host_header = (f"[{self.host}]" if ":" in self.host else self.host) + ("" if default else f":{self.port}")
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[Connection] = deque()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> _Exchange:
        """`path` is the request target (`/v1/completions`); the headers are added to Host,
        Content-Length and keep-alive."""
        return _Exchange(self, method, path, body, headers or {})

    def _head(self, method: str, path: str, headers: dict[str, str], length: int) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {length}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _connection(self, fresh: bool) -> Connection:
        while self._idle and not fresh:
            conn = self._idle.pop()        # the most recently used: the least likely to be stale
            if not conn.closed and not conn.transport.is_closing():
                return conn
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(loop), self.host, self.port, ssl=self.ssl,
                                       server_hostname=self.host if self.ssl else None),
                self.connect_timeout_s)
        except TimeoutError:
            raise HTTPStreamError(f"connect to {self.host}:{self.port} timed out after "
                                  f"{self.connect_timeout_s:g} s", "connect_timeout") from None
        except OSError as exc:
            raise HTTPStreamError(f"cannot connect to {self.host}:{self.port} ({exc.strerror or exc})",
                                  "connect_refused") from None
        return conn

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
        await asyncio.sleep(0)   # let the transports finish closing
