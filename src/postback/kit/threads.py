"""A single worker thread for the event loop: the group-commit writer's commits (kit/writer.py)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class WorkerThread:
    """One thread that runs functions in order and hands their results to the event loop.

    A ThreadPoolExecutor did the same with several Python-level locks and a semaphore per
    call, which showed in the click path's profile; this is a queue and a thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        self._queue.put((future, fn, args))
        return future

    def call_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` on the thread and wait for it here (shutdown only)."""
        done: Future[Any] = Future()
        self._queue.put((done, fn, args))
        return done.result()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            future, fn, args = work
            try:
                result = fn(*args)
            except BaseException as exc:
                self._settle(future, None, exc)
            else:
                self._settle(future, result, None)

    def _settle(self, future: Any, result: Any, error: BaseException | None) -> None:
        if isinstance(future, Future):
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                self._loop.call_soon_threadsafe(_settle_on_loop, future, result, error)


def _settle_on_loop(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
