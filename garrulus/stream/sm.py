"""XEP-0198 stream management bookkeeping, sans I/O: counters and the unacknowledged queue."""

from __future__ import annotations

from collections import deque

from garrulus.xmpp.errors import StreamError

_H_MOD = 2**32  # h wraps at 2^32 (XEP-0198 section 4)


class AckState:
    """What one stream has handled (inbound) and what the peer has acknowledged (outbound)."""

    def __init__(self) -> None:
        self.handled_in = 0  # stanzas from the client we handled: our h
        self.acked_out = 0  # stanzas the client acknowledged: its last h
        self.sent_out = 0  # stanzas sent while management was on
        # Serialised at send time: later changes to an Element (another module stamping it)
        # cannot alter what the client is sent again on resumption.
        self.unacked: deque[str] = deque()

    def count_in(self) -> None:
        self.handled_in = (self.handled_in + 1) % _H_MOD

    def record_out(self, stanza: str) -> None:
        self.sent_out = (self.sent_out + 1) % _H_MOD
        self.unacked.append(stanza)

    def ack(self, h: int) -> list[str]:
        """Take the peer's h; returns the stanzas it newly acknowledged."""
        newly = (h - self.acked_out) % _H_MOD
        if newly > len(self.unacked):
            raise StreamError(
                "undefined-condition",
                f"acknowledged {h} stanzas but only {self.sent_out} were sent",
            )
        done = [self.unacked.popleft() for _ in range(newly)]
        self.acked_out = h % _H_MOD
        return done


def parse_h(value: str | None) -> int:
    try:
        h = int(value or "")
    except ValueError:
        raise StreamError("undefined-condition", "h must be a number") from None
    if not 0 <= h < _H_MOD:
        raise StreamError("undefined-condition", "h out of range")
    return h
