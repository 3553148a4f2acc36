"""Imports PySide6 without its import hook keeping the source of every later module in memory.

PySide6 replaces ``__import__`` (for ``from __feature__ import snake_case``) and,
for every module named in an import statement after it, reads the module's
whole source with ``inspect.getsource`` to see whether it mentions PySide6
(PYSIDE-2029). ``inspect`` reads through ``linecache``, which keeps every line
for the life of the process: about 9 MB in the tray agent, a tenth of its idle
RSS. Clearing ``linecache`` afterwards returns nothing to the OS (the lines sit
between live objects), so the check is replaced before anything else is
imported: same answer, the file read once and nothing kept. The agent selects no
``__feature__``, and other programs are not touched: only the agent calls this.
"""

from __future__ import annotations

import importlib
import linecache
import logging
from types import ModuleType

log = logging.getLogger(__name__)


def import_pyside() -> bool:
    """Import PySide6 and make its per-import check keep nothing; False if it could not.

    Call before the first Qt import (``agent.app``). A PySide6 without the check
    (a future version) is left as it is, with one log line.
    """
    import PySide6  # noqa: F401  (installs the import hook and its check)

    try:
        feature: ModuleType | None = importlib.import_module("PySide6.support.feature")
    except ImportError:
        feature = None
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        log.info("PySide6 has no per-import source check here; nothing to change")
        return False
    setattr(feature, "_mod_uses_pyside", mentions_pyside)  # noqa: B010  (a private name)
    # What PySide6 read while importing itself (enum.py, shiboken6): freed this
    # early, the space is reused by the imports that follow.
    linecache.clearcache()
    return True


def mentions_pyside(module: ModuleType) -> bool:
    """PySide6's own test (does the source mention "PySide6"?) without ``linecache``."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return False  # built in, compiled or frozen: inspect finds no source either
    try:
        with open(path, "rb") as source:
            return b"PySide6" in source.read()
    except OSError:
        return False
