"""SQL for conversas."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

# Whether the 24-hour window is open, in SQL over a conversation aliased `c`: by the database
# clock at the time of the query, so enforcement never waits for the expiry job (a window
# that passed a second ago is closed). A NULL window (no customer message ever) is closed.
JANELA_ABERTA_SQL = "COALESCE(now() < c.window_expires_at, false)"

# The ativa conversation of each contact, opening one where there is none. The partial
# unique index idx_conversa_ativa_por_contato arbitrates between concurrent openers: the
# loser's INSERT does nothing and the next SELECT (a new snapshot) finds the winner's row.
_FIND_OR_OPEN_SQL = """
WITH alvo AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS contato_id),
abertas AS (
    INSERT INTO conversas (contato_id, canal)
    SELECT contato_id, 'whatsapp' FROM alvo
    ON CONFLICT (contato_id) WHERE status = 'ativa' DO NOTHING
    RETURNING id, contato_id
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, chave)
    SELECT contato_id, 'conversa_aberta', jsonb_build_object('conversa_id', id, 'canal', 'whatsapp',
                                                             'origem', 'whatsapp_webhook'),
           'conversa_aberta:' || id
    FROM abertas
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT contato_id, id AS conversa_id, true AS conversa_nova FROM abertas
UNION ALL
SELECT c.contato_id, c.id, false FROM conversas c JOIN alvo a ON a.contato_id = c.contato_id
WHERE c.status = 'ativa'
"""


def exists(conversa_id: str) -> bool:
    return bool(db.scalar("SELECT 1 FROM conversas WHERE id = CAST(:id AS uuid)", id=conversa_id))


def find_or_open_ativas(contato_ids: list[str]) -> list[dict[str, Any]]:
    """{contato_id, conversa_id, conversa_nova} for each contact (a racing opener may leave
    one out for this snapshot: call again for the missing ones)."""
    if not contato_ids:
        return []
    return db.query(_FIND_OR_OPEN_SQL, ids=[str(i) for i in contato_ids])


def get_many_json(conversa_ids: list[str]) -> list[dict[str, Any]]:
    """Whole rows as JSON objects with `janela_aberta` by the database clock (for live events)."""
    if not conversa_ids:
        return []
    rows = db.query(
        f"SELECT to_jsonb(c) || jsonb_build_object('janela_aberta', {JANELA_ABERTA_SQL}) AS conversa"  # noqa: S608
        " FROM conversas c WHERE c.id = ANY(CAST(:ids AS uuid[]))",
        ids=[str(i) for i in conversa_ids],
    )
    return [row["conversa"] for row in rows]


# --- shared attendance --------------------------------------------------------
# SQL of shared attendance: each change is ONE conditional UPDATE on the conversation row.
#
# The precondition sits in the UPDATE's WHERE, so PostgreSQL's row lock decides races: of many
# admins taking one conversation at once, the first UPDATE wins and the others, re-checking
# the WHERE against the committed row, update nothing. `antes` (locked FOR UPDATE in the same
# statement) gives the assignee as it was, for the event's `anterior_id`.

_RETURNING = " RETURNING c.*, antes.atendente_id AS anterior_id"
_ANTES = "WITH antes AS (SELECT id, atendente_id FROM conversas WHERE id = CAST(:id AS uuid) FOR UPDATE) "


def take(conversa_id: str, admin_id: str) -> dict[str, Any] | None:
    """Take an unassigned, active conversation for `admin_id`."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET atendente_id = CAST(:admin AS uuid), atribuida_em = now() FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.status = 'ativa' AND c.atendente_id IS NULL" + _RETURNING,
        id=conversa_id,
        admin=admin_id,
    )


