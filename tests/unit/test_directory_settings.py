"""The directory's settings refuse what would be unsafe or useless, and groups map to rights
(highest role, union of sites, never every site by omission)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dispatch.cli import cli
from dispatch.directory.directory_rights import Rights, rights_of
from dispatch.directory.ldap_directory import normal_dn
from dispatch.settings import Settings
from shared.domain import OperatorRole

GUARDS = "cn=Wache,ou=Groups,dc=example,dc=org"
ADMINS = "cn=admins,ou=groups,dc=example,dc=org"
SITE_1 = "cn=standort-1,ou=groups,dc=example,dc=org"
SITE_2 = "cn=standort-2,ou=groups,dc=example,dc=org"
EVERY = "cn=alle,ou=groups,dc=example,dc=org"

DIRECTORY: dict[str, Any] = {
    "ldap_url": "ldaps://dc1.example.org",
    "ldap_bind_dn": "cn=hub,dc=example,dc=org",
    "ldap_bind_password": "dienstkonto",
    "ldap_user_base": "dc=example,dc=org",
    "ldap_group_roles": {GUARDS: "guard"},
}


def test_a_complete_directory_over_ldaps_is_taken() -> None:
    settings = Settings(**DIRECTORY)
    assert settings.ldap_group_roles == {GUARDS: OperatorRole.GUARD}
    assert "dienstkonto" not in repr(settings)  # the bind password never shows in a repr


def test_start_tls_makes_ldap_urls_acceptable() -> None:
    Settings(**{**DIRECTORY, "ldap_url": "ldap://dc1.example.org", "ldap_start_tls": True})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ldap_url": "ldap://dc1.example.org"}, "clear text"),
        ({"ldap_url": "ldaps://dc1.example.org", "ldap_start_tls": True}, "ldaps:// is TLS"),
        ({"ldap_url": "http://dc1.example.org"}, "must be ldaps://"),
        ({"ldap_url": "ldaps://"}, "must be ldaps://"),
        ({"ldap_bind_password": None}, "LDAP_BIND_PASSWORD"),
        ({"ldap_bind_dn": ""}, "LDAP_BIND_DN"),
        ({"ldap_user_base": ""}, "LDAP_USER_BASE"),
        ({"ldap_group_roles": {}}, "LDAP_GROUP_ROLES"),
        ({"ldap_group_roles": {GUARDS: "chef"}}, "guard"),
        ({"ldap_group_filter": "(member=uid)"}, "{user_dn}"),
        ({"ldap_user_filter": "objectClass=person"}, "not an LDAP filter"),
        ({"ldap_disabled_filter": "(a=1))(b=2"}, "not an LDAP filter"),
        ({"ldap_computer_filter": "((objectClass=computer)"}, "not an LDAP filter"),
    ],
)
def test_unsafe_or_incomplete_directory_settings_refuse_to_start(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**DIRECTORY, **change})


def test_plain_ldap_only_with_the_explicit_test_setting() -> None:
    Settings(**{**DIRECTORY, "ldap_url": "ldap://127.0.0.1:3890", "ldap_allow_plaintext": True})


def test_dns_compare_in_any_spelling() -> None:
    assert normal_dn("CN=Wache, OU=Groups,DC=example,DC=org") == normal_dn(GUARDS.lower())


def groups(*dns: str) -> frozenset[str]:
    return frozenset(normal_dn(dn) for dn in dns)


ROLES = {GUARDS: OperatorRole.GUARD, ADMINS: OperatorRole.ADMIN}


def test_several_groups_give_the_highest_role() -> None:
    assert rights_of(groups(GUARDS, ADMINS), ROLES, {}) == Rights(OperatorRole.ADMIN, ())
    assert rights_of(groups(GUARDS), ROLES, {}) == Rights(OperatorRole.GUARD, ())


def test_no_mapped_group_gives_no_rights() -> None:
    assert rights_of(groups("cn=kantine,ou=groups,dc=example,dc=org"), ROLES, {}) is None


def test_sites_are_the_union_of_the_site_groups() -> None:
    sites = {SITE_1: [1], SITE_2: [2, 3], EVERY: []}
    assert rights_of(groups(GUARDS, SITE_1, SITE_2), ROLES, sites) == Rights(
        OperatorRole.GUARD, (1, 2, 3)
    )
    assert rights_of(groups(GUARDS, SITE_1, EVERY), ROLES, sites) == Rights(OperatorRole.GUARD, ())


def test_without_a_site_group_there_are_no_rights_when_sites_are_mapped() -> None:
    # Never every site by omission: an operator no site group covers gets nothing.
    assert rights_of(groups(GUARDS), ROLES, {SITE_1: [1]}) is None


@pytest.mark.parametrize("flags", [[], ["--dry-run", "--apply"]])
def test_the_sync_command_needs_exactly_one_of_dry_run_and_apply(flags: list[str]) -> None:
    result = CliRunner().invoke(cli, ["directory", "sync", *flags])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "silent-alarm-dispatch: say --dry-run (report only) or --apply (change the mapping)"
    )


def test_the_sync_command_without_a_directory_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SILENT_ALARM_LDAP_URL", raising=False)
    result = CliRunner().invoke(cli, ["directory", "sync", "--dry-run"])
    assert result.exit_code == 2
    assert "no directory configured: set SILENT_ALARM_LDAP_URL" in result.stderr
