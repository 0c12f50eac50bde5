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
    from chalicelib.services.password_policy import problem

    reason = problem(password)
    if reason:
        print(reason, file=sys.stderr)
        return 2
    admin = administradores.upsert(args.nome.strip(), email, hash_password(password))
    print(f"administrador {admin['email']} ({admin['id']})")
    return 0


def _live_gateway_missing() -> str | None:
    """Under STAGE=local: why live events cannot reach browsers now (make run is not up), or None."""
    if os.environ.get("STAGE") != "local":
        return None
    import urllib.error
    import urllib.request

    url = os.environ.get("WS_MANAGEMENT_URL", "")
    try:
        urllib.request.urlopen(f"{url}/@connections/cli-probe", timeout=2)  # noqa: S310 - local URL
    except urllib.error.HTTPError:
        return None  # it answered (404/410 for an unknown connection): the gateway is up
    except (OSError, ValueError) as exc:
        return f"o gateway WebSocket local ({url}) não responde ({exc}); rode make run"
    return None


def cmd_sync_templates(_args: argparse.Namespace) -> int:
    from chalicelib.services.templates import sync_templates

    missing = _live_gateway_missing()
    if missing:
        print(f"aviso: {missing}; os navegadores não verão as mudanças ao vivo (só ao recarregar).", file=sys.stderr)
    result = sync_templates()
    print(
        f"{result['templates']} templates em {result['pages']} página(s);"
        f" {result['changed']} alterado(s), {result['deleted']} removido(s) no WhatsApp"
    )
    return 0


def cmd_expire_windows(_args: argparse.Namespace) -> int:
    from chalicelib.services.window_expiry import expire_windows

    missing = _live_gateway_missing()
    if missing:
        # Marking the windows announced with nobody to announce them to would lose the events.
        print(f"nada foi feito: {missing}.", file=sys.stderr)
        return 1

    print(f"{len(expire_windows())} janela(s) encerrada(s) anunciada(s)")
    return 0


def cmd_media_redrive(args: argparse.Namespace) -> int:
    from chalicelib.services.media_redrive import redrive

    moved = redrive(limit=args.max)
    print(f"{moved} mensagem(ns) devolvida(s) da fila de mortos para a fila de mídia")
    return 0


def _dev_only(command: str) -> None:
    """Commands for development only run from the repository: the package has no devstack/."""
    import importlib.util

    if importlib.util.find_spec("devstack") is None:
        raise SystemExit(f"{command} só existe no repositório (devstack/), não no pacote implantado")


def cmd_export_contracts(_args: argparse.Namespace) -> int:
    _dev_only("export-contracts")
    from devstack.contracts import export

    written = export()
    print("\n".join(f"escrito: {p}" for p in written) if written else "contratos já atualizados")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    _dev_only("simulate")
    from devstack.simulate import run

    return run(
        url=args.url,
        sender=args.sender,
        name=args.name,
        graph_root=args.graph_url,
        username=args.username,
        bsuid=args.bsuid,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    create_admin = sub.add_parser("create-admin", help="create (or reset) an administrador")
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--nome", required=True)
    create_admin.set_defaults(func=cmd_create_admin)
    sub.add_parser("sync-templates", help="fetch the WhatsApp templates now").set_defaults(func=cmd_sync_templates)
    sub.add_parser("expire-windows", help="announce closed 24 h windows now").set_defaults(func=cmd_expire_windows)
    redrive = sub.add_parser("media-redrive", help="move the media dead letters back to the media queue")
    redrive.add_argument("--max", type=int, default=None, help="move at most this many")
    redrive.set_defaults(func=cmd_media_redrive)
    sub.add_parser(
        "export-contracts", help="write contracts/openapi.json and docs/events.md's table from the code"
    ).set_defaults(func=cmd_export_contracts, needs_database=False)
    simulate = sub.add_parser("simulate", help="post a realistic customer conversation to a running webhook")
    simulate.add_argument("--url", default="http://127.0.0.1:8000/webhooks/whatsapp")
    simulate.add_argument("--sender", default="5511987654321", help="the customer's wa_id")
    simulate.add_argument("--name", default="Joana Silva", help="the customer's WhatsApp profile name")
    simulate.add_argument("--graph-url", default=None, help="fake Graph API root (default: local stack's)")
    simulate.add_argument(
        "--username",
        nargs="?",
        const="joana.violao",
        default=None,
        help="a WhatsApp username user with no phone number (BSUID only; default username joana.violao)",
    )
    simulate.add_argument("--bsuid", default=None, help="the username user's BSUID (default: the same on every run)")
    simulate.set_defaults(func=cmd_simulate, needs_database=False)  # it talks to make run over HTTP
    return parser


def main(argv: list[str] | None = None) -> int:
    from chalicelib.db import DatabaseUnavailable

    args = build_parser().parse_args(argv)
    if os.environ.get("STAGE") == "local":
        # make run's fakes and database for what is unset; the dev stack is not in the package,
        # so it is imported here only, under STAGE=local.
        from devstack.env import use_local_stack_defaults

        use_local_stack_defaults(database=getattr(args, "needs_database", True))
    try:
        return args.func(args)
    except DatabaseUnavailable as exc:
        print(f"banco de dados indisponível: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
