"""The layering rules hold: providers/ never imports flask, app/ only providers' public face."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import providers

ROOT = Path(__file__).resolve().parents[2]


def test_the_ruff_ban_covers_every_providers_module() -> None:
    banned = set(re.findall(r'"providers\.(\w+)"\.msg', (ROOT / "app" / "ruff.toml").read_text()))
    top = ROOT / "providers"
    modules = {p.stem for p in top.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in top.glob("*/__init__.py")}
    assert modules | packages == banned


def test_app_imports_nothing_but_the_public_face() -> None:
    for path in (ROOT / "app").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("providers")
            ):
                assert node.module == "providers", f"{path.name} imports {node.module}"
                for alias in node.names:
                    assert alias.name in providers.__all__, f"{path.name}: {alias.name}"


def test_every_public_name_resolves() -> None:
    for name in providers.__all__:
        assert getattr(providers, name) is not None
