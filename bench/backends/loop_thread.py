"""An event loop on a thread of its own, for an in-process engine's asynchronous work, and async
iterators bridged from it to the caller's loop.

Why: vLLM's AsyncLLM runs its output handler (pull each step's outputs from the engine core
process, detokenize, route them to the request streams) as a task on the loop it was created on.
On the driver's loop, every send due and every token stamp waits while one step's outputs are
processed. On a loop of its own the two share only the GIL, which the runner makes change hands
every 0.5 ms (bench.run.runner.SWITCH_INTERVAL_S). Measured in docs/load-generator.md
("In-process engines").
"""
from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator, Awaitable, Callable, TypeVar

T = TypeVar("T")
_END = object()


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


class LoopThread:
    """`await lt.call(coro_fn)` runs coro_fn() there; `async for x in lt.stream(agen_fn)` iterates
    agen_fn() there and hands each item to the caller's loop as it comes."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(), self.loop))

    async def stream(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def hand(item) -> None:
            try:
                caller.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:     # the caller's loop is closed: nobody is listening
                pass

        async def pump() -> None:
            try:
                async for item in make():
                    hand(item)
            except BaseException as exc:   # cancellation too: the caller sees why it ended
                hand(_Raised(exc))
            else:
                hand(_END)

        fut = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if type(item) is _Raised:
                    raise item.exc
                yield item
        finally:
            if not fut.done():   # the caller left early: cancel the source there (vLLM aborts it)
                fut.cancel()

    def close(self) -> None:
        """Cancel what still runs there (the engine's output handler), then end the thread."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(10)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        if not self.thread.is_alive():
            self.loop.close()
