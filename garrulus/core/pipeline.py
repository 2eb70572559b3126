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
  its turn before its first effect: :func:`take_turn`, hooked on every outgoing message route
  at :data:`TURN_PRIORITY` (below the archive, above carbons), and the router before it
  delivers or answers with an error.
* When the stream is closed (an error, a conflict, shutdown), the messages still waiting for
  their turn are dropped (:meth:`Pipeline.abandon`): handled one at a time they would not have
  been started. They may already be archived; a client that resends them (unacknowledged,
  XEP-0198) finds the same archive entry (the idempotency key), and the contact can fetch them
  from the archive.

The rule for modules: a ``pre-message`` handler above :data:`TURN_PRIORITY` may refuse a
message by raising, but must not send anything itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from garrulus.core.routes import stanza_route

if TYPE_CHECKING:
    from garrulus.core.host import Host

T = TypeVar("T")

# Messages a session may have in flight; then it waits for the oldest one.
DEPTH = 32
# take_turn's place on pre-message/*: below the archive (100), above carbons (-10).
TURN_PRIORITY = 50


class _Slot:
    """A task's place in its pipeline (runtime state)."""

    __slots__ = ("abandoned", "gate", "loop", "owner", "previous")

    def __init__(
        self,
        previous: asyncio.Task[None] | None,
        gate: asyncio.Future[None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.previous = previous  # None once this task is in turn
        self.gate = gate  # done: the session may start its next stanza
        # Given to current_task(): without a loop it asks get_running_loop(), which on Python
        # 3.11 makes a getpid() system call, several times per message.
        self.loop = loop
        self.owner: asyncio.Task[None] | None = None  # the task this slot belongs to
        self.abandoned = False  # the stream closed before this message's turn came

    def open_gate(self) -> None:
        if not self.gate.done():
            self.gate.set_result(None)


_SLOT: ContextVar[_Slot | None] = ContextVar("garrulus_pipeline_slot", default=None)


def _own_slot() -> _Slot | None:
    """The current task's slot; a task or callback created while a message was handled
    inherits the context, and must not take that message's place in line."""
    slot = _SLOT.get()
    if slot is None or slot.owner is not asyncio.current_task(slot.loop):
        return None
    return slot


class _Done:
    """An awaitable that is done at once with ``value``: the answers outside a pipeline (and
    once in turn) build no coroutine, as they are asked several times per message."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self.value


_READY: Awaitable[None] = _Done(None)
_GO: Awaitable[bool] = _Done(True)


def in_turn() -> Awaitable[None]:
    """Wait until the message sent before this one (in a pipeline) has been fully handled;
    at once outside a pipeline or once in turn."""
    slot = _own_slot()
    if slot is None or slot.previous is None:
        return _READY
    previous, slot.previous = slot.previous, None
    return _READY if previous.done() else _finished(previous)


def turn() -> Awaitable[bool]:
    """:func:`in_turn`, then whether this message may still have effects (False: abandoned)."""
    if _SLOT.get() is None:
        return _GO
    return _turn()


async def _turn() -> bool:
    await in_turn()
    return not abandoned()


def abandoned() -> bool:
    """Was the stream closed while this message waited for its turn? Then it has no effects."""
    slot = _own_slot()
    return slot is not None and slot.abandoned


def take_turn(event: object) -> Awaitable[bool | None] | None:
    """``pre-message/*`` at :data:`TURN_PRIORITY`: take this message's turn before anything
    below sends; an abandoned message stops here (handled: nothing more is done)."""
    del event
    if _SLOT.get() is None:
        return None
    return _take_turn()


async def _take_turn() -> bool | None:
    return None if await _turn() else True


def install(host: Host) -> None:
    """Hook :func:`take_turn` on every route of a message a local client sends."""
    for target in ("bare", "full", "host"):
        host.events.hook(stanza_route("message", target, outgoing=True), take_turn, TURN_PRIORITY)


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
    slot = _own_slot()
    if slot is None:
        return await awaitable
    slot.open_gate()
    # Not `try: return await ... finally: await in_turn()`: compiled (mypyc), an exception
    # pending in such a finally was lost once the await there suspended (tests/unit/test_pipeline).
    try:
        result = await awaitable
    except BaseException as exc:
        error: BaseException | None = exc
    else:
        error = None
    await in_turn()
    if error is not None:
        raise error
    return result


class Pipeline:
    """The messages of one session in flight, oldest first."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._depth = depth
        self._tasks: deque[tuple[asyncio.Task[None], _Slot]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None  # the session's, once it starts one

    def in_flight(self) -> int:
        """How many messages are being handled."""
        self._forget_finished()
        return len(self._tasks)

    async def start(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` as the newest task; return once the session may go on: the task parked
        or finished. ``work`` must handle its own errors."""
        self._forget_finished()
        if len(self._tasks) >= self._depth:
            await asyncio.wait((self._tasks[0][0],))
            self._forget_finished()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        slot = _Slot(self._tasks[-1][0] if self._tasks else None, loop.create_future(), loop)
        task = loop.create_task(self._run(slot, work))
        slot.owner = task
        # However the task ends (even cancelled before its first step), the session goes on.
        task.add_done_callback(lambda _task: slot.open_gate())
        self._tasks.append((task, slot))
        await slot.gate

    def abandon(self) -> None:
        """The stream is closing: every message behind the oldest unfinished one is dropped
        when its turn comes (the oldest one, being handled, finishes)."""
        self._forget_finished()
        for _task, slot in list(self._tasks)[1:]:
            slot.abandoned = True

    async def drain(self) -> None:
        """Wait until every task in flight has finished."""
        while self._tasks:
            await asyncio.wait(tuple(task for task, _slot in self._tasks))
            self._forget_finished()

    def _forget_finished(self) -> None:
        tasks = self._tasks
        while tasks and tasks[0][0].done():
            tasks.popleft()

    @staticmethod
    async def _run(slot: _Slot, work: Callable[[], Awaitable[None]]) -> None:
        _SLOT.set(slot)  # this task's own context: other tasks never see it
        try:
            await work()
            await in_turn()  # finish in order, whatever path the work took
        finally:
            # The task keeps its context, the context the slot, and the slot its owner: left
            # so, every message was a reference cycle (task, context, slot, gate, coroutine)
            # that only the garbage collector could free, about a quarter of the event loop's
            # time under load (the throughput benchmark, 2026-11-22).
            slot.owner = None
