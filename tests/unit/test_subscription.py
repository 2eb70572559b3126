"""RFC 6121 Appendix A, row by row, against the pure subscription table.

The expected rows are copied from the RFC's tables (states spelled as the RFC spells them), so a
typo in the implementation's table cannot hide behind the same typo in the test. Pre-approval
(RFC 6121 3.4) rows follow.
"""

from __future__ import annotations

import pytest

from garrulus.modules.presence.subscription import (
    STATES,
    TABLE,
    Direction,
    SubState,
    SubType,
    transition,
)
from garrulus.modules.roster.item import RosterItem, Subscription

NO_CHANGE = "no state change"

# (direction, stanza type, existing state, route/deliver?, new state)
APPENDIX_A: list[tuple[str, str, str, str, str]] = [
    # A.2.1 Outbound "subscribe"
    ("outbound", "subscribe", "None", "yes", "None + Pending Out"),
    ("outbound", "subscribe", "None + Pending Out", "yes", NO_CHANGE),
    ("outbound", "subscribe", "None + Pending In", "yes", "None + Pending Out/In"),
    ("outbound", "subscribe", "None + Pending Out/In", "yes", NO_CHANGE),
    ("outbound", "subscribe", "To", "yes", NO_CHANGE),
    ("outbound", "subscribe", "To + Pending In", "yes", NO_CHANGE),
    ("outbound", "subscribe", "From", "yes", "From + Pending Out"),
    ("outbound", "subscribe", "From + Pending Out", "yes", NO_CHANGE),
    ("outbound", "subscribe", "Both", "yes", NO_CHANGE),
    # A.2.2 Outbound "unsubscribe"
    ("outbound", "unsubscribe", "None", "yes", NO_CHANGE),
    ("outbound", "unsubscribe", "None + Pending Out", "yes", "None"),
    ("outbound", "unsubscribe", "None + Pending In", "yes", NO_CHANGE),
    ("outbound", "unsubscribe", "None + Pending Out/In", "yes", "None + Pending In"),
    ("outbound", "unsubscribe", "To", "yes", "None"),
    ("outbound", "unsubscribe", "To + Pending In", "yes", "None + Pending In"),
    ("outbound", "unsubscribe", "From", "yes", NO_CHANGE),
    ("outbound", "unsubscribe", "From + Pending Out", "yes", "From"),
    ("outbound", "unsubscribe", "Both", "yes", "From"),
    # A.2.3 Outbound "subscribed" (the "no" rows without pre-approval; see below for it)
    ("outbound", "subscribed", "None", "no", NO_CHANGE),
    ("outbound", "subscribed", "None + Pending Out", "no", NO_CHANGE),
    ("outbound", "subscribed", "None + Pending In", "yes", "From"),
    ("outbound", "subscribed", "None + Pending Out/In", "yes", "From + Pending Out"),
    ("outbound", "subscribed", "To", "no", NO_CHANGE),
    ("outbound", "subscribed", "To + Pending In", "yes", "Both"),
    ("outbound", "subscribed", "From", "no", NO_CHANGE),
    ("outbound", "subscribed", "From + Pending Out", "no", NO_CHANGE),
    ("outbound", "subscribed", "Both", "no", NO_CHANGE),
    # A.2.4 Outbound "unsubscribed"
    ("outbound", "unsubscribed", "None", "no", NO_CHANGE),
    ("outbound", "unsubscribed", "None + Pending Out", "no", NO_CHANGE),
    ("outbound", "unsubscribed", "None + Pending In", "yes", "None"),
    ("outbound", "unsubscribed", "None + Pending Out/In", "yes", "None + Pending Out"),
    ("outbound", "unsubscribed", "To", "no", NO_CHANGE),
    ("outbound", "unsubscribed", "To + Pending In", "yes", "To"),
    ("outbound", "unsubscribed", "From", "yes", "None"),
    ("outbound", "unsubscribed", "From + Pending Out", "yes", "None + Pending Out"),
    ("outbound", "unsubscribed", "Both", "yes", "To"),
    # A.3.1 Inbound "subscribe"
    ("inbound", "subscribe", "None", "yes", "None + Pending In"),
    ("inbound", "subscribe", "None + Pending Out", "yes", "None + Pending Out/In"),
    ("inbound", "subscribe", "None + Pending In", "no", NO_CHANGE),
    ("inbound", "subscribe", "None + Pending Out/In", "no", NO_CHANGE),
    ("inbound", "subscribe", "To", "yes", "To + Pending In"),
    ("inbound", "subscribe", "To + Pending In", "no", NO_CHANGE),
    ("inbound", "subscribe", "From", "no", NO_CHANGE),
    ("inbound", "subscribe", "From + Pending Out", "no", NO_CHANGE),
    ("inbound", "subscribe", "Both", "no", NO_CHANGE),
    # A.3.2 Inbound "unsubscribe"
    ("inbound", "unsubscribe", "None", "no", NO_CHANGE),
    ("inbound", "unsubscribe", "None + Pending Out", "no", NO_CHANGE),
    ("inbound", "unsubscribe", "None + Pending In", "yes", "None"),
    ("inbound", "unsubscribe", "None + Pending Out/In", "yes", "None + Pending Out"),
    ("inbound", "unsubscribe", "To", "no", NO_CHANGE),
    ("inbound", "unsubscribe", "To + Pending In", "yes", "To"),
    ("inbound", "unsubscribe", "From", "yes", "None"),
    ("inbound", "unsubscribe", "From + Pending Out", "yes", "None + Pending Out"),
    ("inbound", "unsubscribe", "Both", "yes", "To"),
    # A.3.3 Inbound "subscribed"
    ("inbound", "subscribed", "None", "no", NO_CHANGE),
    ("inbound", "subscribed", "None + Pending Out", "yes", "To"),
    ("inbound", "subscribed", "None + Pending In", "no", NO_CHANGE),
    ("inbound", "subscribed", "None + Pending Out/In", "yes", "To + Pending In"),
    ("inbound", "subscribed", "To", "no", NO_CHANGE),
    ("inbound", "subscribed", "To + Pending In", "no", NO_CHANGE),
    ("inbound", "subscribed", "From", "no", NO_CHANGE),
    ("inbound", "subscribed", "From + Pending Out", "yes", "Both"),
    ("inbound", "subscribed", "Both", "no", NO_CHANGE),
    # A.3.4 Inbound "unsubscribed"
    ("inbound", "unsubscribed", "None", "no", NO_CHANGE),
    ("inbound", "unsubscribed", "None + Pending Out", "yes", "None"),
    ("inbound", "unsubscribed", "None + Pending In", "no", NO_CHANGE),
    ("inbound", "unsubscribed", "None + Pending Out/In", "yes", "None + Pending In"),
    ("inbound", "unsubscribed", "To", "yes", "None"),
    ("inbound", "unsubscribed", "To + Pending In", "yes", "None + Pending In"),
    ("inbound", "unsubscribed", "From", "no", NO_CHANGE),
    ("inbound", "unsubscribed", "From + Pending Out", "yes", "From"),
    ("inbound", "unsubscribed", "Both", "yes", "From"),
]


