"""core/gc_tuning.py: a serving process collects garbage far less often than CPython's default."""

from __future__ import annotations

import gc

from garrulus.core.gc_tuning import tune_for_serving


def test_serving_raises_the_collection_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_for_serving()
        young, middle, full = gc.get_threshold()
        assert young >= 10 * 700 and (middle, full) == before[1:]
        assert gc.isenabled()  # still collects cycles, only less often
    finally:
        gc.set_threshold(*before)
