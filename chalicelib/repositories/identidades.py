"""SQL of contact identity for the webhook: find by BSUID or phone, create, complete, merge.

Used inside the webhook's transaction for senders that carry a BSUID (docs/identity.md).
Every function runs under the advisory locks `lock` takes (one per BSUID and per phone of
the payload, in a fixed order), so two deliveries that concern the same person serialise
here: the second finds what the first created or merged, and merges nothing twice.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db


def lock(chaves: list[str]) -> None:
    """Transaction-scoped advisory locks on 'b:<bsuid>' / 't:<telefone>', sorted: two
    payloads naming the same identifiers take them in the same order (no deadlock)."""
    if not chaves:
        return
    db.query(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 11)) FROM"
        " (SELECT DISTINCT jsonb_array_elements_text(CAST(:chaves AS jsonb)) AS k) c ORDER BY k",
        chaves=json.dumps(sorted(set(chaves))),
    )


def find(bsuid: str | None, telefone: str | None) -> list[dict[str, Any]]:
    """Contacts (not anonymised) holding this BSUID or this phone, oldest first."""
    return db.query(
        "SELECT * FROM contatos"
        " WHERE (bsuid = :bsuid OR telefone = :telefone) AND NOT anonimizado"
        " ORDER BY created_at, id",
        bsuid=bsuid,
        telefone=telefone,
    )


# A new contact and its eventos row. ON CONFLICT: a phone-only delivery (the phone upsert
# takes no advisory lock) may have inserted the same number meanwhile; the caller then
# looks again and completes that contact instead.
_CRIAR_SQL = """
WITH novo AS (
    INSERT INTO contatos (telefone, wa_id, bsuid, bsuid_pai, username, nome_perfil, nome, canal)
    VALUES (:telefone, :wa_id, :bsuid, :bsuid_pai, :username, :nome_perfil, :nome_perfil, 'whatsapp')
    ON CONFLICT DO NOTHING
    RETURNING *
),
registrado AS (
    INSERT INTO eventos (contato_id, tipo, dados, chave)
    SELECT id, 'contato_criado',
           jsonb_build_object('telefone', telefone, 'wa_id', wa_id, 'bsuid', bsuid, 'username', username,
                              'canal', 'whatsapp', 'origem', 'whatsapp_webhook'),
           'contato_criado:' || id
    FROM novo
)
SELECT * FROM novo
"""


def create(ident: dict[str, Any]) -> dict[str, Any] | None:
    """ident: {telefone, wa_id, bsuid, bsuid_pai, username, nome_perfil}. None on a conflict."""
    return db.query_one(_CRIAR_SQL, **_params(ident))


# What a payload says about a known contact: its BSUID (the latest), the phone when it had
# none (or the payload's, which Meta ties to this BSUID), the send address, the username and
# the profile name (never over a name an attendant set). A changed username is recorded in
# eventos with the previous one (its history).
_COMPLETAR_SQL = """
WITH antes AS (SELECT * FROM contatos WHERE id = CAST(:id AS uuid)),
depois AS (
    UPDATE contatos k SET
        bsuid = coalesce(:bsuid, k.bsuid),
        bsuid_pai = coalesce(:bsuid_pai, k.bsuid_pai),
        telefone = coalesce(:telefone, k.telefone),
        wa_id = CASE WHEN :telefone IS NULL THEN k.wa_id ELSE coalesce(:wa_id, k.wa_id) END,
        username = coalesce(:username, k.username),
        nome_perfil = coalesce(:nome_perfil, k.nome_perfil),
        nome = CASE WHEN k.nome_editado THEN k.nome ELSE coalesce(:nome_perfil, k.nome) END
    WHERE k.id = CAST(:id AS uuid) AND NOT k.anonimizado
    RETURNING k.*
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados)
    SELECT d.id, 'username_alterado', jsonb_build_object('de', a.username, 'para', d.username)
    FROM depois d JOIN antes a ON a.id = d.id
    WHERE d.username IS DISTINCT FROM a.username
    UNION ALL
    SELECT d.id, 'bsuid_alterado', jsonb_build_object('de', a.bsuid, 'para', d.bsuid, 'motivo', 'mesmo_telefone')
    FROM depois d JOIN antes a ON a.id = d.id
    WHERE a.bsuid IS NOT NULL AND d.bsuid IS DISTINCT FROM a.bsuid
)
SELECT * FROM depois
"""


def complete(contato_id: str, ident: dict[str, Any]) -> dict[str, Any] | None:
    return db.query_one(_COMPLETAR_SQL, id=str(contato_id), **_params(ident))


def _params(ident: dict[str, Any]) -> dict[str, Any]:
    return {k: ident.get(k) for k in ("telefone", "wa_id", "bsuid", "bsuid_pai", "username", "nome_perfil")}


# --- merging ---------------------------------------------------------------------------------
# Two contacts a payload proves to be one person (its BSUID is on one, its phone on the
# other; or Meta's system message says the BSUID changed). Four statements, in this order
# because of the unique indexes: (1) of two open conversations the less recently active is
# closed (one ativa conversation per contact); (2) conversations (with their messages), the
# lead (when the survivor has none) and eventos move to the survivor; (3) the absorbed
# contact is deleted (a lead left over goes with it, recorded in the merge event); (4) the
# survivor takes the identifiers and what it lacked, and an eventos row records the merge.


def merge(sobrevivente_id: str, absorvido_id: str, motivo: dict[str, Any]) -> dict[str, Any]:
    """Returns {contato: the survivor, conversas: [("closed" | "updated", conversa_id)], the
    conversation closed and those moved (for the live events)}."""
    ids = {"s": str(sobrevivente_id), "a": str(absorvido_id)}
    fechada = db.query_one(
        """
        UPDATE conversas SET status = 'encerrada', closed_at = now()
         WHERE id = (SELECT id FROM conversas
                      WHERE contato_id IN (CAST(:s AS uuid), CAST(:a AS uuid)) AND status = 'ativa'
                      ORDER BY ultima_atividade_em, id LIMIT 1)
           AND (SELECT count(*) FROM conversas
                 WHERE contato_id IN (CAST(:s AS uuid), CAST(:a AS uuid)) AND status = 'ativa') = 2
        RETURNING id
        """,
        **ids,
    )
    movidos = db.query_one(
        """
        WITH conv AS (
            UPDATE conversas SET contato_id = CAST(:s AS uuid) WHERE contato_id = CAST(:a AS uuid) RETURNING id
        ),
        lead AS (
            UPDATE interessados SET contato_id = CAST(:s AS uuid)
             WHERE contato_id = CAST(:a AS uuid)
               AND NOT EXISTS (SELECT 1 FROM interessados WHERE contato_id = CAST(:s AS uuid))
            RETURNING id
        ),
        ev AS (
            UPDATE eventos SET contato_id = CAST(:s AS uuid) WHERE contato_id = CAST(:a AS uuid) RETURNING id
        )
        SELECT (SELECT count(*) FROM conv) AS conversas, (SELECT count(*) FROM lead) AS interessados,
               (SELECT coalesce(jsonb_agg(id), '[]'::jsonb) FROM conv) AS conversas_ids,
               (SELECT count(*) FROM ev) AS eventos,
               (SELECT to_jsonb(i) FROM interessados i WHERE i.contato_id = CAST(:a AS uuid)) AS lead_descartado
        """,
        **ids,
    )
    absorvido = db.query_one("DELETE FROM contatos WHERE id = CAST(:a AS uuid) RETURNING *", a=ids["a"])
    if absorvido is None:
        raise RuntimeError(f"contact {absorvido_id} vanished during a merge")
    dados = {
        "absorvido_id": ids["a"],
        "absorvido": {
            k: absorvido.get(k) for k in ("telefone", "wa_id", "bsuid", "username", "nome", "nome_perfil", "created_at")
        },
        "conversa_encerrada_id": str(fechada["id"]) if fechada else None,
        "conversas_movidas": int(movidos["conversas"]),
        "eventos_movidos": int(movidos["eventos"]),
        "interessado_movido": int(movidos["interessados"]) > 0,
        "interessado_descartado": movidos["lead_descartado"],
        **motivo,
    }
    sobrevivente = db.query_one(
        """
        WITH sobrevivente AS (
            UPDATE contatos k SET
                telefone = coalesce(k.telefone, :telefone),
                wa_id = CASE WHEN k.telefone IS NULL THEN :wa_id ELSE k.wa_id END,
                bsuid = coalesce(k.bsuid, :bsuid),
                bsuid_pai = coalesce(k.bsuid_pai, :bsuid_pai),
                username = coalesce(k.username, :username),
                nome_perfil = coalesce(k.nome_perfil, :nome_perfil),
                nome = CASE WHEN NOT k.nome_editado AND :nome_editado THEN :nome ELSE coalesce(k.nome, :nome) END,
                nome_editado = k.nome_editado OR :nome_editado,
                origem_campanha = coalesce(k.origem_campanha, :origem_campanha),
                opt_in_status = CASE WHEN k.opt_in_at IS NULL THEN :opt_in_status ELSE k.opt_in_status END,
                opt_in_source = CASE WHEN k.opt_in_at IS NULL THEN :opt_in_source ELSE k.opt_in_source END,
                opt_in_at = coalesce(k.opt_in_at, CAST(:opt_in_at AS timestamptz))
            WHERE k.id = CAST(:s AS uuid)
            RETURNING k.*
        ),
        registrado AS (
            INSERT INTO eventos (contato_id, tipo, dados, chave)
            SELECT id, 'contatos_mesclados', CAST(:dados AS jsonb), 'contatos_mesclados:' || :a FROM sobrevivente
        )
        SELECT * FROM sobrevivente
        """,
        s=ids["s"],
        a=ids["a"],
        dados=json.dumps(dados, default=str),
        **{
            k: absorvido.get(k)
            for k in (
                "telefone",
                "wa_id",
                "bsuid",
                "bsuid_pai",
                "username",
                "nome_perfil",
                "nome",
                "nome_editado",
                "origem_campanha",
                "opt_in_status",
                "opt_in_source",
            )
        },
        opt_in_at=absorvido["opt_in_at"].isoformat() if absorvido.get("opt_in_at") else None,
    )
    conversas = [("closed", str(fechada["id"]))] if fechada else []
    conversas += [("updated", str(i)) for i in movidos["conversas_ids"]]
    return {"contato": sobrevivente, "conversas": conversas}


def replace_bsuid(contato_id: str, novo: str, dados: dict[str, Any], chave: str) -> dict[str, Any] | None:
    """Meta's system message: the contact's BSUID changed (e.g. with its phone number)."""
    return db.query_one(
        """
        WITH antes AS (SELECT bsuid FROM contatos WHERE id = CAST(:id AS uuid)),
        depois AS (
            UPDATE contatos SET bsuid = :novo WHERE id = CAST(:id AS uuid) AND NOT anonimizado RETURNING id, bsuid
        ),
        registrado AS (
            INSERT INTO eventos (contato_id, tipo, dados, chave)
            SELECT CAST(:id AS uuid), 'bsuid_alterado',
                   CAST(:dados AS jsonb) || jsonb_build_object('de', (SELECT bsuid FROM antes), 'para', :novo,
                                                              'bsuid_atualizado', EXISTS (SELECT 1 FROM depois)),
                   :chave
            ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
        )
        SELECT * FROM depois
        """,
        id=str(contato_id),
        novo=novo,
        dados=json.dumps(dados, default=str),
        chave=chave,
    )
