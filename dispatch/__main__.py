"""`python -m dispatch` and `silent-alarm-dispatch`: the uvicorn check, then the command line."""

from __future__ import annotations

from dispatch.runtime.gcpause import imports_without_collections
from dispatch.runtime.uvicorn_support import refuse_unsupported_uvicorn


def main() -> None:
    refuse_unsupported_uvicorn()  # before dispatch.cli imports uvicorn's internals
    with imports_without_collections():
        from dispatch.cli import main as cli_main  # only after the check

    cli_main()


if __name__ == "__main__":
    main()
