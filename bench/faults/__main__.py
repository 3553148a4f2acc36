"""``python -m bench.faults``: the fault campaign (bench/README.md, "The fault campaign")."""

from __future__ import annotations

import sys

from bench.faults.cli import main

if __name__ == "__main__":
    sys.exit(main())
