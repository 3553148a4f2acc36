"""The reverse-proxy recipe in docs/configuration.md as the nginx test reads it
(tests/support/proxy_recipe.py): the hub's settings it gives, the site it makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.settings import Settings
from tests.support import proxy_recipe
from tests.support.proxy_recipe import documented_block, documented_hub_env, documented_site


def test_the_documented_hub_settings_trust_only_the_proxy_and_mark_cookies_secure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in documented_hub_env().items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "127.0.0.1"  # only the proxy reaches the hub
    assert settings.trusted_proxies == ["127.0.0.1"]
    assert settings.https_only  # Secure cookies and HSTS though the hub has no certificate
    assert not settings.tls


def test_the_documented_site_takes_this_machines_port_certificate_and_hub() -> None:
    site = documented_site(
        port=8443, certificate=Path("/t/server.pem"), key=Path("/t/server.key"), hubs=["h:1"]
    )
    assert "listen 127.0.0.1:8443 ssl;" in site
    assert "ssl_certificate     /t/server.pem;" in site
    assert "ssl_certificate_key /t/server.key;" in site
    assert upstream_servers(site) == ["server h:1 max_fails=1 fail_timeout=10s;"]
    assert "proxy_pass http://silent_alarm_hubs;" in site
    for documented in (
        proxy_recipe.LISTEN,
        proxy_recipe.CERTIFICATE,
        proxy_recipe.KEY,
        proxy_recipe.HUB,
    ):
        assert documented not in site
    assert "map $http_upgrade $connection_upgrade" in site  # the WebSocket upgrade comes along


def test_several_hubs_get_one_upstream_server_line_each() -> None:
    """docs/configuration.md "Several hubs": one ``server`` line per hub instance, and a
    request or WebSocket that finds one dead goes to the next."""
    site = documented_site(
        port=8443, certificate=Path("/t/s.pem"), key=Path("/t/s.key"), hubs=["h:1", "h:2"]
    )
    assert upstream_servers(site) == [
        "server h:1 max_fails=1 fail_timeout=10s;",
        "server h:2 max_fails=1 fail_timeout=10s;",
    ]
    assert "proxy_next_upstream error timeout;" in site
    assert "proxy_connect_timeout 2s;" in site


def upstream_servers(site: str) -> list[str]:
    """The ``server`` lines of the site's upstream block, comments left out."""
    block = site.split("upstream silent_alarm_hubs {", 1)[1].split("}", 1)[0]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_a_page_without_exactly_one_such_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    block = "```nginx\n# /etc/nginx/sites-available/silent-alarm\nserver {}\n```\n"
    page.write_text("no recipe\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="0 nginx blocks"):
        documented_block("nginx", proxy_recipe.SITE_FILE, page)
    page.write_text(block + block, encoding="utf-8")
    with pytest.raises(AssertionError, match="2 nginx blocks"):
        documented_block("nginx", proxy_recipe.SITE_FILE, page)
    page.write_text(block, encoding="utf-8")
    assert documented_block("nginx", proxy_recipe.SITE_FILE, page).endswith("server {}\n")
