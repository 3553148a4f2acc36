"""The hub's folders are layers: a module imports only its own layer and those below.

docs/architecture.md draws them. The order, lowest first, is the one below;
``settings`` and ``logs`` are read by every layer, and the entry points (``app``,
``cli``, ``demo``) wire all layers together, so nothing below imports them.
The migrations belong with the store they migrate.
"""

from __future__ import annotations

import pytest

from tests.support.import_graph import import_graph

LAYERS = ("runtime", "store", "directory", "routing", "alarms", "channels", "net", "live", "web")
SHARED_BY_ALL = {"dispatch", "dispatch.settings", "dispatch.logs"}
ENTRY_POINTS = {"dispatch.app", "dispatch.cli", "dispatch.demo", "dispatch.__main__"}


def layer_of(module: str) -> str | None:
    """The folder a module lives in, or None for a top-level module."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in (*LAYERS, "migrations"):
        return None
    return "store" if parts[1] == "migrations" else parts[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a module by one in a lower layer (or of an entry point by a layer)."""
    found = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        if layer is None:
            continue  # the entry points and the modules every layer reads
        for target in sorted(targets - SHARED_BY_ALL):
            target_layer = layer_of(target)
            if target_layer is None or LAYERS.index(target_layer) > LAYERS.index(layer):
                found.append(f"{module} -> {target}")
    return found


def test_every_dispatch_module_is_in_a_layer_or_named_here() -> None:
    loose = {m for m in import_graph("dispatch") if layer_of(m) is None}
    assert loose == SHARED_BY_ALL | ENTRY_POINTS


def test_no_layer_imports_a_layer_above_it() -> None:
    assert upward_imports(import_graph("dispatch")) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"dispatch.store.models": {"dispatch.alarms.record"}}, ["store.models -> alarms.record"]),
        ({"dispatch.alarms.record": {"dispatch.store.models"}}, []),
        ({"dispatch.net.peers": {"dispatch.app"}}, ["net.peers -> app"]),
        ({"dispatch.web.hsts": {"dispatch.settings"}}, []),
        ({"dispatch.migrations.env": {"dispatch.store.models"}}, []),
    ],
)
def test_an_upward_import_is_found(graph: dict[str, set[str]], expected: list[str]) -> None:
    found = upward_imports(graph)
    assert [f.replace("dispatch.", "") for f in found] == expected
