"""The layering rules hold: providers/ never imports flask, app/ (console included) only
providers' public face, and no module imports itself around a circle, not even from
inside a function."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
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
    for path in (ROOT / "app").rglob("*.py"):
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for top in ("app", "providers") for p in (ROOT / top).rglob("*.py")}


def imported(module: str) -> Iterator[str]:
    """The project modules ``module`` imports, anywhere in it (``TYPE_CHECKING`` aside)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    typing_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module or ""]).strip(".") if node.level else node.module
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found = name if name in MODULES else target
                if found in MODULES:
                    yield found


def test_no_module_imports_itself_around_a_circle() -> None:
    graph = {m: set(imported(m)) - {m} for m in MODULES}
    assert "app.model_labels" in graph["app.gateway"]  # the graph sees imports at all
    assert "providers.routing.payload" in graph["providers.routing.router"]  # relative ones too
    circles = []
    for start in graph:
        seen, frontier = set(), list(graph[start])
        while frontier:
            step = frontier.pop()
            if step == start:
                circles.append(start)
                break
            if step not in seen:
                seen.add(step)
                frontier.extend(graph[step])
    assert circles == []


def test_the_benchmark_never_imports_the_tests() -> None:
    for path in (ROOT / "bench").rglob("*.py"):
        if ".venv" in path.relative_to(ROOT).parts:
            continue  # make bench's own environment (LiteLLM), not the benchmark
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            assert not [n for n in names if n.split(".")[0] == "tests"], path.name
