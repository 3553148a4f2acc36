"""The fault campaign (``python -m bench.faults``): faults injected during alarm bursts, checked."""
