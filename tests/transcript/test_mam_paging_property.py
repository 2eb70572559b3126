"""Property, through the XMPP protocol: for a random archive built by clients sending messages
(a handful of peers and resources, a fake clock moving by random steps, so many messages share a
millisecond) and a random filter (bare/full ``with``, ``start``/``end``, ``after-id``/
``before-id``, ``ids``), paging forwards (RSM ``<after/>``) and backwards (RSM ``<before/>``)
with a random ``<max/>`` (sometimes above the server's cap) returns exactly the matching messages
in archive order, with no gap and no duplicate; ``complete`` is true exactly on the last page,
``<first/>``/``<last/>`` are exact, and ``<flip-page/>`` only reverses the sending order.
``<count/>`` and ``<first index/>`` are exact on unfiltered pages and absent from filtered ones
(counted only when asked, RSM-24), where a ``<max>0</max>`` query gives the exact count. The
expected set comes from a plain model of what was sent.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrulus.core.clock import FakeClock
from garrulus.core.server import Server
from garrulus.xmpp.datetime import format_datetime
from tests.harness import FakeSession, login, start_server
from tests.transcript.test_mam_support import MODULES, Page, chat, count_of, query, rsm_set

CAP = 5  # max_archive_query_results: some drawn <max/> values are above it (FIN-07)
T0 = datetime(2026, 6, 1, tzinfo=UTC)
# Who writes to whom. Alice's archive is the one queried; Bob and Kate are her peers.
PEERS = {"bob": ["r1", "r2"], "kate": ["k"]}
OUT_TARGETS = [
    "bob@localhost",
    "bob@localhost/r1",
    "bob@localhost/r2",
    "kate@localhost",
    "kate@localhost/k",
]
WITH_VALUES = [
    "bob@localhost",
    "kate@localhost",
    "alice{n}@localhost",  # self-messages only (FLT-04)
    "stranger@localhost",
    "bob@localhost/r1",
    "bob@localhost/r2",
    "kate@localhost/k",
    "bob@localhost/elsewhere",
    "alice{n}@localhost/a",
]

# One event: (kind, choice, clock step in ms). Kinds: a peer writes to Alice, Alice writes to a
# peer, Alice writes to herself, or two peers talk (nothing for Alice's archive).
events = st.lists(
    st.tuples(
        st.sampled_from(["in", "in", "out", "out", "self", "noise"]),
        st.integers(0, 9),
        st.sampled_from([0, 0, 0, 1, 2, 250, 1000, 60_000]),
    ),
    max_size=40,
)


@dataclass(frozen=True)
class Entry:
    """What the model says Alice's archive holds for one message."""

    body: str
    peer: str  # bare JID
    resource: str | None  # the peer's resource as the message named it
    when_ms: int  # milliseconds since T0


@dataclass
class World:
    server: Server
    clock: FakeClock
    peers: dict[str, FakeSession]  # "bob/r1" -> session
    examples: itertools.count[int]


async def make_world(tmp_path: Path) -> World:
    clock = FakeClock(T0)
    server = await start_server(
        tmp_path, MODULES, f"max_archive_query_results = {CAP}", clock=clock
    )
    peers = {}
    for user, resources in PEERS.items():
        for resource in resources:
            peers[f"{user}/{resource}"] = await login(server, f"{user}@localhost/{resource}")
    return World(server, clock, peers, itertools.count())


def ms_since_t0(when: datetime) -> int:
    return (when - T0) // timedelta(milliseconds=1)


