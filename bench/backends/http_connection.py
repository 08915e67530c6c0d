"""One HTTP/1.1 connection of bench.backends.http_stream and the response it parses: an asyncio
Protocol that feeds the bytes to httptools (llhttp, Node's parser in C, as bound by MagicStack
for uvicorn), and a Response whose body the reader takes as it arrives, one `await` per socket
read (the caller splits SSE events). Reading pauses when more than MAX_BUFFERED bytes wait."""
from __future__ import annotations

import asyncio

import httptools

MAX_BUFFERED = 4 * 2**20    # pause reading the socket when this much body waits for the reader


class HTTPStreamError(Exception):
    """`reason`: connect_refused, connect_timeout, read_timeout, disconnected or http_error."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class Response:
    """One response: status and headers once they arrived, then the body as it streams."""

    __slots__ = ("status", "headers", "_conn", "_buf", "_size", "_waiter", "_head", "_done", "_exc",
                 "_length_known", "got_bytes")

    def __init__(self, conn: Connection):
        self._conn = conn
        self.status = 0
        self.headers: dict[str, str] = {}
        self._buf: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future | None = None
        self._head = conn.loop.create_future()
        self._done = False
        self._exc: BaseException | None = None
        self._length_known = False
        self.got_bytes = False

    # ---- fed by the connection (protocol callbacks) ----
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._buf.append(data)
        self._size += len(data)
        if self._size > MAX_BUFFERED:
            self._conn.pause()
        self._wake()

    def _end(self) -> None:
        self._done = True
        if not self._head.done():
            self._head.set_result(None)
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc, self._done = exc, True
        if not self._head.done():
            self._head.set_exception(exc)
            self._head.exception()   # retrieved: a caller that gave up must not log it
        self._wake()

    # ---- the reader's side ----
    async def read(self) -> bytes:
        """Every body byte that arrived since the last call; b"" once the body has ended."""
        while not self._buf:
            if self._done:
                if self._exc is not None:
                    raise self._exc
                return b""
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        buf = self._buf
        data = buf[0] if len(buf) == 1 else b"".join(buf)
        buf.clear()
        if self._size > MAX_BUFFERED:
            self._conn.resume()
        self._size = 0
        return data

    async def read_all(self) -> bytes:
        parts = []
        while data := await self.read():
            parts.append(data)
        return b"".join(parts)


class Connection(asyncio.Protocol):
    """One keep-alive connection; httptools calls the on_* methods while parsing."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: Response | None = None
        self.closed = False
        self.keep_alive = False
        self.last_data = 0.0           # loop.time() of the last bytes, for the read timeout
        self.uses = 0

    # ---- asyncio.Protocol ----
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        r = self.resp
        if r is None:                  # bytes nobody asked for: this connection is out of step
            self.close()
            return
        self.last_data = self.loop.time()
        r.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            r._fail(HTTPStreamError(f"malformed HTTP response: {exc}", "http_error"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        r = self.resp
        if r is None or r._done:
            return
        if r._head.done() and not r._length_known:   # a body that ends with the connection
            r._end()
            return
        why = f": {exc}" if exc else ""
        r._fail(HTTPStreamError(f"connection closed by the server{why}", "disconnected"))

    # ---- httptools callbacks ----
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key in ("content-length", "transfer-encoding"):
            self.resp._length_known = True
        self.resp.headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        r = self.resp
        r.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        r._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.resp._feed(body)

    def on_message_complete(self) -> None:
        self.resp._end()

    # ---- helpers ----
    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
