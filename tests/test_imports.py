"""Each package keeps its `_private` modules to itself: what other packages need
comes from its `__init__`. And the stream cache is a store only: `cache/`
imports nothing of the streaming core. Checked on the source's AST, every
module under src/laraflowai."""

from __future__ import annotations

import ast
from pathlib import Path

import laraflowai

ROOT = Path(laraflowai.__file__).parent

# No exception: every cross-package import goes through a package's __init__.
KNOWN: set[tuple[str, str]] = set()


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _imports(module: str, path: Path) -> list[str]:
    return _imports_in(module, path.read_text(), is_package=path.name == "__init__.py")


def _imports_in(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Every module `module` imports, absolute, including `from x import y` where
    y may itself be a module."""
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names.append(target)
            names.extend(f"{target}.{alias.name}" for alias in node.names)
    return names


def _package_of(module: str) -> str:
    """laraflowai.streaming._http and laraflowai.streaming -> laraflowai.streaming."""
    return ".".join(module.split(".")[:2])


def _private_of_another_package(importer: str, imported: str) -> bool:
    parts = imported.split(".")
    if parts[0] != "laraflowai" or len(parts) < 3:
        return False  # outside us, or a top-level module of the root package (_config, ...)
    private = any(part.startswith("_") for part in parts[2:])
    return private and _package_of(imported) != _package_of(importer)


def test_no_module_imports_a_private_module_of_another_package() -> None:
    found = {
        (module, imported)
        for module, path in _modules()
        for imported in _imports(module, path)
        if _private_of_another_package(module, imported)
    }
    unknown = {
        (module, imported)
        for module, imported in found
        if not any(
            module == known and (imported == target or imported.startswith(target + "."))
            for known, target in KNOWN
        )
    }
    assert unknown == set()


def test_the_cache_package_imports_nothing_of_the_streaming_core() -> None:
    found = {
        (module, imported)
        for module, path in _modules()
        if module.startswith("laraflowai.cache")
        for imported in _imports(module, path)
        if imported.startswith("laraflowai.streaming")
    }
    assert found == set()


def test_the_check_sees_relative_and_absolute_private_imports() -> None:
    """The walk itself catches a cross-package private import in every spelling."""
    for source in (
        "from ..streaming._state import StreamState",
        "from ..streaming import _state",
        "from laraflowai.streaming._state import StreamState",
        "import laraflowai.streaming._state",
    ):
        imported = _imports_in("laraflowai.crew.agent", source)
        assert any(_private_of_another_package("laraflowai.crew.agent", i) for i in imported)
    for source in ("from .._config import Settings", "from ..streaming import StreamState"):
        imported = _imports_in("laraflowai.crew.agent", source)
        assert not any(_private_of_another_package("laraflowai.crew.agent", i) for i in imported)
    inside = _imports_in("laraflowai.streaming.response", "from ._state import StreamState")
    assert not any(_private_of_another_package("laraflowai.streaming.response", i) for i in inside)