async def build(
    world: World, n: int, raw: list[tuple[str, int, int]]
) -> tuple[FakeSession, list[Entry]]:
    """Send the drawn messages; returns Alice's session and the model of her archive."""
    alice_a = await login(world.server, f"alice{n}@localhost/a")
    alice_b = await login(world.server, f"alice{n}@localhost/b")
    alice = f"alice{n}@localhost"
    peer_keys = sorted(world.peers)
    model: list[Entry] = []
    for k, (kind, choice, step_ms) in enumerate(raw):
        world.clock.advance(timedelta(milliseconds=step_ms))
        now_ms = ms_since_t0(world.clock.now())
        body = f"e{k}"
        if kind == "in":
            key = peer_keys[choice % len(peer_keys)]
            to = alice if choice % 2 else f"{alice}/a"
            await chat(world.server, world.peers[key], to, body)
            user, resource = key.split("/")
            model.append(Entry(body, f"{user}@localhost", resource, now_ms))
        elif kind == "out":
            target = OUT_TARGETS[choice % len(OUT_TARGETS)]
            await chat(world.server, alice_a if choice % 2 else alice_b, target, body)
            bare, _, resource = target.partition("/")
            model.append(Entry(body, bare, resource or None, now_ms))
        elif kind == "self":
            await chat(world.server, alice_a, alice, body)
            model.append(Entry(body, alice, None, now_ms))
        else:
            await chat(world.server, world.peers["bob/r1"], "kate@localhost", body)
    for session in (alice_a, alice_b, *world.peers.values()):
        session.take()
    return alice_a, model


def draw_filter(
    data: st.DataObject, n: int, model: list[Entry], ids: dict[str, str]
) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {}
    if data.draw(st.booleans(), label="use with"):
        form["with"] = data.draw(st.sampled_from(WITH_VALUES), label="with").format(n=n)
    times = sorted({e.when_ms for e in model}) or [0]
    moment = st.builds(
        lambda ms, delta: format_datetime(T0 + timedelta(milliseconds=ms + delta)),
        st.sampled_from(times),
        st.sampled_from([-1, 0, 0, 1]),
    )
    if data.draw(st.booleans(), label="use start"):
        form["start"] = data.draw(moment, label="start")
    if data.draw(st.booleans(), label="use end"):
        form["end"] = data.draw(moment, label="end")
    if model:
        some_id = st.sampled_from([ids[e.body] for e in model])
        if data.draw(st.booleans(), label="use after-id"):
            form["after-id"] = data.draw(some_id, label="after-id")
        if data.draw(st.booleans(), label="use before-id"):
            form["before-id"] = data.draw(some_id, label="before-id")
        if data.draw(st.integers(0, 3), label="use ids") == 0:
            form["ids"] = data.draw(st.lists(some_id, min_size=1, max_size=6), label="ids")
    return form


def expected_bodies(
    model: list[Entry], form: dict[str, str | list[str]], ids: dict[str, str]
) -> list[str]:
    """The filtered set, straight from the definitions (archive order is send order)."""
    position = {e.body: k for k, e in enumerate(model)}
    by_id = {archive_id: body for body, archive_id in ids.items()}
    out = []
    for k, e in enumerate(model):
        with_jid = form.get("with")
        if isinstance(with_jid, str):
            bare, _, resource = with_jid.partition("/")
            if e.peer != bare or (resource and e.resource != resource):
                continue
        start, end = form.get("start"), form.get("end")
        if isinstance(start, str) and e.when_ms < ms_since_t0(datetime.fromisoformat(start)):
            continue
        if isinstance(end, str) and e.when_ms > ms_since_t0(datetime.fromisoformat(end)):
            continue
        after, before = form.get("after-id"), form.get("before-id")
        if isinstance(after, str) and k <= position[by_id[after]]:
            continue
        if isinstance(before, str) and k >= position[by_id[before]]:
            continue
        wanted = form.get("ids")
        if isinstance(wanted, list) and ids[e.body] not in wanted:
            continue
        out.append(e.body)
    return out


