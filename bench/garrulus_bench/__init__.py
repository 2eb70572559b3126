"""Garrulus's own benchmark: throughput, MAM query latency and memory, side by side with Prosody.

Run it with ``python3 bench/run.py --help``; see ``bench/README.md``. Never run by the test suite.
"""

__version__ = "1.0"
