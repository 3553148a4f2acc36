"""`scripts/bootstrap bench` installs what the benchmark commands import.

bench/README.md sets the bench up with the "bench" extra alone; bench/rawfleet.py takes
the agent's backoff from agent.link, whose config imports platformdirs, and that venv
could not start `python -m bench.compare`. Read from the source (nothing imported): every
third-party package the bench's entry points import at module level, through our own
packages, must come with the "bench" extra.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
OURS = ("agent", "bench", "dispatch", "shared")
ENTRY_POINTS = ("bench.compare", "bench.hub", "bench.run")


def _path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_imports(module: str, path: Path) -> Iterator[str]:
    """Imports the module runs when it is imported: its body, not functions, not
    ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: relative imports are not used here"
            base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def third_party_imports(entry_points: tuple[str, ...]) -> set[str]:
    seen: set[str] = set()
    outside: set[str] = set()
    todo = list(entry_points)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        # A package's __init__ runs before its module: follow the parents too.
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        todo += [p for p in parents if p not in seen]
        path = _path(module)
        if path is None:
            continue  # a name imported from a module, not a module of its own
        for name in _top_level_imports(module, path):
            top = name.split(".")[0]
            if top in OURS:
                todo.append(name)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return outside


def _closure(requirements: list[Requirement], extras: set[str]) -> set[str]:
    """The distributions these requirements install, following installed metadata."""
    found: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        requirement, wanted = todo.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (wanted or {""})
        ):
            continue
        if name == "silent-alarm":
            todo += [(r, set(requirement.extras)) for r in _our_requirements(requirement.extras)]
            continue
        if name in found:
            continue
        found.add(name)
        for line in requires(requirement.name) or []:
            todo.append((Requirement(line), set(requirement.extras)))
    return found


def _our_requirements(extras: set[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def test_the_bench_extra_installs_every_package_the_bench_imports() -> None:
    installed = _closure(_our_requirements({"bench"}), {"bench"})
    by_import = packages_distributions()
    missing = {
        top: by_import.get(top, [top])
        for top in third_party_imports(ENTRY_POINTS)
        if not {canonicalize_name(d) for d in by_import.get(top, [top])} & installed
    }
    assert not missing, f"imported by bench/ but not in the bench extra: {missing}"
