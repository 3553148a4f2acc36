"""The reverse-proxy recipe of docs/configuration.md, read from the page, for the nginx tests.

The tests run the blocks an admin copies, so the page cannot drift from what is
tested: only the values that must differ on a test machine (port, certificate
paths, the hubs' addresses) are replaced, each exactly once, and a recipe that no
longer has them fails here. Several hubs get one copy of the upstream's ``server``
line each, as the page tells an admin to write them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SITE_FILE = "# /etc/nginx/sites-available/silent-alarm"
ENV_FILE = "# /etc/silent-alarm/dispatch.env"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# What the documented site names on a real server, each to be replaced once.
LISTEN = "listen 443 ssl;"
CERTIFICATE = "/etc/ssl/certs/alarm.example.pem"
KEY = "/etc/ssl/private/alarm.example.key"
HUB = "127.0.0.1:8000"  # in the upstream's one ``server`` line


def documented_block(language: str, first_line: str, doc: Path = CONFIGURATION_DOC) -> str:
    """The one fenced block in ``doc`` in ``language`` that starts with ``first_line``."""
    blocks = [
        body
        for lang, body in _BLOCK.findall(doc.read_text(encoding="utf-8"))
        if lang == language and body.startswith(first_line + "\n")
    ]
    assert len(blocks) == 1, f"{doc.name}: {len(blocks)} {language} blocks start {first_line!r}"
    return str(blocks[0])


def documented_hub_env() -> dict[str, str]:
    """The hub's settings from the recipe's dispatch.env, as systemd's EnvironmentFile reads
    them (KEY=VALUE lines, comments left out)."""
    env: dict[str, str] = {}
    for line in documented_block("sh", ENV_FILE).splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def documented_site(*, port: int, certificate: Path, key: Path, hubs: Sequence[str]) -> str:
    """The recipe's nginx block with this machine's port, certificate and hubs (``host:port``
    each); it holds an ``upstream``, a ``server`` and a ``map``, all meant for nginx's
    ``http`` block."""
    site = documented_block("nginx", SITE_FILE)
    for documented, here in (
        (LISTEN, f"listen 127.0.0.1:{port} ssl;"),
        (CERTIFICATE, str(certificate)),
        (KEY, str(key)),
    ):
        assert site.count(documented) == 1, f"the nginx recipe no longer has {documented!r} once"
        site = site.replace(documented, here)
    return _one_server_line_per_hub(site, hubs)


def _one_server_line_per_hub(site: str, hubs: Sequence[str]) -> str:
    assert hubs, "an upstream needs at least one hub"
    lines = site.splitlines(keepends=True)
    upstream = [i for i, line in enumerate(lines) if HUB in line]
    assert len(upstream) == 1, f"the nginx recipe no longer has {HUB!r} once"
    (at,) = upstream
    assert lines[at].lstrip().startswith("server "), "the hub is no longer an upstream server"
    servers = [lines[at].replace(HUB, hub) for hub in hubs]
    return "".join(lines[:at] + servers + lines[at + 1 :])
