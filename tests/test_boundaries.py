"""The apps' import boundaries: the browser client (``web``) is replaceable, and a match runs
without the lobby (practice matches, other front ends). Read from the source, so a lazy import
inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(app: str) -> set[tuple[str, str]]:
    """``(file, module)`` for every import statement in the app's Python files."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / app).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [("match", {"web", "lobby"}), ("lobby", {"web"}), ("gameserver", {"web"})],
)
def test_an_app_imports_nothing_from_the_apps_it_must_not_know(app, forbidden):
    modules = imported_modules(app)
    assert modules, f"no imports read from {app}/"
    offending = sorted((path, module) for path, module in modules if module.split(".")[0] in forbidden)
    assert offending == []


def test_the_checker_sees_an_import_it_must_refuse():
    """The rule above is not vacuous: web itself imports lobby and match."""
    assert {module.split(".")[0] for _, module in imported_modules("web")} >= {"lobby", "match"}
