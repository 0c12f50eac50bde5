"""LGPD requests of a contact: export (art. 18, access and portability) and anonymisation.

Anonymisation is irreversible and happens in one transaction: the contact's identity is
replaced by a random placeholder number, the lead is deleted, the messages and events keep
only what the cost report and the school's history need, and the media objects are deleted
from S3 (every version: the bucket is versioned) before the commit, so a storage failure
rolls everything back and the request can simply be repeated. Live events go out after the
commit.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from chalicelib import db, pagination
from chalicelib.http import ApiError, jsonable, not_found
from chalicelib.observability import logger
from chalicelib.repositories import administradores, contatos, interessados
from chalicelib.repositories import eventos as eventos_repo
from chalicelib.repositories import lgpd as repo
from chalicelib.services import live_events
from chalicelib.services.inbox import presign_or_none, shape_mensagem
from chalicelib.services.media_urls import s3_client, split_location
from chalicelib.services.pseudonym import keyed
from chalicelib.whatsapp.phones import brazilian_variants

# An export is a JSON response, and Lambda answers at most 6 MB: each page holds messages up
# to MAX_EXPORT_BYTES of JSON (and MAX_MENSAGENS rows); `next_cursor` fetches the rest
# (`truncado` is true while there is more). The first page also carries the contact, lead,
# conversations and events; the following pages only messages.
MAX_EXPORT_BYTES = 4_000_000
MAX_MENSAGENS = 3000
MAX_EVENTOS = 3000
EXPORT_BATCH = 200

# +999 is not assigned to any country (ITU reserves it), so no real sender can ever have it:
# the webhook, which finds contacts by telefone, can never re-identify an anonymised contact.
# The digits after it are random, not derived from the number (a hash of a phone number is
# reversed by trying all numbers).
PLACEHOLDER_PREFIX = "+999"
PLACEHOLDER_RANDOM_DIGITS = 12  # 15 digits in all: E.164's maximum, and the CHECK's
PLACEHOLDER_ATTEMPTS = 3

S3_DELETE_BATCH = 1000  # delete_objects' maximum per call


class AnonimizarIn(BaseModel):
    """Erasure is irreversible: the caller must say so explicitly."""

    model_config = ConfigDict(extra="forbid")
    # Strict: 1, "true" or "yes" must not erase a person's data; only the JSON literal true.
    confirmar: StrictBool = Field(description="Precisa ser true: a anonimização é irreversível.")


class ExportOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    exportado_em: datetime
    contato: dict[str, Any]
    interessado: dict[str, Any] | None
    conversas: list[dict[str, Any]]
    eventos: list[dict[str, Any]]
    truncado: bool
    next_cursor: str | None = Field(None, description="a próxima página de mensagens (GET ...?cursor=)")


class AnonimizarOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    contato: dict[str, Any]
    mensagens_anonimizadas: int
    objetos_removidos: int
    conversas_encerradas: list[str]


# --- export -------------------------------------------------------------------------------


def _mensagens_page(contato_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Shaped messages after `cursor` up to MAX_EXPORT_BYTES of JSON (at least one), and the
    cursor of the next page (None when none is left)."""
    after_ts, after_seq = pagination.decode_time_seq(cursor)
    page: list[dict[str, Any]] = []
    size = 0
    while True:
        rows = repo.mensagens(contato_id, EXPORT_BATCH, after_ts, after_seq)
        for row in rows:
            mensagem = shape_mensagem(row)
            mensagem["media_files"] = [_shape_media_file(f) for f in (row.get("media_files") or [])]
            cost = len(json.dumps(jsonable(mensagem), ensure_ascii=False).encode()) + 1
            if page and (size + cost > MAX_EXPORT_BYTES or len(page) >= MAX_MENSAGENS):
                last = page[-1]
                return page, pagination.encode(last["_created_at"], last["_seq"])
            mensagem["_created_at"], mensagem["_seq"] = row["created_at"], row["seq"]
            page.append(mensagem)
            size += cost
        if len(rows) < EXPORT_BATCH:
            return page, None
        after_ts, after_seq = jsonable(rows[-1]["created_at"]), rows[-1]["seq"]


