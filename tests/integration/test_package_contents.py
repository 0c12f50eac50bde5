"""What `chalice package` ships: app.py and chalicelib/, never the dev stack (devstack/), the
tests, the benchmarks or the console's sources, and the shipped code runs without them.

The real `chalice package` CLI runs on a copy of the whole repository (what git would check
out: no .venv, node_modules or build output) without requirements.txt, so Chalice has nothing
to download and packaging takes a few seconds (test_deploy_package.py does the same with
app.py and chalicelib/ alone).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Never copied: environments, caches, build output and data that git does not track either.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git", ".venv", ".localstack", ".local", "node_modules", "dist", "__pycache__", ".ruff_cache", ".pytest_cache"
)
NEVER_SHIPPED = ("devstack/", "tests/", "bench/", "web/", "docs/", "infra/", "contracts/")


@pytest.fixture(scope="module")
def deployment_zip(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("package-contents") / "project"
    shutil.copytree(ROOT, project, ignore=NOT_IN_A_CHECKOUT, symlinks=True)
    (project / "requirements.txt").unlink()  # nothing for Chalice to download
    for name in ("devstack", "tests", "bench", "web"):
        assert (project / name).is_dir(), name  # they are there to be left out
    out = project / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PIP_NO_INDEX": "1"}
    done = subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", "prod", str(out)],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "deployment.zip"


def test_the_package_holds_the_app_and_nothing_of_the_dev_stack_tests_benches_or_console(deployment_zip):
    with zipfile.ZipFile(deployment_zip) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    assert "app.py" in names
    assert "chalicelib/db.py" in names and "chalicelib/cli.py" in names
    assert not [n for n in names if n.startswith(NEVER_SHIPPED)]
    assert not [n for n in names if "/local/" in n or n.startswith("chalicelib/local")]  # the old home
    # Chalice adds its own runtime (chalice/); the dependencies come from requirements.txt.
    assert {n.split("/", 1)[0] for n in names} == {"app.py", "chalicelib", "chalice"}


def test_the_shipped_code_imports_and_answers_without_the_dev_stack(deployment_zip, tmp_path):
    """Every module of the package, imported from the unpacked zip with the repository off the
    path: none reaches for devstack. The dev-only commands say they are not deployed."""
    with zipfile.ZipFile(deployment_zip) as archive:
        archive.extractall(tmp_path)
    probe = """
import importlib, pkgutil, sys
import chalicelib, app
for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(module.name)
assert not [m for m in sys.modules if m.split(".")[0] == "devstack"]
from chalicelib import cli, db
try:
    db.database_url()
except db.DatabaseUnavailable as exc:
    assert "DATABASE_URL is not set" in str(exc), exc
else:
    raise AssertionError("a database without DATABASE_URL")
try:
    cli.main(["export-contracts"])
except SystemExit as exc:
    assert "não no pacote implantado" in str(exc), exc
else:
    raise AssertionError("export-contracts ran without the dev stack")
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env.update(STAGE="prod", AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def _devstack_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, inside a function) of each import of devstack in a module."""
    found: list[tuple[int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names = [child.module]
            if any(name.split(".")[0] == "devstack" for name in names):
                found.append((child.lineno, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return found


def test_deployed_code_imports_the_dev_stack_only_in_the_clis_local_commands():
    """Only chalicelib/cli.py may, inside a function (STAGE=local defaults, simulate,
    export-contracts): anything else would fail in Lambda, where devstack/ does not exist."""
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        imports = _devstack_imports(path)
        if path == ROOT / "chalicelib" / "cli.py":
            assert imports and all(in_function for _, in_function in imports), imports
        else:
            assert not imports, (path, imports)