def check_fin(
    page: Page, shown: list[str], expected: list[str], flip: bool, filtered: bool, index: int
) -> None:
    """``shown`` is this page's ids in archive order, ``index`` the position of its first in the
    filtered set. Unfiltered pages state the count and the index (the memory store knows both
    for free); filtered pages state neither (RSM-24)."""
    assert page.count == (None if filtered else len(expected))
    if shown:
        assert (page.first, page.last) == (shown[0], shown[-1])  # RSM-20, RSM-21 under flip
        assert page.first_index == (None if filtered else index)
    else:
        assert page.first is None and page.last is None  # RSM-19
        assert page.first_index is None
    assert page.ids == (list(reversed(shown)) if flip else shown)  # FLIP-01/02, RES-09


async def page_forwards(
    world: World,
    alice: FakeSession,
    form: dict[str, str | list[str]],
    max_: int,
    flip: bool,
    expected: list[str],
    body_of: dict[str, str],
) -> None:
    seen: list[str] = []
    after: str | None = None
    for _ in range(len(expected) + 2):
        page = await query(
            world.server, alice, form=form, rsm=rsm_set(max=max_, after=after), flip=flip
        )
        assert page.ok, page.iq
        shown = list(reversed(page.ids)) if flip else page.ids
        check_fin(page, shown, expected, flip, bool(form), len(seen))
        assert len(shown) <= min(max_, CAP)
        seen += [body_of[i] for i in shown]
        # complete exactly when nothing of the set lies after this page (FIN-01..04, FIN-07)
        assert page.complete == (len(seen) == len(expected)), (seen, expected)
        if page.complete:
            break
        assert shown, "an incomplete page must make progress"
        after = page.last
    assert seen == expected


async def page_backwards(
    world: World,
    alice: FakeSession,
    form: dict[str, str | list[str]],
    max_: int,
    flip: bool,
    expected: list[str],
    body_of: dict[str, str],
) -> None:
    seen: list[str] = []
    before: str | None = None
    for _ in range(len(expected) + 2):
        rsm = rsm_set(max=max_, before=before, last_page=before is None)
        page = await query(world.server, alice, form=form, rsm=rsm, flip=flip)
        assert page.ok, page.iq
        shown = list(reversed(page.ids)) if flip else page.ids
        index = len(expected) - len(seen) - len(shown)
        check_fin(page, shown, expected, flip, bool(form), index)
        seen = [body_of[i] for i in shown] + seen
        assert page.complete == (len(seen) == len(expected)), (seen, expected)
        if page.complete:
            break
        assert shown, "an incomplete page must make progress"
        before = page.first
    assert seen == expected


def test_paging_through_the_protocol_returns_exactly_the_filtered_set(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    world = loop.run_until_complete(make_world(tmp_path))

    @settings(
        max_examples=500,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(events, st.data())
    def check(raw: list[tuple[str, int, int]], data: st.DataObject) -> None:
        n = next(world.examples)  # a fresh Alice (a fresh archive) per example

        async def run() -> None:
            alice, model = await build(world, n, raw)
            # The ids, from one unfiltered walk, checked against the model's order first.
            listed: list[str] = []
            bodies: list[str] = []
            while True:
                page = await query(
                    world.server, alice, rsm=rsm_set(max=CAP, after=listed[-1] if listed else None)
                )
                listed += page.ids
                bodies += page.bodies
                if page.complete:
                    break
            assert bodies == [e.body for e in model]
            ids = dict(zip(bodies, listed, strict=True))
            body_of = dict(zip(listed, bodies, strict=True))
            form = draw_filter(data, n, model, ids)
            expected = expected_bodies(model, form, ids)
            max_ = data.draw(st.integers(1, CAP + 3), label="max")
            flip = data.draw(st.booleans(), label="flip")
            # The count, filtered or not, as a client asks for it (RSM-16).
            assert await count_of(world.server, alice, form=form) == len(expected)
            await page_forwards(world, alice, form, max_, flip, expected, body_of)
            await page_backwards(world, alice, form, max_, flip, expected, body_of)

        loop.run_until_complete(run())

    try:
        check()
    finally:
        loop.run_until_complete(world.server.stop())
        loop.close()
