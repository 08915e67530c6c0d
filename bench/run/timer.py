"""Wake a task at a send's due time: as punctual as a busy-wait, with as little of one as the
machine allows.

asyncio's and uvloop's timers sleep in whole milliseconds (epoll's timeout, libuv's clock), so a
plain `asyncio.sleep` sends up to 1 ms late plus the wake-up. Sleeping to 1.5 ms before each due
time and spinning on the loop (yielding to other tasks) until it comes is punctual, at 0.5-1.5 ms
of CPU per send, most of an open-loop client's CPU (bench selftest, 64 chunks per request,
700/s: 62% of a core, 25% of it work).

Most of that spin is not needed where the wake-up is quick. On Linux a timerfd (CLOCK_MONOTONIC,
the clock time.monotonic_ns reads; absolute, in nanoseconds) sits in the loop's own epoll set like
a socket, so the loop wakes at a chosen instant whatever else it waits for. Each send wakes
`margin` before it is due and spins only that margin, and the margin is learned: the p99 of how
late the last LEARN_EVERY wakes came, x1.25, between 50 us and 1.5 ms. The wake-up is not always
quick: on the 2-core VM this was built on, an idle vCPU took up to ~2 ms to run again (a send
woken exactly on time had p99 lag 1.2-1.9 ms with the client and stub on cores of their own,
0.4-0.7 ms with a nice-19 busy loop keeping the client's core awake), so there the margin stays
near the full spin (1.5 ms) at low rates and shrinks as the loop gets busy.

Python 3.11 has no os.timerfd_create (3.13 does), so it is called through ctypes. Elsewhere,
where the call fails, or with BENCH_SEND_WAIT=spin (to compare), the wait sleeps, then spins
the last 1.5 ms.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import time
import weakref
from array import array

import numpy as np

now_ns = time.monotonic_ns

SPIN_NS = 1_500_000            # the spin fallback's; also the learned margin's start and its ceiling
MIN_MARGIN_NS = 50_000
LEARN_EVERY = 256              # wakes per margin update
_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc if hasattr(libc, "timerfd_create") else None
    except OSError:
        return None


_LIBC = _libc()


class TimerFd:
    """One timerfd per event loop, armed for the earliest pending due time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd = fd
        # No reference back to the loop: the loop holds this (its reader), so the table below
        # can drop both, and close the fd, once the loop is gone.
        self._loop = weakref.ref(loop)
        self.heap: list[tuple[int, int, asyncio.Future]] = []
        self.armed_ns: int | None = None
        self.margin_ns = SPIN_NS      # start as the fallback does, then learn
        self._lates = array("q", bytes(8 * LEARN_EVERY))
        self._n = 0
        self._seq = itertools.count()
        loop.add_reader(fd, self._fire)
        weakref.finalize(self, os.close, fd)

    def wait(self, due_ns: int) -> asyncio.Future:
        fut = self._loop().create_future()
        heapq.heappush(self.heap, (due_ns, next(self._seq), fut))
        if self.armed_ns is None or due_ns < self.armed_ns:
            self._arm(due_ns)
        return fut

    def learned(self, late_ns: int) -> None:
        """How late a wake came; every LEARN_EVERY wakes the margin becomes their p99 x 1.25."""
        # Late wakes, not the spin's total: a margin that covers them makes the send punctual.
        self._lates[self._n % LEARN_EVERY] = late_ns
        self._n += 1
        if self._n % LEARN_EVERY == 0:
            p99 = int(np.percentile(self._lates, 99))
            self.margin_ns = min(SPIN_NS, max(MIN_MARGIN_NS, p99 + p99 // 4))

    def _arm(self, due_ns: int) -> None:
        # An all-zero it_value disarms a timerfd; a due time of 0 ns is in the past anyway.
        value = _Timespec(*divmod(max(due_ns, 1), 1_000_000_000))
        spec = _Itimerspec(_Timespec(0, 0), value)
        if _LIBC.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self.armed_ns = due_ns

    def _fire(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:   # re-armed after it expired and before we read it
            pass
        now = now_ns()
        heap = self.heap
        while heap and heap[0][0] <= now:
            fut = heapq.heappop(heap)[2]
            if not fut.done():   # a cancelled waiter leaves its entry until it is due
                fut.set_result(None)
        self.armed_ns = None
        if heap:
            self._arm(heap[0][0])


_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TimerFd | None] = weakref.WeakKeyDictionary()


def _timer_for(loop: asyncio.AbstractEventLoop) -> TimerFd | None:
    try:
        return _timers[loop]
    except KeyError:
        pass
    timer = None
    if _LIBC is not None and os.environ.get("BENCH_SEND_WAIT") != "spin":
        try:
            timer = TimerFd(loop)
        except (OSError, NotImplementedError):   # no timerfd here, or a loop without add_reader
            timer = None
    _timers[loop] = timer
    return timer


def send_wait() -> str:
    """How this loop waits for a send (stored with a run's client figures)."""
    timer = _timer_for(asyncio.get_running_loop())
    return f"timerfd, margin {timer.margin_ns / 1e3:.0f} us" if timer else "sleep, then spin 1.5 ms"


async def sleep_until(due_ns: int) -> None:
    """Return at due_ns (time.monotonic_ns), other tasks running meanwhile."""
    if due_ns <= now_ns():
        return
    timer = _timer_for(asyncio.get_running_loop())
    if timer is not None:
        wake = due_ns - timer.margin_ns
        if wake > now_ns():
            await timer.wait(wake)
            timer.learned(now_ns() - wake)
    elif due_ns - now_ns() > SPIN_NS:
        await asyncio.sleep((due_ns - now_ns() - SPIN_NS) / 1e9)
    while now_ns() < due_ns:   # the margin: yield to the loop until it is due
        await asyncio.sleep(0)
