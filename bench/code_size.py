"""Code size: lines per package and the longest functions, so a refactor's effect can be rerun.

    .venv/bin/python bench/code_size.py [--top 15] [paths...]

Counts physical lines of every .py file under the deployed code (app.py and chalicelib/, the
dev stack apart), per package (directory), then lists the longest functions and methods found
with `ast` (end_lineno - lineno + 1, decorators excluded). Reads files only; no database.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_STACK = ("chalicelib/local", "devstack")


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = ROOT / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(path.rglob("*.py"))
    return [p for p in found if not any(p.relative_to(ROOT).as_posix().startswith(d) for d in DEV_STACK)]


def _functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                out.append((child.end_lineno - child.lineno + 1, name))  # type: ignore[operator]
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("paths", nargs="*", default=["app.py", "chalicelib"])
    args = parser.parse_args()
    files = _files(args.paths)
    per_package: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    functions: list[tuple[int, str]] = []
    biggest: list[tuple[int, str]] = []
    for path in files:
        rel = path.relative_to(ROOT)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        package = rel.parent.as_posix() if rel.parent.as_posix() != "." else "(root)"
        per_package[package][0] += 1
        per_package[package][1] += lines
        biggest.append((lines, rel.as_posix()))
        functions += [(n, f"{rel.as_posix()}:{name}") for n, name in _functions(path)]
    print(f"{'package':40} {'files':>5} {'lines':>7}")
    for package, (count, lines) in sorted(per_package.items()):
        print(f"{package:40} {count:5} {lines:7}")
    print(f"{'total':40} {sum(c for c, _ in per_package.values()):5} {sum(n for _, n in per_package.values()):7}")
    print(f"\nlongest files (top {args.top})")
    for lines, name in sorted(biggest, reverse=True)[: args.top]:
        print(f"{lines:7}  {name}")
    print(f"\nlongest functions (top {args.top}, lines)")
    for lines, name in sorted(functions, reverse=True)[: args.top]:
        print(f"{lines:7}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
