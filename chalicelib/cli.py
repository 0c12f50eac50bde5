"""python -m chalicelib.cli <command>: operational commands."""

from __future__ import annotations

import argparse
import getpass
import os
import sys


def cmd_migrate(_args: argparse.Namespace) -> int:
    from chalicelib.migrate import migrate

    applied = migrate()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from chalicelib.repositories import administradores
    from chalicelib.security import hash_password

    email = args.email.strip().lower()
    if "@" not in email or not args.nome.strip():
        print("email e nome são obrigatórios", file=sys.stderr)
        return 2
    password = os.environ.get("ADMIN_PASSWORD")
    if not password:
        password = getpass.getpass("Senha: ")
        if password != getpass.getpass("Repita a senha: "):
            print("as senhas não conferem", file=sys.stderr)
            return 2
    if len(password) < 8:
        print("a senha precisa de pelo menos 8 caracteres", file=sys.stderr)
        return 2
    admin = administradores.upsert(args.nome.strip(), email, hash_password(password))
    print(f"administrador {admin['email']} ({admin['id']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    create_admin = sub.add_parser("create-admin", help="create (or reset) an administrador")
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--nome", required=True)
    create_admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
