"""The storage half of the inbound webhook: one parsed payload in one transaction, set-based.

Round trips for a one-message payload: the duplicate check, BEGIN, contacts + conversation,
message + window + contact effects, COMMIT; the live events are registered inside the
transaction and go out at the commit (chalicelib.services.live_events). A deadlock or
serialization failure retries the whole (idempotent) transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from chalicelib import db
from chalicelib.observability import logger
from chalicelib.repositories import alteracoes, contatos, conversas, eventos, identidades, mensagens, templates
from chalicelib.services import atendimento, live_events
from chalicelib.services.inbound.parsing import InboundRow, ParsedPayload
from chalicelib.services.pseudonym import keyed


# Storage -------------------------------------------------------------------------------------
@dataclass
class StoreResult:
    mensagens: list[dict[str, Any]] = field(default_factory=list)  # {mensagem, contato_id}
    conversas_novas: list[str] = field(default_factory=list)  # ids of the conversations opened
    statuses: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    media_jobs: list[dict[str, Any]] = field(default_factory=list)
    alteradas: list[dict[str, Any]] = field(default_factory=list)  # messages an edit/revoke changed
    duplicates: int = 0
    ausencias: list[str] = field(default_factory=list)  # conversations owed the away message

    def summary(self) -> dict[str, int]:
        return {
            "mensagens": len(self.mensagens),
            "alteradas": len(self.alteradas),
            "duplicadas": self.duplicates,
            "conversas_novas": len(self.conversas_novas),
            "statuses": len(self.statuses),
            "templates": len(self.templates),
            "media_jobs": len(self.media_jobs),
        }


def _message_json(row: InboundRow, contato_id: str, conversa_id: str) -> dict[str, Any]:
    return {
        "whatsapp_id": row.whatsapp_id,
        "conversa_id": str(conversa_id),
        "contato_id": str(contato_id),
        "conteudo": row.conteudo,
        "tipo": row.tipo,
        "media_type": row.media_type,
        "media_mime": row.media_mime,
        "dados": row.dados,
        "created_at": row.created_at.isoformat(),
        "direcao": row.direcao,
        "abre_janela": row.abre_janela,
        "opt_out": row.opt_out,
        "referral": row.referral,
        "campanha": row.campanha,
    }


def _contacts_and_conversations(rows: list[InboundRow], parsed: ParsedPayload, mescladas: list[tuple[str, str]]):
    """{chave_contato: {contato_id, telefone, nome, conversa_id, conversa_nova}}. Senders with
    only a phone take the phone upsert (unchanged since 0002); senders with a BSUID are
    matched BSUID first, then phone, and merged where the payload proves two contacts are one
    (_resolve_bsuid_contacts)."""
    profile_names = parsed.profile_names
    by_phone: dict[str, dict[str, Any]] = {}
    for row in rows:  # the last wa_id seen is the send address
        if row.bsuid is not None:
            continue
        by_phone[row.telefone] = {  # type: ignore[index]  # no BSUID: the phone is set
            "telefone": row.telefone,
            "wa_id": row.wa_id or None,
            "nome_perfil": profile_names.get(row.telefone),  # type: ignore[arg-type]
        }
    found = contatos.upsert_inbound([by_phone[t] for t in sorted(by_phone)])
    contacts = {r["telefone"]: r for r in found}
    found_bsuid = _resolve_bsuid_contacts([r for r in rows if r.bsuid is not None], parsed, mescladas)
    contacts.update(found_bsuid)
    found = found + list(found_bsuid.values())
    # Only under a race (see contatos.upsert_inbound) is a contact left without its conversation.
    missing = {str(r["contato_id"]): r for r in found if r["conversa_id"] is None}
    for _attempt in range(3):
        if not missing:
            break
        for r in conversas.find_or_open_ativas(list(missing)):
            contact = missing.pop(str(r["contato_id"]), None)
            if contact is not None:
                contact["conversa_id"] = r["conversa_id"]
                contact["conversa_nova"] = r["conversa_nova"]
    if missing:
        raise RuntimeError(f"could not find or open a conversation for {len(missing)} contact(s)")
    return contacts


def _identity(row: InboundRow, perfis: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the payload says of a BSUID sender: the message's fields, completed by contacts[]."""
    perfil = perfis.get(row.bsuid or "", {})
    return {
        "bsuid": row.bsuid,
        "bsuid_pai": row.bsuid_pai or perfil.get("bsuid_pai"),
        "telefone": row.telefone or perfil.get("telefone"),
        "wa_id": (row.wa_id or None) if row.telefone else perfil.get("wa_id"),
        "username": perfil.get("username"),
        "nome_perfil": perfil.get("nome_perfil"),
    }