def export(contato_id: str, admin_id: str, cursor: str | None = None) -> dict[str, Any]:
    """Everything stored about the contact; media as short-lived URLs. Bounded in bytes: the
    messages go in pages (`next_cursor`), the first page also has everything else."""
    contato = contatos.get(contato_id)
    if contato is None:
        raise not_found("Contato")
    conversas = repo.conversas(contato_id)
    mensagens, next_cursor = _mensagens_page(contato_id, cursor)
    eventos = repo.eventos(contato_id, MAX_EVENTOS + 1) if cursor is None else []
    # Webhook parts stored without a contact that name the contact's numbers or message ids.
    sem_contato = (
        repo.partes_sem_contato(_enderecos(contato, repo.numeros_historicos(contato_id)) + repo.wamids(contato_id), 500)
        if cursor is None and not contato.get("anonimizado")
        else []
    )
    por_conversa: dict[str, list[dict[str, Any]]] = {str(c["id"]): [] for c in conversas}
    for mensagem in mensagens:
        mensagem.pop("_created_at"), mensagem.pop("_seq")
        por_conversa.setdefault(str(mensagem["conversa_id"]), []).append(mensagem)
    truncado = next_cursor is not None or len(eventos) > MAX_EVENTOS
    documento = {
        "exportado_em": datetime.now(UTC),
        "exportado_por": admin_id,
        "contato": contato,
        "interessado": interessados.get_by_contato(contato_id) if cursor is None else None,
        "conversas": [{**c, "mensagens": por_conversa.get(str(c["id"]), [])} for c in conversas],
        "eventos": eventos[:MAX_EVENTOS],
        "partes_sem_contato": sem_contato,
        "truncado": truncado,
        "next_cursor": next_cursor,
        "limites": {"mensagens": MAX_MENSAGENS, "eventos": MAX_EVENTOS, "bytes": MAX_EXPORT_BYTES},
    }
    # Accountability (LGPD art. 37): who took a copy of this person's data, and when.
    if cursor is None:
        eventos_repo.record(contato_id, "dados_exportados", {"por": admin_id, "truncado": truncado})
    return documento


def _shape_media_file(row: dict[str, Any]) -> dict[str, Any]:
    shaped = {k: v for k, v in row.items() if k not in ("storage_key", "thumbnail_key")}
    shaped["url"] = presign_or_none(row.get("storage_key"))
    shaped["thumbnail_url"] = presign_or_none(row.get("thumbnail_key"))
    return shaped


# --- anonymisation ------------------------------------------------------------------------


def new_placeholder() -> str:
    digits = str(secrets.randbelow(10**PLACEHOLDER_RANDOM_DIGITS)).zfill(PLACEHOLDER_RANDOM_DIGITS)
    return PLACEHOLDER_PREFIX + digits


def anonymize(contato_id: str, admin_id: str, pedido: AnonimizarIn) -> dict[str, Any]:
    if not pedido.confirmar:
        raise ApiError(
            422,
            "ValidationError",
            'Confirme a anonimização com "confirmar": true; ela é irreversível.',
            field="confirmar",
        )
    for attempt in range(1, PLACEHOLDER_ATTEMPTS + 1):
        try:
            result = _anonimizar(contato_id, admin_id)
            break
        except Exception as exc:
            # A random placeholder that already exists (1 in 10^12 per contact): draw again.
            if attempt == PLACEHOLDER_ATTEMPTS or not _is_placeholder_collision(exc):
                raise
    return result["resposta"]


def _anonimizar(contato_id: str, admin_id: str) -> dict[str, Any]:
    with db.transaction():
        contato = contatos.get(contato_id, for_update=True)  # two erasures of one contact serialise
        if contato is None:
            raise not_found("Contato")
        if contato["anonimizado"]:
            raise ApiError(409, "ContactAnonymized", "Este contato já foi anonimizado.")
        locations = repo.media_locations(contato_id)
        # Before anything is wiped: every number the contact ever had, and the WhatsApp ids of
        # its messages (Meta's ids encode the number), to find what is stored under them.
        enderecos = _enderecos(contato, repo.numeros_historicos(contato_id))
        wamids = repo.wamids(contato_id)
        telefone = new_placeholder()
        novo = repo.anonymize_contato(contato_id, telefone, telefone.lstrip("+"))
        interessados_removidos = int(novo.pop("interessados_removidos") or 0)
        contagens = repo.anonymize_mensagens(contato_id)
        _pseudonimizar_ids(contato_id, wamids)
        repo.anonymize_eventos(contato_id)
        repo.delete_status_pendentes(enderecos, wamids)
        repo.delete_alteracoes_pendentes(enderecos)
        repo.delete_partes_sem_contato(enderecos + wamids)
        encerradas = repo.close_conversas(contato_id)
        objetos = purge_objects(locations)  # last: an S3 failure rolls all of the above back
        repo.record_anonimizacao(
            contato_id,
            {
                "por": admin_id,
                "por_nome": (administradores.get(admin_id) or {}).get("nome"),
                "mensagens": int(contagens["mensagens"]),
                "media_files": int(contagens["media_files"]),
                "objetos_removidos": objetos,
                "interessado_removido": interessados_removidos > 0,
            },
        )
        conversas = repo.conversas_json(contato_id)
        # Every inbox shows its conversations closed and the contact anonymised.
        for row in encerradas:
            live_events.conversation_closed(row["id"])
        for conversa in conversas:
            live_events.conversation_updated(conversa["id"])
        live_events.contact_updated(contato_id)
    logger.info(
        "contact anonymised",
        extra={"contato_id": contato_id, "admin_id": admin_id, "mensagens": contagens["mensagens"], "objetos": objetos},
    )
    return {
        "resposta": {
            "contato": novo,
            "mensagens_anonimizadas": int(contagens["mensagens"]),
            "objetos_removidos": objetos,
            "conversas_encerradas": [str(r["id"]) for r in encerradas],
        },
    }


