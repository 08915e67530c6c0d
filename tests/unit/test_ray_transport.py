"""The Ray load actors' transport and clock (bench.run.ray_pool, bench.run.worker_process),
without Ray: numbered messages come out in order, samples leave in batches, and stamps move
between an actor's clock and the parent's whole."""
import threading
import time

import pytest

from bench.run import worker_process
from bench.run.ray_pool import _Inbox, _Outbox, node_label
from bench.types import Sample


def test_numbered_messages_are_released_in_their_order():
    inbox = _Inbox()
    for seq, data in [(2, b"c"), (0, b"a"), (3, None), (1, b"b")]:   # as a threaded actor may run them
        inbox.put(seq, data)
    assert [inbox.recv_bytes() for _ in range(3)] == [b"a", b"b", b"c"]
    with pytest.raises(EOFError):   # the closing message, after everything before it
        inbox.recv_bytes()


def test_a_reader_waits_for_the_missing_message():
    inbox, got = _Inbox(), []
    inbox.put(1, b"second")
    reader = threading.Thread(target=lambda: got.extend([inbox.recv_bytes(), inbox.recv_bytes()]))
    reader.start()
    time.sleep(0.05)
    assert got == []                 # message 0 has not come
    inbox.put(0, b"first")
    reader.join(2)
    assert got == [b"first", b"second"]


def test_the_outbox_hands_over_everything_waiting_as_one_batch_then_ends():
    out = _Outbox()
    for data in (b"1", b"2", b"3"):
        out.send_bytes(data)
    assert out.take() == [b"1", b"2", b"3"]
    out.send_bytes(b"4")
    out.q.put(None)
    assert out.take() == [b"4"] and out.take() is None


def test_stamps_move_to_the_parents_clock_whole():
    tokens = (1_000, 2_000, 3_000)
    s = Sample("r", None, 500, 600, tokens, tokens, 2, None, 3, done_ns=3_500, meta={"worker": 1})
    moved = worker_process._shifted(s, -100)
    assert (moved.scheduled_ns, moved.sent_ns, moved.done_ns) == (400, 500, 3_400)
    assert moved.token_ns == (900, 1_900, 2_900) and moved.chunk_ns is moved.token_ns   # still shared
    assert moved.meta == {"worker": 1} and moved.request_id == "r"
    chunked = Sample("r", None, 0, 0, (10, 10, 20), (10, 20), 2, None, 3)
    assert worker_process._shifted(chunked, 5).chunk_ns == (15, 25)


def test_the_clock_shift_is_zero_on_one_host_and_follows_the_wall_clock():
    t0 = time.monotonic_ns() + 10**9
    assert worker_process.clock_shift_ns(t0, None) == 0
    wall = time.time_ns() + (t0 - time.monotonic_ns())   # the same instant, as the parent sends it
    assert abs(worker_process.clock_shift_ns(t0, wall)) < 5_000_000   # same host: only read jitter
    assert abs(worker_process.clock_shift_ns(t0, wall + 10**9) - 10**9) < 5_000_000   # a host 1 s ahead


def test_a_node_label_names_address_and_node():
    assert node_label({"node_ip": "10.0.0.7", "node_id": "abcdef0123456789"}) == "10.0.0.7/abcdef01"
