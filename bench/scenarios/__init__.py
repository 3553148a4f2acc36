"""The scenarios of ``python -m bench.hub``, one module each (bench/README.md)."""
