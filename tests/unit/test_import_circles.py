"""No import circles inside a package: its modules' imports form a graph without cycles.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a
circle hidden that way still means two modules that cannot be read (or moved)
one without the other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_graph import circles, import_graph


def test_a_circle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_graph_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n"
    )
    graph = import_graph("pkg", tmp_path)
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.sub.b"},
        "pkg.sub": {"pkg.sub.b"},
        "pkg.sub.b": {"pkg.a"},
    }
    assert circles(graph) == [["pkg.a", "pkg.sub.b"]]


@pytest.mark.parametrize("package", ["agent", "dispatch", "shared"])
def test_no_import_circles(package: str) -> None:
    assert circles(import_graph(package)) == []
