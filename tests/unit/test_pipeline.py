"""core/pipeline.py: a session's next message starts while one waits for its commit, and every
effect still happens in the order the messages were sent."""

from __future__ import annotations

import asyncio
import functools
import gc

import pytest

from garrulus.core import pipeline as pipeline_module
from garrulus.core.pipeline import Pipeline, in_turn, parked, take_turn, turn
from garrulus.storage.api import StorageError


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Scene:
    """Messages that either wait for a commit (archived) or not, recording their effects."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.commits: dict[str, asyncio.Future[str]] = {}
        self.effects: list[str] = []
        self.loop = loop

    def commit(self, name: str) -> asyncio.Future[str]:
        return self.commits.setdefault(name, self.loop.create_future())

    async def archived(self, name: str) -> None:
        try:
            value = await parked(self.commit(name))
        except StorageError:
            self.effects.append(f"{name} failed")
            return
        self.effects.append(value)

    async def plain(self, name: str) -> None:
        await in_turn()
        self.effects.append(name)

    async def guarded(self, name: str) -> None:
        """Archived, then an effect only if the stream did not close meanwhile (the router)."""
        await parked(self.commit(name))
        if await turn():
            self.effects.append(name)


async def test_a_parked_message_lets_the_next_one_start() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.archived, "A"))
    assert "A" in scene.commits and scene.effects == []  # start() returned before the commit
    await pipeline.start(functools.partial(scene.archived, "B"))
    assert set(scene.commits) == {"A", "B"} and pipeline.in_flight() == 2
    scene.commit("A").set_result("A")
    scene.commit("B").set_result("B")
    await pipeline.drain()
    assert scene.effects == ["A", "B"] and pipeline.in_flight() == 0


async def test_a_later_commit_waits_for_the_earlier_message() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.archived, "A"))
    await pipeline.start(functools.partial(scene.archived, "B"))
    scene.commit("B").set_result("B")
    await settle()
    assert scene.effects == []  # B is committed but A is not handled yet
    scene.commit("A").set_result("A")
    await pipeline.drain()
    assert scene.effects == ["A", "B"]


async def test_a_message_that_never_parks_still_waits_its_turn() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.archived, "A"))
    starting = asyncio.create_task(pipeline.start(functools.partial(scene.plain, "B")))
    await settle()
    # B runs (it started) but its effect waits for A; the session waits for B to finish.
    assert scene.effects == [] and not starting.done()
    scene.commit("A").set_result("A")
    await starting
    assert scene.effects == ["A", "B"]


async def test_a_failed_commit_is_reported_in_turn() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.archived, "A"))
    await pipeline.start(functools.partial(scene.archived, "B"))
    scene.commit("B").set_exception(StorageError("disk full"))
    await settle()
    assert scene.effects == []
    scene.commit("A").set_result("A")
    await pipeline.drain()
    assert scene.effects == ["A", "B failed"]


async def test_the_depth_bounds_the_messages_in_flight() -> None:
    scene = Scene()
    pipeline = Pipeline(depth=2)
    await pipeline.start(functools.partial(scene.archived, "A"))
    await pipeline.start(functools.partial(scene.archived, "B"))
    starting = asyncio.create_task(pipeline.start(functools.partial(scene.archived, "C")))
    await settle()
    assert "C" not in scene.commits and not starting.done()  # waits for the oldest
    scene.commit("A").set_result("A")
    await starting
    assert "C" in scene.commits
    scene.commit("B").set_result("B")
    scene.commit("C").set_result("C")
    await pipeline.drain()
    assert scene.effects == ["A", "B", "C"]


async def test_a_cancelled_message_does_not_hold_up_the_next() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.archived, "A"))
    await pipeline.start(functools.partial(scene.archived, "B"))
    scene.commit("A").cancel()  # A's task ends by cancellation
    scene.commit("B").set_result("B")
    await pipeline.drain()
    assert scene.effects == ["B"]


async def test_outside_a_pipeline_parked_is_a_plain_await() -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    done.set_result(7)
    assert await parked(done) == 7
    await in_turn()  # at once
    failing: asyncio.Future[int] = loop.create_future()
    failing.set_exception(StorageError("gone"))
    with pytest.raises(StorageError, match="gone"):
        await parked(failing)


async def test_work_that_finishes_without_parking_returns_from_start() -> None:
    scene = Scene()
    pipeline = Pipeline()
    await pipeline.start(functools.partial(scene.plain, "A"))
    assert scene.effects == ["A"] and pipeline.in_flight() == 0


async def test_closing_drops_the_messages_not_yet_in_turn() -> None:
    scene = Scene()
    pipeline = Pipeline()
    for name in "ABC":
        await pipeline.start(functools.partial(scene.guarded, name))
    pipeline.abandon()  # the stream closes: A is being handled, B and C were queued behind it
    for name in "CBA":
        scene.commit(name).set_result(name)
    await pipeline.drain()
    assert scene.effects == ["A"]


async def test_the_turn_hook_stops_an_abandoned_message() -> None:
    outcomes: list[object] = []
    scene = Scene()

    async def hooked(name: str) -> None:
        await parked(scene.commit(name))
        answer = take_turn(None)
        outcomes.append(await answer if answer is not None else None)

    pipeline = Pipeline()
    await pipeline.start(functools.partial(hooked, "A"))
    await pipeline.start(functools.partial(hooked, "B"))
    pipeline.abandon()
    scene.commit("B").set_result("B")
    scene.commit("A").set_result("A")
    await pipeline.drain()
    assert outcomes == [None, True]  # A goes on; B is handled (stopped) by the hook
    assert take_turn(None) is None  # outside a pipeline: nothing to wait for


async def test_a_task_spawned_while_handling_cannot_take_the_turn() -> None:
    scene = Scene()
    pipeline = Pipeline()
    children: list[asyncio.Task[None]] = []

    async def child() -> None:
        await in_turn()

    async def spawning(name: str) -> None:
        # A helper task inherits the context (and so the slot) of the message handling it.
        children.append(asyncio.get_running_loop().create_task(child()))
        await asyncio.sleep(0)
        await scene.plain(name)

    await pipeline.start(functools.partial(scene.archived, "A"))
    starting = asyncio.create_task(pipeline.start(functools.partial(spawning, "B")))
    await settle()
    assert children and children[0].done()  # the child got no place in line: done at once
    assert scene.effects == []  # and B still waits for A
    scene.commit("A").set_result("A")
    await starting
    assert scene.effects == ["A", "B"]


async def test_a_finished_message_leaves_nothing_for_the_garbage_collector() -> None:
    # Reference counting alone frees a handled message's task, context and slot.
    scene = Scene()
    pipeline = Pipeline()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for n in range(10):
            await pipeline.start(functools.partial(scene.archived, str(n)))
            scene.commit(str(n)).set_result(str(n))
        await pipeline.drain()
        assert pipeline.in_flight() == 0 and len(scene.effects) == 10
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, pipeline_module._Slot | asyncio.Task)]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
