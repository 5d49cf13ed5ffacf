"""Every sync_core module is pure: no IO, no clock, no global randomness — bar ``sync_core.live``,
the wall-clock driver (sockets, SQLite, threads, signals), which decides nothing."""

import ast
from pathlib import Path

import pytest

import sync_core

PACKAGE = Path(sync_core.__file__).parent
DRIVER = PACKAGE / "live"
MODULES = sorted(m for m in PACKAGE.rglob("*.py") if DRIVER not in m.parents)
FORBIDDEN = {
    "asyncio",
    "datetime",
    "http",
    "io",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "requests",
    "httpx",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib.request",
    "uuid",
    "secrets",
}


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "random":
                names.update(f"random.{alias.name}" for alias in node.names)
    return names


def test_purity_finds_the_modules() -> None:
    assert {"engine.py", "identity.py", "outcomes.py"} <= {m.name for m in MODULES}


def test_purity_exempts_only_the_live_driver() -> None:
    exempt = set(PACKAGE.rglob("*.py")) - set(MODULES)
    assert exempt and all(m.is_relative_to(DRIVER) for m in exempt)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_purity_module_imports_nothing_that_does_io_or_reads_a_clock(module: Path) -> None:
    imported = imported_modules(ast.parse(module.read_text()))
    bad = {name for name in imported if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN}
    bad |= {name for name in imported if name.startswith("random.") and name != "random.Random"}
    assert not bad


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_purity_module_uses_only_an_injected_random_instance(module: Path) -> None:
    tree = ast.parse(module.read_text())
    uses = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert uses <= {"Random"}
