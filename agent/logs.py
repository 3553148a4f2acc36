"""Logging to a rotating file in the platform's log folder, for the support desk."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, file_name: str, *, stderr: bool = False) -> Path:
    """Send INFO and above to log_dir/file_name (1 MiB x 5); returns the file's path.

    Callers never pass a token or a key to the log: the hub token is a SecretStr
    and the hotkey layer has no key to give.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / file_name
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(console)
    # websockets logs frames at DEBUG only; keep its INFO noise out as well.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    return path
