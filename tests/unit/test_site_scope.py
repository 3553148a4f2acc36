"""SiteScope: which sites an operator covers, and which operators an admin may manage."""

from __future__ import annotations

from dispatch.directory.identities import OperatorView
from dispatch.directory.site_scope import EVERY_SITE, SiteScope
from dispatch.store.models import Room
from shared.domain import OperatorRole


def _operator(*sites: int) -> OperatorView:
    return OperatorView(1, "x", "X", OperatorRole.ADMIN, frozenset(sites))


def test_an_operator_without_sites_covers_every_site_and_the_siteless() -> None:
    scope = SiteScope.of(_operator())
    assert scope == EVERY_SITE
    assert scope.unlimited
    assert scope.covers(7)
    assert scope.covers(None)


def test_an_operator_with_sites_covers_those_only() -> None:
    scope = SiteScope.of(_operator(1, 3))
    assert not scope.unlimited
    assert scope.covers(1)
    assert scope.covers(3)
    assert not scope.covers(2)
    assert not scope.covers(None)  # a row of no site: for those covering every site


def test_a_limited_admin_manages_operators_within_their_sites_only() -> None:
    scope = SiteScope.of(_operator(1, 3))
    assert scope.covers_all([1])
    assert scope.covers_all([1, 3])
    assert not scope.covers_all([1, 2])
    assert not scope.covers_all([])  # an operator covering every site
    assert EVERY_SITE.covers_all([])


def test_the_sql_condition_keeps_the_covered_sites() -> None:
    assert str(EVERY_SITE.where(Room.site_id)) == "true"
    condition = SiteScope(frozenset({3, 1})).where(Room.site_id)
    assert "rooms.site_id IN" in str(condition)
    assert condition.compile().params == {"site_id_1": [1, 3]}
