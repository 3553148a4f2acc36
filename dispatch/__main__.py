"""`python -m dispatch` is the same as `silent-alarm-dispatch`."""

from dispatch.cli import main

main()
