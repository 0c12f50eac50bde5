"""The layers import downwards only: routes → services → repositories, and deployed code never
imports the dev stack. Read with `ast`, so imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_STACK = ("chalicelib.local", "devstack")  # the dev stack before and after its move to devstack/

# The one edge from deployed code into the dev stack: the operator CLI imports devstack lazily,
# inside its developer commands (export-contracts, simulate) and under STAGE=local (make run's
# defaults and database); tests/integration/test_package_contents.py proves the package runs
# without it.
KNOWN_DEV_STACK_EDGES = {
    ("chalicelib/cli.py", "devstack"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (relative imports resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: list[str]) -> set[str]:
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from chalicelib import services` imports the package chalicelib.services.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = ROOT / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    bad = []
    for path in files:
        for module in sorted(_imports(path)):
            if any(_is_under(module, f) for f in forbidden):
                bad.append((path.relative_to(ROOT).as_posix(), module))
    return bad


def test_repositories_import_neither_services_nor_routes():
    files = _python_files("chalicelib/repositories")
    assert files
    assert _violations(files, ("chalicelib.services", "chalicelib.routes")) == []


def test_services_do_not_import_routes():
    files = _python_files("chalicelib/services")
    assert files
    assert _violations(files, ("chalicelib.routes",)) == []


def test_deployed_code_does_not_import_the_dev_stack():
    files = [
        p
        for p in _python_files("app.py", "chalicelib")
        if not _is_under(_module_name(p), "chalicelib.local") and not _is_under(_module_name(p), "devstack")
    ]
    bad = [
        (name, module)
        for name, module in _violations(files, DEV_STACK)
        if not any(name == known and _is_under(module, edge) for known, edge in KNOWN_DEV_STACK_EDGES)
    ]
    assert bad == []


def test_the_import_reader_sees_imports_inside_functions_and_relative_ones():
    """The checks above would pass vacuously if in-function or relative imports were missed."""
    source = (
        "def f():\n"
        "    from chalicelib.services import sending\n"
        "class C:\n"
        "    def g(self):\n"
        "        import chalicelib.local.embedded_pg\n"
        "from ..routes import webhook\n"
        "from . import contatos\n"
    )
    found = _imports_in(source, ["chalicelib", "repositories"])
    assert {"chalicelib.services.sending", "chalicelib.local.embedded_pg", "chalicelib.routes.webhook"} <= found
    assert "chalicelib.repositories.contatos" in found
