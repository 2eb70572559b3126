"""The presence subscription state machine of RFC 6121 Appendix A, as a pure table.

Every (direction, stanza type, existing state) row of Appendix A is one entry of :data:`TABLE`:
whether the server routes the stanza (outbound, A.2) or delivers it to the user (inbound, A.3),
and the new state. Pre-approval (RFC 6121 3.4) is layered on top in :func:`transition`.

No I/O here: the presence module reads the state from the roster, asks :func:`transition` and
applies the :class:`Outcome`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from garrulus.modules.roster.item import RosterItem, Subscription


class Direction(enum.Enum):
    OUTBOUND = "outbound"  # the user sent it (RFC 6121 A.2)
    INBOUND = "inbound"  # it arrived for the user (RFC 6121 A.3)


class SubType(enum.Enum):
    SUBSCRIBE = "subscribe"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBE = "unsubscribe"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True, slots=True)
class SubState:
    """The user's side of one contact relationship (RFC 6121 A.1)."""

    subscription: Subscription = Subscription.NONE
    pending_out: bool = False  # the user asked for the contact's presence, no answer yet
    pending_in: bool = False  # the contact asked for the user's presence, no answer yet
    approved: bool = False  # RFC 6121 3.4: the user pre-approved a request from the contact

    @staticmethod
    def of(item: RosterItem | None, pending_in: bool) -> SubState:
        if item is None:
            return SubState(pending_in=pending_in)
        return SubState(item.subscription, item.ask, pending_in, item.approved)

    @property
    def label(self) -> str:
        """The state's name as RFC 6121 A.1 spells it, e.g. ``None + Pending Out/In``."""
        base = self.subscription.value.capitalize()
        pending = [p for p, on in (("Out", self.pending_out), ("In", self.pending_in)) if on]
        text = f"{base} + Pending {'/'.join(pending)}" if pending else base
        return f"{text} + Pre-approved" if self.approved else text


@dataclass(frozen=True, slots=True)
class Outcome:
    state: SubState
    forward: bool  # outbound: route to the contact; inbound: deliver to the user's resources
    auto_reply: SubType | None = None  # inbound: answer the contact on the user's behalf


_N, _T, _F, _B = Subscription.NONE, Subscription.TO, Subscription.FROM, Subscription.BOTH
NONE = SubState(_N)
NONE_OUT = SubState(_N, pending_out=True)
NONE_IN = SubState(_N, pending_in=True)
NONE_OUT_IN = SubState(_N, pending_out=True, pending_in=True)
TO = SubState(_T)
TO_IN = SubState(_T, pending_in=True)
FROM = SubState(_F)
FROM_OUT = SubState(_F, pending_out=True)
BOTH = SubState(_B)
STATES = (NONE, NONE_OUT, NONE_IN, NONE_OUT_IN, TO, TO_IN, FROM, FROM_OUT, BOTH)

_OUT, _IN = Direction.OUTBOUND, Direction.INBOUND
_SUB, _SUBD = SubType.SUBSCRIBE, SubType.SUBSCRIBED
_UNSUB, _UNSUBD = SubType.UNSUBSCRIBE, SubType.UNSUBSCRIBED
_YES, _NO = True, False

