"""Ordered pipelining of one client's messages: the next message starts while this one waits
for its archive commit, and every effect still happens in the order the client sent them.

Why: a session handled strictly one stanza at a time has at most one message in the writer's
queue, so a group commit holds at most two rows per sending session, and with ~100 rows a
commit costs SQLite about twice as much per row as with ~1000 (each commit rewrites every index
page it touched, one per owner). Letting each session have several messages in flight makes the
batches larger and the writer's cost per message much smaller.

How order is kept (RFC 6120 10.1):

* A message's handling runs as a task of the session's :class:`Pipeline`. The session starts its
  next stanza only once that task *parks* (:func:`parked`: its rows are queued for the writer,
  so the next message's rows queue after them) or has finished. Anything other than a message
  waits until every task in flight has finished.
* After its commit, a parked task waits until the task before it has finished
  (:func:`in_turn`), so deliveries, carbons and errors go out in the client's order, and tasks
  finish in order.
* A task that never parks may still have started while the previous one was parked, so it takes
  its turn before its first effect: the archive's hook does that when it returns (before
  carbons), and the router before it delivers or answers with an error.

The rule for modules: a ``pre-message`` handler that runs before the archive (priority above
the archive's) may refuse a message by raising, but must not send anything itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

# Messages a session may have in flight; then it waits for the oldest one.
DEPTH = 32


class _Slot:
    """A task's place in its pipeline (runtime state, touched by that task only)."""

    __slots__ = ("gate", "previous")

    def __init__(self, previous: asyncio.Task[None] | None, gate: asyncio.Future[None]) -> None:
        self.previous = previous  # None once this task is in turn
        self.gate = gate  # done: the session may start its next stanza

    def open_gate(self) -> None:
        if not self.gate.done():
            self.gate.set_result(None)


_SLOT: ContextVar[_Slot | None] = ContextVar("garrulus_pipeline_slot", default=None)


class _Ready:
    """An awaitable that is done at once: in_turn() outside a pipeline builds no coroutine."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_READY = _Ready()


def in_turn() -> Awaitable[None]:
    """Wait until the message sent before this one (in a pipeline) has been fully handled;
    at once outside a pipeline or once in turn."""
    slot = _SLOT.get()
    if slot is None or slot.previous is None:
        return _READY  # the common case, several times per message: no coroutine
    previous, slot.previous = slot.previous, None
    return _READY if previous.done() else _finished(previous)


async def _finished(task: asyncio.Task[None]) -> None:
    try:
        await task  # cheaper than asyncio.wait(); a pipeline task only ends by cancellation
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the waiter itself was cancelled
        # a task cancelled at shutdown: nothing more to wait for


async def parked(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` and let the session start its next message meanwhile; returns (or
    raises) once this message is in turn again.

    ``awaitable`` must queue its work before it first suspends (an archive append does: ids and
    the writer's queue are taken synchronously), so the next message's work queues after it.
    """
    slot = _SLOT.get()
    if slot is None:
        return await awaitable
    slot.open_gate()
    try:
        return await awaitable
    finally:
        await in_turn()


class Pipeline:
    """The messages of one session in flight, oldest first."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._depth = depth
        self._tasks: deque[asyncio.Task[None]] = deque()

    def in_flight(self) -> int:
        """How many messages are being handled."""
        self._forget_finished()
        return len(self._tasks)

    async def start(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` as the newest task; return once the session may go on: the task parked
        or finished. ``work`` must handle its own errors."""
        self._forget_finished()
        if len(self._tasks) >= self._depth:
            await asyncio.wait((self._tasks[0],))
            self._forget_finished()
        loop = asyncio.get_running_loop()
        slot = _Slot(self._tasks[-1] if self._tasks else None, loop.create_future())
        task = loop.create_task(self._run(slot, work))
        self._tasks.append(task)
        await slot.gate

    async def drain(self) -> None:
        """Wait until every task in flight has finished."""
        while self._tasks:
            await asyncio.wait(tuple(self._tasks))
            self._forget_finished()

    def _forget_finished(self) -> None:
        tasks = self._tasks
        while tasks and tasks[0].done():
            tasks.popleft()

    @staticmethod
    async def _run(slot: _Slot, work: Callable[[], Awaitable[None]]) -> None:
        _SLOT.set(slot)  # this task's own context: other tasks never see it
        try:
            await work()
            await in_turn()  # finish in order, whatever path the work took
        finally:
            slot.open_gate()