def state(label: str) -> SubState:
    """Parse an RFC 6121 A.1 state name ("None + Pending Out/In", "To + Pending In" ...)."""
    base, _, rest = label.partition(" + ")
    approved = rest.endswith("Pre-approved")
    pending = rest.removesuffix("Pre-approved").removesuffix(" + ").removeprefix("Pending ")
    flags = set(pending.split("/")) if pending else set()
    assert flags <= {"Out", "In"}, label
    return SubState(Subscription(base.lower()), "Out" in flags, "In" in flags, approved)


def test_every_row_of_appendix_a_is_listed_once() -> None:
    rows = {(d, t, s) for d, t, s, _, _ in APPENDIX_A}
    assert len(rows) == len(APPENDIX_A) == 72
    assert {(Direction(d), SubType(t), state(s)) for d, t, s in rows} == set(TABLE)
    assert {state(s) for _, _, s, _, _ in APPENDIX_A} == set(STATES)


@pytest.mark.parametrize(("direction", "kind", "existing", "forward", "new"), APPENDIX_A)
def test_appendix_a(direction: str, kind: str, existing: str, forward: str, new: str) -> None:
    before = state(existing)
    outcome = transition(before, SubType(kind), Direction(direction), pre_approval=False)
    assert outcome.forward is (forward == "yes")
    assert outcome.state == (before if new == NO_CHANGE else state(new))


