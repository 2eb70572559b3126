#!/usr/bin/env python3
"""Garrulus benchmark entry point: ``python3 bench/run.py --help`` (see bench/README.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from garrulus_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
