"""bench.backends.http_stream against a raw asyncio server that answers each path its own way:
chunked, Content-Length and close-delimited bodies, keep-alive reuse, a stale idle connection,
a cut stream, silence, garbage, an error status, a body larger than the read buffer."""
from __future__ import annotations

import asyncio

import pytest

from bench.backends import http_stream
from bench.backends.http_stream import HTTPStreamError, StreamClient

BIG = bytes(range(256)) * (40 * 1024)          # 10 MiB: more than MAX_BUFFERED


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


class RawServer:
    """Counts connections; each request's path picks the answer."""

    def __init__(self):
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        drop_next = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next((ln.split(b":")[1] for ln in head.split(b"\r\n")
                                   if ln.lower().startswith(b"content-length")), b"0"))
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                path = head.split(b" ")[1].decode()
                if drop_next:       # the server's idle timeout fired as this request came in
                    break
                drop_next = path == "/stale"
                if not await self.answer(path, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, path: str, body: bytes, w: asyncio.StreamWriter) -> bool:
        """Writes the response; False closes the connection."""
        ok = b"HTTP/1.1 200 OK\r\n"
        if path == "/chunked":
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n")
            for part in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
                await w.drain()
                await asyncio.sleep(0.01)
                w.write(b"%x\r\n%s\r\n" % (len(part), part))
            w.write(b"0\r\n\r\n")
        elif path == "/echo":
            w.write(ok + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        elif path == "/close-delimited":
            w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            await w.drain()
            return False
        elif path == "/stale":      # answers, then drops the next request on this connection unanswered
            w.write(ok + b"Content-Length: 2\r\n\r\nok")
        elif path == "/cut":
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n" + b"5\r\nhello\r\n")
            await w.drain()
            return False
        elif path == "/silent":
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n")
            await w.drain()
            await asyncio.sleep(5)
            return False
        elif path == "/garbage":
            w.write(b"NOT HTTP AT ALL\r\n\r\n")
        elif path == "/429":
            w.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 12\r\n\r\nrate limited")
        elif path == "/big":
            parts = [BIG[i:i + 65536] for i in range(0, len(BIG), 65536)]
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(parts))
        await w.drain()
        return True


@pytest.fixture
def served():
    """(loop, server, base url) with the server running on the loop."""
    loop = asyncio.new_event_loop()
    raw = RawServer()
    server = loop.run_until_complete(asyncio.start_server(raw.handle, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    yield loop, raw, f"http://127.0.0.1:{port}"
    server.close()

    async def cancel_handlers():            # those still sleeping (/silent)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    loop.run_until_complete(cancel_handlers())
    loop.run_until_complete(server.wait_closed())
    loop.close()


async def fetch(client: StreamClient, path: str, body: bytes = b"") -> tuple[int, bytes]:
    async with client.request("POST", path, body, {"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.read_all()


def test_chunked_body_arrives_as_it_streams(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        reads = []
        async with client.request("POST", "/chunked", b"{}") as resp:
            while data := await resp.read():
                reads.append(data)
        await client.close()
        return resp.status, reads

    status, reads = loop.run_until_complete(go())
    assert status == 200
    assert b"".join(reads) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    assert len(reads) >= 2      # the parts were sent 10 ms apart: not one read at the end


def test_keep_alive_reuses_one_connection_and_sends_host_and_length(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url + "/v1")
        got = [await fetch(client, "/echo", b"x" * n) for n in (3, 0, 1000)]
        await client.close()
        return got

    got = loop.run_until_complete(go())
    assert got == [(200, b"xxx"), (200, b""), (200, b"x" * 1000)]
    assert raw.connections == 1
    port = url.rsplit(":", 1)[1]
    assert f"Host: 127.0.0.1:{port}\r\n".encode() in raw.requests[0]
    assert b"Content-Length: 3\r\n" in raw.requests[0]


def test_close_delimited_body_ends_with_the_connection(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        first = await fetch(client, "/close-delimited")
        second = await fetch(client, "/echo", b"again")   # a new connection: the old one closed
        await client.close()
        return first, second

    assert loop.run_until_complete(go()) == ((200, b"until the end"), (200, b"again"))
    assert raw.connections == 2


def test_a_stale_idle_connection_is_retried_once_on_a_fresh_one(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        first = await fetch(client, "/stale")
        second = await fetch(client, "/echo", b"fine")   # the reused connection is dropped
        await client.close()
        return first, second

    assert loop.run_until_complete(go()) == ((200, b"ok"), (200, b"fine"))
    assert raw.connections == 2 and len(raw.requests) == 3   # the dropped request was sent again


@pytest.mark.parametrize("path,reason", [("/cut", "disconnected"), ("/garbage", "http_error")])
def test_a_broken_response_fails_with_its_reason(served, path, reason):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        try:
            await fetch(client, path)
        finally:
            await client.close()

    with pytest.raises(HTTPStreamError) as err:
        loop.run_until_complete(go())
    assert err.value.reason == reason


def test_silence_longer_than_the_read_timeout_fails(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url, read_timeout_s=0.3)
        t = loop.time()
        try:
            await fetch(client, "/silent")
        finally:
            await client.close()
            go.took = loop.time() - t

    with pytest.raises(HTTPStreamError) as err:
        loop.run_until_complete(go())
    assert err.value.reason == "read_timeout"
    assert 0.3 <= go.took < 2.0


def test_nobody_listening_is_connect_refused(served):
    loop, raw, url = served
    from bench.run.server import free_port

    async def go():
        client = StreamClient(f"http://127.0.0.1:{free_port('127.0.0.1')}")
        await fetch(client, "/echo")

    with pytest.raises(HTTPStreamError) as err:
        loop.run_until_complete(go())
    assert err.value.reason == "connect_refused"


def test_error_status_and_body_are_readable(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        got = await fetch(client, "/429")
        await client.close()
        return got

    assert loop.run_until_complete(go()) == (429, b"rate limited")


def test_a_body_larger_than_the_buffer_arrives_whole(served):
    loop, raw, url = served
    assert len(BIG) > http_stream.MAX_BUFFERED

    async def go():
        client = StreamClient(url)
        async with client.request("POST", "/big") as resp:
            await asyncio.sleep(0.3)        # let the buffer fill past MAX_BUFFERED: reading pauses
            data = await resp.read_all()
        again = await fetch(client, "/echo", b"after")
        await client.close()
        return data, again

    data, again = loop.run_until_complete(go())
    assert data == BIG and again == (200, b"after")


def test_a_reader_that_stops_early_does_not_leave_its_connection_in_the_pool(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url)
        async with client.request("POST", "/chunked") as resp:
            await resp.read()           # the first part only, then leave
        assert not client._idle
        got = await fetch(client, "/echo", b"next")
        await client.close()
        return got

    assert loop.run_until_complete(go()) == (200, b"next")
    assert raw.connections == 2


def test_the_connection_limit_holds(served):
    loop, raw, url = served

    async def go():
        client = StreamClient(url, max_connections=2)
        got = await asyncio.gather(*(fetch(client, "/chunked") for _ in range(6)))
        await client.close()
        return got

    got = loop.run_until_complete(go())
    assert all(status == 200 for status, _ in got)
    assert raw.connections == 2