# (direction, type, existing state) -> (route or deliver?, new state or None for "no change").
_Row = tuple[bool, SubState | None]
# fmt: off
TABLE: dict[tuple[Direction, SubType, SubState], _Row] = {
    # A.2.1 outbound "subscribe": always routed (the contact's server may have lost its state).
    (_OUT, _SUB, NONE): (_YES, NONE_OUT),
    (_OUT, _SUB, NONE_OUT): (_YES, None),
    (_OUT, _SUB, NONE_IN): (_YES, NONE_OUT_IN),
    (_OUT, _SUB, NONE_OUT_IN): (_YES, None),
    (_OUT, _SUB, TO): (_YES, None),
    (_OUT, _SUB, TO_IN): (_YES, None),
    (_OUT, _SUB, FROM): (_YES, FROM_OUT),
    (_OUT, _SUB, FROM_OUT): (_YES, None),
    (_OUT, _SUB, BOTH): (_YES, None),
    # A.2.2 outbound "unsubscribe": always routed.
    (_OUT, _UNSUB, NONE): (_YES, None),
    (_OUT, _UNSUB, NONE_OUT): (_YES, NONE),
    (_OUT, _UNSUB, NONE_IN): (_YES, None),
    (_OUT, _UNSUB, NONE_OUT_IN): (_YES, NONE_IN),
    (_OUT, _UNSUB, TO): (_YES, NONE),
    (_OUT, _UNSUB, TO_IN): (_YES, NONE_IN),
    (_OUT, _UNSUB, FROM): (_YES, None),
    (_OUT, _UNSUB, FROM_OUT): (_YES, FROM),
    (_OUT, _UNSUB, BOTH): (_YES, FROM),
    # A.2.3 outbound "subscribed": only an answer to a pending request is routed.
    (_OUT, _SUBD, NONE): (_NO, None),
    (_OUT, _SUBD, NONE_OUT): (_NO, None),
    (_OUT, _SUBD, NONE_IN): (_YES, FROM),
    (_OUT, _SUBD, NONE_OUT_IN): (_YES, FROM_OUT),
    (_OUT, _SUBD, TO): (_NO, None),
    (_OUT, _SUBD, TO_IN): (_YES, BOTH),
    (_OUT, _SUBD, FROM): (_NO, None),
    (_OUT, _SUBD, FROM_OUT): (_NO, None),
    (_OUT, _SUBD, BOTH): (_NO, None),
    # A.2.4 outbound "unsubscribed": refuses a request or cancels the contact's subscription.
    (_OUT, _UNSUBD, NONE): (_NO, None),
    (_OUT, _UNSUBD, NONE_OUT): (_NO, None),
    (_OUT, _UNSUBD, NONE_IN): (_YES, NONE),
    (_OUT, _UNSUBD, NONE_OUT_IN): (_YES, NONE_OUT),
    (_OUT, _UNSUBD, TO): (_NO, None),
    (_OUT, _UNSUBD, TO_IN): (_YES, TO),
    (_OUT, _UNSUBD, FROM): (_YES, NONE),
    (_OUT, _UNSUBD, FROM_OUT): (_YES, NONE_OUT),
    (_OUT, _UNSUBD, BOTH): (_YES, TO),
    # A.3.1 inbound "subscribe" (the From rows are auto-answered, see _AUTO_SUBSCRIBED).
    (_IN, _SUB, NONE): (_YES, NONE_IN),
    (_IN, _SUB, NONE_OUT): (_YES, NONE_OUT_IN),
    (_IN, _SUB, NONE_IN): (_NO, None),
    (_IN, _SUB, NONE_OUT_IN): (_NO, None),
    (_IN, _SUB, TO): (_YES, TO_IN),
    (_IN, _SUB, TO_IN): (_NO, None),
    (_IN, _SUB, FROM): (_NO, None),
    (_IN, _SUB, FROM_OUT): (_NO, None),
    (_IN, _SUB, BOTH): (_NO, None),
    # A.3.2 inbound "unsubscribe".
    (_IN, _UNSUB, NONE): (_NO, None),
    (_IN, _UNSUB, NONE_OUT): (_NO, None),
    (_IN, _UNSUB, NONE_IN): (_YES, NONE),
    (_IN, _UNSUB, NONE_OUT_IN): (_YES, NONE_OUT),
    (_IN, _UNSUB, TO): (_NO, None),
    (_IN, _UNSUB, TO_IN): (_YES, TO),
    (_IN, _UNSUB, FROM): (_YES, NONE),
    (_IN, _UNSUB, FROM_OUT): (_YES, NONE_OUT),
    (_IN, _UNSUB, BOTH): (_YES, TO),
    # A.3.3 inbound "subscribed": only an answer to the user's pending request counts.
    (_IN, _SUBD, NONE): (_NO, None),
    (_IN, _SUBD, NONE_OUT): (_YES, TO),
    (_IN, _SUBD, NONE_IN): (_NO, None),
    (_IN, _SUBD, NONE_OUT_IN): (_YES, TO_IN),
    (_IN, _SUBD, TO): (_NO, None),
    (_IN, _SUBD, TO_IN): (_NO, None),
    (_IN, _SUBD, FROM): (_NO, None),
    (_IN, _SUBD, FROM_OUT): (_YES, BOTH),
    (_IN, _SUBD, BOTH): (_NO, None),
    # A.3.4 inbound "unsubscribed".
    (_IN, _UNSUBD, NONE): (_NO, None),
    (_IN, _UNSUBD, NONE_OUT): (_YES, NONE),
    (_IN, _UNSUBD, NONE_IN): (_NO, None),
    (_IN, _UNSUBD, NONE_OUT_IN): (_YES, NONE_IN),
    (_IN, _UNSUBD, TO): (_YES, NONE),
    (_IN, _UNSUBD, TO_IN): (_YES, NONE_IN),
    (_IN, _UNSUBD, FROM): (_NO, None),
    (_IN, _UNSUBD, FROM_OUT): (_YES, FROM),
    (_IN, _UNSUBD, BOTH): (_YES, FROM),
}
# fmt: on

# RFC 6121 3.1.3: a request from a contact already subscribed to the user is answered by the
# server ("subscribed") instead of bothering the user; the contact's server has lost its state.
_AUTO_SUBSCRIBED = frozenset((FROM, FROM_OUT, BOTH))

# RFC 6121 3.4.1: the states in which the user may pre-approve a contact's future request.
PRE_APPROVABLE = frozenset((NONE, NONE_OUT, TO))


def transition(
    state: SubState, kind: SubType, direction: Direction, *, pre_approval: bool = True
) -> Outcome:
    """What the server does with a subscription stanza of ``kind`` in ``state``."""
    if state.approved and (state.subscription.has_from or state.pending_in):
        state = replace(state, approved=False)  # meaningless there; never stored that way
    base = replace(state, approved=False)
    if state.approved:
        if direction is _IN and kind is _SUB:
            # RFC 6121 3.4.2: the pre-approved request is accepted at once, without the user.
            subscribed = Subscription.of(base.subscription.has_to, True)
            return Outcome(replace(base, subscription=subscribed), False, _SUBD)
        if direction is _OUT and kind is _UNSUBD:
            return Outcome(base, False)  # RFC 6121 3.4.1: cancels the pre-approval
        if direction is _OUT and kind is _SUBD:
            return Outcome(state, False)  # already pre-approved
    elif pre_approval and direction is _OUT and kind is _SUBD and base in PRE_APPROVABLE:
        return Outcome(replace(base, approved=True), False)  # RFC 6121 3.4.1
    forward, new = TABLE[direction, kind, base]
    new_state = base if new is None else new
    if state.approved and not new_state.subscription.has_from and not new_state.pending_in:
        new_state = replace(new_state, approved=True)  # the approval outlives other changes
    reply = _SUBD if direction is _IN and kind is _SUB and base in _AUTO_SUBSCRIBED else None
    return Outcome(new_state, forward, reply)