def _enderecos(contato: dict[str, Any], anteriores: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The forms of every number of the contact WhatsApp may use as recipient_id (digits, with
    or without the ninth digit), the current one and `anteriores` (before number changes), and
    the BSUID it uses as recipient_user_id (a contact may have only one of the two)."""
    enderecos: list[str] = []
    for numero in [contato["telefone"], *anteriores]:
        if not numero:
            continue
        numero = "+" + numero.lstrip("+")
        try:
            enderecos += [t.lstrip("+") for t in brazilian_variants(numero)]
        except Exception:  # noqa: BLE001 - an odd stored value still counts as itself
            enderecos.append(numero.lstrip("+"))
    if contato.get("wa_id"):
        enderecos.append(contato["wa_id"])
    if contato.get("bsuid"):
        enderecos.append(contato["bsuid"])
    return sorted(set(enderecos))


def _pseudonimizar_ids(contato_id: str, wamids: list[str]) -> None:
    """wamids and event keys become keyed hashes: they held the number (Meta's wamid format,
    `user_preferences:+55…`), and the same id arriving again must still be recognised."""
    repo.pseudonymize_wamids(contato_id, {w: keyed(w) for w in wamids})
    repo.pseudonymize_chaves({str(r["id"]): keyed(r["chave"]) for r in repo.chaves_eventos(contato_id)})


def _is_placeholder_collision(exc: Exception) -> bool:
    if db.sqlstate(exc) != "23505":
        return False
    return "telefone" in str(exc.args[0].get("n") or exc.args[0].get("M"))


# --- S3 -----------------------------------------------------------------------------------


def _prefixes(locations: list[str]) -> dict[tuple[str, str], bool]:
    """(bucket, prefix) → exact. An inbound media key `media/yyyy/mm/<mensagem_id>/<file>`
    has the message's own folder (original, thumbnail, anything a half-done job left), so
    the folder is purged; any other key (an outbound upload) is purged exactly."""
    prefixes: dict[tuple[str, str], bool] = {}
    for location in locations:
        bucket, key = split_location(location)
        if not bucket or not key:
            continue
        parts = key.split("/")
        if parts[0] == "media" and len(parts) == 5 and parts[3]:
            prefixes[(bucket, "/".join(parts[:4]) + "/")] = False
        else:
            prefixes.setdefault((bucket, key), True)
    return prefixes


def purge_objects(locations: list[str]) -> int:
    """Delete every version (and delete marker) of these objects; returns how many versions
    went. Raises ApiError 503 when S3 refuses, so the caller's transaction rolls back."""
    if not locations:
        return 0

    s3 = s3_client()
    por_bucket: dict[str, list[dict[str, str]]] = {}
    try:
        for (bucket, prefix), exact in sorted(_prefixes(locations).items()):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if exact and item["Key"] != prefix:
                        continue
                    por_bucket.setdefault(bucket, []).append({"Key": item["Key"], "VersionId": item["VersionId"]})
        removidos = 0
        for bucket, objetos in por_bucket.items():
            for start in range(0, len(objetos), S3_DELETE_BATCH):
                lote = objetos[start : start + S3_DELETE_BATCH]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": lote, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise RuntimeError(f"delete_objects: {first.get('Code')} {first.get('Key')}")
                removidos += len(lote)
    except ApiError:
        raise
    except Exception as exc:
        logger.exception("LGPD media purge failed")
        raise ApiError(
            503,
            "StorageUnavailable",
            "Não foi possível apagar as mídias do contato; nada foi alterado. Tente novamente.",
        ) from exc
    return removidos