@pytest.mark.parametrize("existing", ["From", "From + Pending Out", "Both"])
def test_inbound_subscribe_from_a_subscriber_is_answered_by_the_server(existing: str) -> None:
    # RFC 6121 3.1.3: the contact's server lost the subscription; we confirm it again.
    outcome = transition(state(existing), SubType.SUBSCRIBE, Direction.INBOUND)
    assert outcome.auto_reply is SubType.SUBSCRIBED
    assert not outcome.forward


def test_no_other_row_answers_by_itself() -> None:
    for direction, kind, existing, _, _ in APPENDIX_A:
        if (direction, kind) == ("inbound", "subscribe") and existing.startswith(("From", "Both")):
            continue
        outcome = transition(state(existing), SubType(kind), Direction(direction))
        assert outcome.auto_reply is None, (direction, kind, existing)


# RFC 6121 3.4: pre-approval, in the three states where the user may give it.
PRE_APPROVAL: list[tuple[str, str, str, str, str, str | None]] = [
    # The user pre-approves: recorded, not routed (3.4.1).
    ("outbound", "subscribed", "None", "no", "None + Pre-approved", None),
    (
        "outbound",
        "subscribed",
        "None + Pending Out",
        "no",
        "None + Pending Out + Pre-approved",
        None,
    ),
    ("outbound", "subscribed", "To", "no", "To + Pre-approved", None),
    ("outbound", "subscribed", "To + Pre-approved", "no", "To + Pre-approved", None),
    # The contact asks: approved by the server, the user is not bothered (3.4.2).
    ("inbound", "subscribe", "None + Pre-approved", "no", "From", "subscribed"),
    (
        "inbound",
        "subscribe",
        "None + Pending Out + Pre-approved",
        "no",
        "From + Pending Out",
        "subscribed",
    ),
    ("inbound", "subscribe", "To + Pre-approved", "no", "Both", "subscribed"),
    # The user withdraws the pre-approval.
    ("outbound", "unsubscribed", "None + Pre-approved", "no", "None", None),
    ("outbound", "unsubscribed", "To + Pre-approved", "no", "To", None),
    # Other changes keep it.
    (
        "outbound",
        "subscribe",
        "None + Pre-approved",
        "yes",
        "None + Pending Out + Pre-approved",
        None,
    ),
    (
        "inbound",
        "subscribed",
        "None + Pending Out + Pre-approved",
        "yes",
        "To + Pre-approved",
        None,
    ),
    ("inbound", "unsubscribed", "To + Pre-approved", "yes", "None + Pre-approved", None),
    ("outbound", "unsubscribe", "To + Pre-approved", "yes", "None + Pre-approved", None),
]


@pytest.mark.parametrize(("direction", "kind", "existing", "forward", "new", "reply"), PRE_APPROVAL)
def test_pre_approval(
    direction: str, kind: str, existing: str, forward: str, new: str, reply: str | None
) -> None:
    outcome = transition(state(existing), SubType(kind), Direction(direction))
    assert outcome.forward is (forward == "yes")
    assert outcome.state == state(new)
    assert outcome.auto_reply == (SubType(reply) if reply else None)


def test_pre_approval_can_be_turned_off() -> None:
    for label in ("None", "None + Pending Out", "To"):
        off = transition(state(label), SubType.SUBSCRIBED, Direction.OUTBOUND, pre_approval=False)
        on = transition(state(label), SubType.SUBSCRIBED, Direction.OUTBOUND)
        assert off.state == state(label) and not off.forward
        assert on.state.approved and not on.forward


def test_labels_match_the_rfc_names() -> None:
    assert [s.label for s in STATES] == [
        "None",
        "None + Pending Out",
        "None + Pending In",
        "None + Pending Out/In",
        "To",
        "To + Pending In",
        "From",
        "From + Pending Out",
        "Both",
    ]


def test_state_of_a_roster_item() -> None:
    item = RosterItem("bob@localhost", subscription=Subscription.TO, ask=False, approved=True)
    assert SubState.of(item, pending_in=False).label == "To + Pre-approved"
    assert SubState.of(None, pending_in=True).label == "None + Pending In"
