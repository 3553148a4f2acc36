"""Pure: which role and sites a directory user's groups give (highest role, union of sites)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dispatch.directory.ldap_directory import normal_dn
from shared.domain import OperatorRole

_RANK = {role: rank for rank, role in enumerate(OperatorRole)}  # guard < manager < admin


@dataclass(frozen=True, slots=True)
class Rights:
    role: OperatorRole
    site_ids: tuple[int, ...]  # empty: every site, as for local operators


def rights_of(
    groups: Iterable[str],
    group_roles: Mapping[str, OperatorRole],
    group_sites: Mapping[str, list[int]],
) -> Rights | None:
    """The rights the groups (normalised DNs) give, or None: no mapped role group, or (when
    sites are mapped at all) no mapped site group. Never every site by omission."""
    member = set(groups)
    roles = [role for dn, role in group_roles.items() if normal_dn(dn) in member]
    if not roles:
        return None
    role = max(roles, key=_RANK.__getitem__)
    if not group_sites:
        return Rights(role, ())
    site_lists = [sites for dn, sites in group_sites.items() if normal_dn(dn) in member]
    if not site_lists:
        return None
    if any(not sites for sites in site_lists):
        return Rights(role, ())  # a group mapped to [] covers every site
    return Rights(role, tuple(sorted({site for sites in site_lists for site in sites})))