def _resolve_bsuid_contacts(
    rows: list[InboundRow], parsed: ParsedPayload, mescladas: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """BSUID senders → their contact (created, completed or merged), by BSUID.

    Under advisory locks on every BSUID and phone of these senders (also the new BSUIDs of
    system messages), so concurrent deliveries about one person serialise: the second sees
    the first's contact and merge, and merges nothing again."""
    if not rows:
        return {}

    idents: dict[str, dict[str, Any]] = {}
    for row in rows:  # the last row of a sender wins, as for phones
        idents[row.bsuid] = _identity(row, parsed.perfis)  # type: ignore[index]
    chaves = [f"b:{b}" for b in idents] + [f"t:{i['telefone']}" for i in idents.values() if i["telefone"]]
    chaves += [f"b:{r.bsuid_novo}" for r in rows if r.bsuid_novo]
    identidades.lock(chaves)
    out: dict[str, dict[str, Any]] = {}
    for bsuid in sorted(idents):
        contato = _resolve_one(idents[bsuid], mescladas)
        out[bsuid] = {
            "contato_id": contato["id"],
            "telefone": contato["telefone"],
            "nome": contato["nome"],
            "username": contato["username"],
            "conversa_id": None,  # found or opened by the caller
            "conversa_nova": False,
        }
    return out


def _resolve_one(ident: dict[str, Any], mescladas: list[tuple[str, str]]) -> dict[str, Any]:
    """mescladas: receives the conversations a merge closed or moved (identidades.merge)."""
    for _attempt in range(3):
        found = identidades.find(ident["bsuid"], ident["telefone"])
        por_bsuid = next((c for c in found if c["bsuid"] == ident["bsuid"]), None)
        por_telefone = next((c for c in found if ident["telefone"] and c["telefone"] == ident["telefone"]), None)
        if por_bsuid is None and por_telefone is None:
            criado = identidades.create(ident)
            if criado is not None:
                return criado
            continue  # a phone-only delivery inserted this number meanwhile: look again
        if por_bsuid is not None and por_telefone is not None and por_bsuid["id"] != por_telefone["id"]:
            # The payload ties the BSUID of one contact to the phone of another: one person.
            sobrevivente, absorvido = found[0], found[1]  # the older contact keeps its id
            mescladas += identidades.merge(
                sobrevivente["id"],
                absorvido["id"],
                {"motivo": "bsuid_e_telefone", "bsuid": ident["bsuid"], "telefone": ident["telefone"]},
            )["conversas"]
            alvo = sobrevivente
        else:
            alvo = por_bsuid or por_telefone
        completo = identidades.complete(alvo["id"], ident)  # type: ignore[index]
        if completo is not None:
            return completo
    raise RuntimeError(f"could not resolve the contact of BSUID {ident['bsuid']}")


def store(parsed: ParsedPayload) -> StoreResult:
    """Everything of one payload in one transaction."""
    result = StoreResult()
    _recognise_erased_ids(parsed)
    messages = parsed.messages
    if messages:
        existing = {r["whatsapp_id"]: r for r in mensagens.existing_by_whatsapp_ids([m.whatsapp_id for m in messages])}
        # Duplicates change nothing, but a media message still without its file gets its job
        # again: the earlier delivery may have failed to enqueue it (the worker is idempotent).
        for row in messages:
            stored = existing.get(row.whatsapp_id)
            if stored is not None and stored["media_pendente"] and row.media_job:
                result.media_jobs.append({**row.media_job, "mensagem_id": str(stored["id"]), "duplicate": True})
        result.duplicates = len(existing)
        messages = [m for m in messages if m.whatsapp_id not in existing]

    work = (
        messages
        or parsed.statuses
        or parsed.user_preferences
        or parsed.templates
        or parsed.eventos
        or parsed.alteracoes
    )
    if not work:
        return result
    # Rows go in a stable order (contacts by telefone, messages by timestamp and then payload
    # order) so redeliveries of a payload lock in the same order, and messages of one second
    # get their seq (0009) in the order the customer sent them; a deadlock that still happens
    # (e.g. statuses against messages across several conversations) is retried: the whole
    # transaction is idempotent.
    messages = sorted(messages, key=lambda m: m.created_at)  # stable: payload order within a second
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            return _store_transaction(parsed, messages, result)
        except Exception as exc:
            if attempt == TRANSACTION_ATTEMPTS or not _is_retryable(exc):
                raise
            logger.warning("webhook transaction retried", extra={"attempt": attempt, "error": str(exc)[:200]})
    raise AssertionError("unreachable")


def _recognise_erased_ids(parsed: ParsedPayload) -> None:
    """An erased contact's messages keep a keyed hash of their wamid (it encodes the number).
    A wamid arriving again (a redelivery, a late status) is swapped for its stored hash, so
    the duplicate check and the status update find the message as before."""
    ids = {m.whatsapp_id for m in parsed.messages} | {s["whatsapp_id"] for s in parsed.statuses}
    ids.discard(None)
    if not ids:
        return
    hashed = {keyed(w): w for w in ids}
    erased = {hashed[r["whatsapp_id"]]: r["whatsapp_id"] for r in mensagens.existing_by_whatsapp_ids(list(hashed))}
    if not erased:
        return
    for message in parsed.messages:
        if message.whatsapp_id in erased:
            message.whatsapp_id = erased[message.whatsapp_id]
    for status in parsed.statuses:
        if status["whatsapp_id"] in erased:
            status["whatsapp_id"] = erased[status["whatsapp_id"]]
            if isinstance(status.get("payload"), dict):
                status["payload"] = {**status["payload"], "id": status["whatsapp_id"]}


TRANSACTION_ATTEMPTS = 3
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _is_retryable(exc: Exception) -> bool:
    return db.sqlstate(exc) in _RETRYABLE_SQLSTATES


def _store_transaction(parsed: ParsedPayload, messages: list[InboundRow], result: StoreResult) -> StoreResult:
    result.mensagens, result.conversas_novas, result.statuses, result.templates = [], [], [], []
    result.ausencias = []
    result.alteradas = []
    result.media_jobs = [j for j in result.media_jobs if j.get("duplicate")]
    with db.transaction():
        if messages:
            # ("updated" | "closed", conversa_id) of the conversations merges moved or closed.
            mescladas: list[tuple[str, str]] = []
            contacts = _contacts_and_conversations(messages, parsed, mescladas)
            inserted = mensagens.insert_inbound(
                [
                    _message_json(m, contacts[m.chave_contato]["contato_id"], contacts[m.chave_contato]["conversa_id"])
                    for m in messages
                ]
            )
            result.mensagens = inserted
            _apply_number_changes(messages, contacts, inserted)
            _apply_bsuid_changes(messages, contacts, inserted, mescladas)
            _mark_answered(messages, contacts, inserted)
            jobs_by_wamid = {m.whatsapp_id: m.media_job for m in messages if m.media_job}
            for r in inserted:
                job = jobs_by_wamid.get(r["mensagem"]["whatsapp_id"])
                if job:
                    result.media_jobs.append({**job, "mensagem_id": str(r["mensagem"]["id"])})
            inserted_conversas = sorted({str(r["mensagem"]["conversa_id"]) for r in inserted})
            novas = {str(c["conversa_id"]) for c in contacts.values() if c["conversa_nova"]}
            result.conversas_novas = [c for c in inserted_conversas if c in novas]
            # The window, nao_lidas and the last message moved: every inbox hears it.
            for conversa_id in inserted_conversas:
                if conversa_id in novas:
                    live_events.conversation_new(conversa_id)
                else:
                    live_events.conversation_updated(conversa_id)
            # A merge (docs/identity.md) moved conversations to another contact, closed one.
            for evento, conversa_id in mescladas:
                if evento == "closed":
                    live_events.conversation_closed(conversa_id)
                elif conversa_id not in inserted_conversas:
                    live_events.conversation_updated(conversa_id)
            for r in inserted:
                live_events.message_new(r["mensagem"]["id"])
            result.ausencias = _attendance(messages, inserted, result.conversas_novas)
        if parsed.alteracoes or result.mensagens:
            # Edits and revokes, and those that were waiting for a message stored just now.

            alteracoes.record(parsed.alteracoes)
            originais = [a["original_whatsapp_id"] for a in parsed.alteracoes]
            originais += [r["mensagem"]["whatsapp_id"] for r in result.mensagens]
            result.alteradas = alteracoes.apply(originais)
            for mensagem in result.alteradas:
                live_events.message_updated(mensagem["id"])
        if parsed.statuses:
            mensagens.lock_whatsapp_ids([st["whatsapp_id"] for st in parsed.statuses])
            result.statuses = mensagens.apply_statuses(parsed.statuses)
            for status in result.statuses:
                live_events.message_status(status["mensagem_id"])
            contatos.fill_bsuid_from_statuses([st for st in parsed.statuses if st.get("bsuid")])
        if parsed.user_preferences:
            contatos.apply_user_preferences(parsed.user_preferences)
        if parsed.templates:
            result.templates = templates.update_from_webhook(parsed.templates)
            for template in result.templates:
                live_events.template_updated(template["id"])
        if parsed.eventos:
            eventos.insert_many(parsed.eventos)
    return result


def _attendance(messages: list[InboundRow], inserted: list[dict[str, Any]], novas: list[str]) -> list[str]:
    """Issue 13, inside the transaction: an ad's referral starts the 72 h free entry point's
    clock, new conversations are distributed, and the away message is claimed (returns the
    conversations owed it, sent after the commit)."""
    by_wamid = {m.whatsapp_id: m for m in messages}
    anuncios: dict[str, str] = {}
    clientes: set[str] = set()
    ids: list[str] = []
    for r in inserted:
        row = by_wamid.get(r["mensagem"]["whatsapp_id"])
        conversa_id = str(r["mensagem"]["conversa_id"])
        ids.append(str(r["mensagem"]["id"]))
        if row is None or not row.abre_janela:
            continue
        clientes.add(conversa_id)
        if row.referral is not None:
            when = row.created_at.isoformat()
            anuncios[conversa_id] = min(anuncios.get(conversa_id, when), when)
    if anuncios:
        conversas.mark_anuncio(anuncios)
    return atendimento.on_inbound(sorted(novas), sorted(clientes), ids)


def _apply_number_changes(
    messages: list[InboundRow], contacts: dict[str, dict[str, Any]], inserted: list[dict[str, Any]]
) -> None:
    """A `user_changed_number` system message (newly stored) moves its contact to the new number:
    the next messages, from the new wa_id, then find the same contact and conversation."""
    changes = [m for m in messages if m.numero_novo]
    if not changes:
        return

    stored = {r["mensagem"]["whatsapp_id"] for r in inserted}
    por_contato: dict[str, dict[str, Any]] = {}
    for m in sorted(changes, key=lambda m: m.created_at):  # the latest change of a contact wins
        if m.whatsapp_id not in stored:
            continue
        contato_id = str(contacts[m.chave_contato]["contato_id"])
        por_contato[contato_id] = {
            "contato_id": contato_id,
            "whatsapp_id": m.whatsapp_id,
            "telefone_antigo": m.telefone,
            "telefone_novo": m.numero_novo["telefone"],
            "wa_id_novo": m.numero_novo["wa_id"],
            "created_at": m.created_at.isoformat(),
        }
    claimed: dict[str, int] = {}
    for row in por_contato.values():
        claimed[row["telefone_novo"]] = claimed.get(row["telefone_novo"], 0) + 1
    for row in por_contato.values():  # two contacts claiming one number: neither moves, both recorded
        row["disputado"] = claimed[row["telefone_novo"]] > 1
    if por_contato:
        contatos.apply_number_changes(list(por_contato.values()))


def _apply_bsuid_changes(
    messages: list[InboundRow],
    contacts: dict[str, dict[str, Any]],
    inserted: list[dict[str, Any]],
    mescladas: list[tuple[str, str]],
) -> None:
    """A system message naming a new BSUID (user_changed_user_id; a number change gives one
    too), newly stored: the contact takes it. Where the new BSUID already has a contact of
    its own (its messages came first), Meta's message proves they are one person: merged."""
    changes = [m for m in messages if m.bsuid_novo]
    if not changes:
        return

    stored = {r["mensagem"]["whatsapp_id"] for r in inserted}
    identidades.lock([f"b:{m.bsuid_novo}" for m in changes])
    for m in sorted(changes, key=lambda m: m.created_at):
        if m.whatsapp_id not in stored:
            continue
        contato_id = str(contacts[m.chave_contato]["contato_id"])
        alvo = contato_id
        outros = [c for c in identidades.find(m.bsuid_novo, None) if str(c["id"]) != contato_id]
        if outros:
            ordem = sorted(
                [outros[0], {"id": contato_id, "created_at": _created_at(contato_id)}],
                key=lambda c: (c["created_at"], str(c["id"])),
            )
            alvo = str(ordem[0]["id"])
            mescladas += identidades.merge(
                ordem[0]["id"],
                ordem[1]["id"],
                {"motivo": "bsuid_alterado", "whatsapp_id": m.whatsapp_id, "bsuid_novo": m.bsuid_novo},
            )["conversas"]
        identidades.replace_bsuid(
            alvo,
            m.bsuid_novo,  # type: ignore[arg-type]
            {"whatsapp_id": m.whatsapp_id, "motivo": "mensagem_de_sistema"},
            f"bsuid_alterado:{m.whatsapp_id}",
        )


def _created_at(contato_id: str) -> dt.datetime:
    return contatos.get(contato_id)["created_at"]  # type: ignore[index]


def _mark_answered(
    messages: list[InboundRow], contacts: dict[str, dict[str, Any]], inserted: list[dict[str, Any]]
) -> None:
    """Echoes newly stored count as our reply (alteracoes.mark_answered)."""
    ecos = [
        {"conversa_id": str(r["mensagem"]["conversa_id"]), "created_at": r["mensagem"]["created_at"]}
        for r in inserted
        if r["mensagem"]["direcao"] == "saida"
    ]
    if ecos:
        alteracoes.mark_answered(ecos)
