"""The garbage collector's settings for a serving process (``garrulus serve``).

Why: handling a message allocates a few hundred container objects (elements, events, futures,
tasks) that reference counting frees on its own. CPython's default first-generation threshold
(700 allocations) still ran a collection every few messages. Each one traversed the objects of
every message in flight (up to a thousand under load), which then survived into the older
generations and were traversed again there. Under the throughput benchmark that was about 1000
collections per 25 000 messages, 1.4 ms each on average: about 14 % of the event loop's time.

Measured in alternated runs (event-loop CPU per message; memory per idle session):
the defaults 232-278 µs, 32.8 KB; a threshold of 10 000: 190-208 µs, 33.0 KB; 50 000 (with
rarer older collections): 179-210 µs, but 36.3 KB, over the 35 KB target, as cyclic garbage
from logins waited longer. Objects in reference cycles now wait at most this many allocations.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # allocations (minus frees) between young collections; CPython: 700


def tune_for_serving() -> None:
    """Collect young objects less often; called once the server has started."""
    _, middle, full = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, middle, full)