def assign(conversa_id: str, por: str, para: str) -> dict[str, Any] | None:
    """Give the conversation to `para`, if it is unassigned or `por` holds it."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET atendente_id = CAST(:para AS uuid), atribuida_em = now() FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.status = 'ativa'"
        " AND (c.atendente_id IS NULL OR c.atendente_id = CAST(:por AS uuid))" + _RETURNING,
        id=conversa_id,
        por=por,
        para=para,
    )


def transfer(conversa_id: str, por: str, para: str) -> dict[str, Any] | None:
    """Only the assignee passes the conversation on."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET atendente_id = CAST(:para AS uuid), atribuida_em = now() FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.status = 'ativa' AND c.atendente_id = CAST(:por AS uuid)" + _RETURNING,
        id=conversa_id,
        por=por,
        para=para,
    )


def release(conversa_id: str, por: str) -> dict[str, Any] | None:
    """Only the assignee lets go of the conversation."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET atendente_id = NULL, atribuida_em = NULL FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.atendente_id = CAST(:por AS uuid)" + _RETURNING,
        id=conversa_id,
        por=por,
    )


def release_all_of(admin_id: str) -> list[dict[str, Any]]:
    """Put every active conversation `admin_id` holds back in the queue (a deactivated account);
    each row with `anterior_id`, the account, for the event and the timeline."""
    return db.query(
        "UPDATE conversas c SET atendente_id = NULL, atribuida_em = NULL"
        " WHERE c.status = 'ativa' AND c.atendente_id = CAST(:admin AS uuid)"
        " RETURNING c.*, CAST(:admin AS uuid) AS anterior_id",
        admin=admin_id,
    )


def close(conversa_id: str, por: str) -> dict[str, Any] | None:
    """Close an active conversation that is unassigned or held by `por`."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET status = 'encerrada', closed_at = now() FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.status = 'ativa'"
        " AND (c.atendente_id IS NULL OR c.atendente_id = CAST(:por AS uuid))" + _RETURNING,
        id=conversa_id,
        por=por,
    )


def reopen(conversa_id: str) -> dict[str, Any] | None:
    """Reopen a closed conversation (the unique index refuses a second active one per contact)."""
    return db.query_one(
        _ANTES + "UPDATE conversas c SET status = 'ativa', closed_at = NULL FROM antes"  # noqa: S608
        " WHERE c.id = antes.id AND c.status = 'encerrada'"
        # An erased contact's conversations stay closed: nobody may write to them again.
        " AND NOT EXISTS (SELECT 1 FROM contatos k WHERE k.id = c.contato_id AND k.anonimizado)" + _RETURNING,
        id=conversa_id,
    )


def estado(conversa_id: str) -> dict[str, Any] | None:
    """The conversation as it is now, with its assignee's name (to explain a refusal)."""
    return db.query_one(
        "SELECT c.id, c.contato_id, c.status, c.atendente_id, a.nome AS atendente_nome,"
        " (SELECT k.anonimizado FROM contatos k WHERE k.id = c.contato_id) AS contato_anonimizado"
        " FROM conversas c LEFT JOIN administradores a ON a.id = c.atendente_id WHERE c.id = CAST(:id AS uuid)",
        id=conversa_id,
    )


def conversa_ativa_do_contato(contato_id: str) -> str | None:
    return db.scalar(
        "SELECT id FROM conversas WHERE contato_id = CAST(:contato_id AS uuid) AND status = 'ativa'",
        contato_id=contato_id,
    )


def get(conversa_id: str) -> dict[str, Any] | None:
    return db.query_one("SELECT * FROM conversas WHERE id = CAST(:id AS uuid)", id=conversa_id)


def mark_anuncio(primeiras: dict[str, str]) -> None:
    """Conversations a click-to-WhatsApp ad opened ({conversa_id: referral message time}): the
    first referral before any reply of ours starts the 72 h free entry point's clock."""
    db.execute(
        "UPDATE conversas c SET anuncio_em = e.em"
        " FROM jsonb_each_text(CAST(:rows AS jsonb)) AS r(id, em_texto),"
        " LATERAL (SELECT CAST(r.em_texto AS timestamptz) AS em) e"
        " WHERE c.id = CAST(r.id AS uuid) AND c.anuncio_em IS NULL AND c.free_entry_point_ate IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM mensagens m WHERE m.conversa_id = c.id AND m.direcao = 'saida')",
        rows=json.dumps(primeiras),
    )
