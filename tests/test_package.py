"""The package itself (epay_async/__init__.py): its public names, and no import circle."""

from __future__ import annotations

import ast
import json
import pydoc
from pathlib import Path

import epay_async


def test_public_names_live_in_the_package() -> None:
    assert epay_async.EpayClient.__module__ == "epay_async"
    assert epay_async.parse_notification is not None
    text = pydoc.render_doc(epay_async.EpayClient)
    assert "epay_async._client" not in text
    assert json.dumps(sorted(epay_async.__all__))  # everything listed is importable
    for name in epay_async.__all__:
        assert getattr(epay_async, name) is not None


# -- no import circle (issue 24) --------------------------------------------------------------


def _imports(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` and the modules of ``package`` it imports when loaded:
    module-level imports, relative ones resolved, those under ``if TYPE_CHECKING:`` left out
    (a package's own ``__init__``, imported on the way to a submodule, is not counted)."""
    root = package.name
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def wanted(statements: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
        found: list[ast.Import | ast.ImportFrom] = []
        for node in statements:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if test not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                    found += wanted(node.body)
                found += wanted(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (
                    node.body,
                    node.orelse,
                    node.finalbody,
                    *(h.body for h in node.handlers),
                ):
                    found += wanted(block)
        return found

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in wanted(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # ``from . import x`` imports the submodule x
                targets.add(
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                )
        graph[name] = {t for t in targets if t in modules and t != name and t.split(".")[0] == root}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first again last), if any."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            if found := visit(target):
                return found
        path.pop()
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m))), None)


def test_the_package_has_no_import_circle() -> None:
    graph = _imports(Path(epay_async.__file__).parent)
    assert len(graph) > 50
    assert "epay_async.testing._ledger" in graph["epay_async.testing._gateway"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_circle_check_sees_circles(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import A\n")
    (package / "a.py").write_text("from .sub import b\nA = 1\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n"
    )
    assert _cycle(_imports(package)) is None  # under TYPE_CHECKING: not a circle
    (package / "sub" / "b.py").write_text("def f():\n    pass\nfrom ..a import A\n")
    assert _cycle(_imports(package)) == ["pkg.a", "pkg.sub.b", "pkg.a"]
