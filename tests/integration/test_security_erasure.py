"""Erasure that leaves nothing (issue 16 §3): after anonymisation, no text or jsonb column of
any table, and no S3 object, holds the contact's number (current or former), name, any of
their message texts, or a WhatsApp id of theirs (Meta's ids encode the sender's number)."""

from __future__ import annotations

import json

from chalicelib import db
from devstack import payloads as wa
from tests.integration import lgpd_support
from tests.integration.lgpd_support import TELEFONE, WA_ID, seed_contact_with_everything

NUMERO_ANTIGO = "5511911112222"
BSUID = "BR.1502576394655843"
TEXTO_WEBHOOK = "Maria escrevendo pelo webhook"


def _dump_database() -> list[tuple[str, str, str]]:
    """(table, column, value) of every text-like and jsonb column of every application table."""
    columns = db.query(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'ARRAY', 'USER-DEFINED')"
        " AND c.table_name <> 'schema_migrations'"
    )
    found = []
    for col in columns:
        table, column = col["table_name"], col["column_name"]
        # Identifiers from information_schema, quoted: not input.
        sql = f'SELECT CAST("{column}" AS text) AS v FROM "{table}" WHERE "{column}" IS NOT NULL'  # noqa: S608
        found += [(table, column, row["v"]) for row in db.query(sql)]
    return found


def _dump_bucket(env) -> list[tuple[str, str]]:
    found = []
    versions = env.s3.list_object_versions(Bucket=lgpd_support.BUCKET)
    for item in versions.get("Versions", []):
        obj = env.s3.get_object(Bucket=lgpd_support.BUCKET, Key=item["Key"], VersionId=item["VersionId"])
        found.append((item["Key"], obj["Body"].read().decode("latin-1") + json.dumps(obj.get("Metadata", {}))))
    for item in versions.get("DeleteMarkers", []):
        found.append((item["Key"], ""))
    return found


def test_after_anonymisation_nothing_personal_is_left_anywhere(env):
    from tests.integration.webhook_support import Webhook

    seed = seed_contact_with_everything(env)
    kid = str(seed["contato"]["id"])
    db.execute("UPDATE contatos SET bsuid = :b WHERE id = CAST(:k AS uuid)", b=BSUID, k=kid)
    hook = Webhook(env.client, env.sqs, env.queue_url)
    # Through the webhook: a text (its wamid in Meta's format encodes the number), a marketing
    # stop (eventos.chave named the number), a status for a message we do not know yet (parked
    # with recipient_id), a status without a word (stored as a discarded part, no contact), and
    # a status parked for the number the contact had before changing it.
    texto = wa.text(WA_ID, TEXTO_WEBHOOK)
    hook.deliver(wa.value(messages=[texto], profiles={WA_ID: "Maria Souza"}))
    hook.deliver(wa.user_preferences(WA_ID, "stop"))
    hook.deliver(wa.value(statuses=[wa.status("wamid.desconhecida", "delivered", recipient_id=WA_ID)]))
    hook.deliver(wa.value(statuses=[{"id": "wamid.semstatus", "recipient_id": WA_ID, "timestamp": "1764100000"}]))
    hook.deliver(wa.value(statuses=[wa.status("wamid.antigo", "read", recipient_id=NUMERO_ANTIGO)]))
    por_bsuid = {**wa.status("wamid.porbsuid", "delivered", recipient_id=WA_ID), "recipient_user_id": BSUID}
    del por_bsuid["recipient_id"]
    hook.deliver(wa.value(statuses=[por_bsuid]))
    db.execute(
        "INSERT INTO eventos (contato_id, tipo, dados, chave) VALUES (CAST(:k AS uuid), 'numero_alterado',"
        " CAST(:d AS jsonb), 'numero_alterado:wamid.mudanca')",
        k=kid,
        d=json.dumps({"de": "+" + NUMERO_ANTIGO, "para": TELEFONE, "wa_id": WA_ID, "whatsapp_id": "wamid.mudanca"}),
    )
    wamids = [r["whatsapp_id"] for r in db.query("SELECT whatsapp_id FROM mensagens WHERE whatsapp_id IS NOT NULL")]
    assert texto["id"] in wamids

    r = env.post(f"/contatos/{kid}/anonimizar", {"confirmar": True})
    assert r.status_code == 200, r.body

    needles = [
        BSUID,
        "wamid.porbsuid",
        WA_ID,
        WA_ID[2:],  # the national form
        "551187654321",  # without the ninth digit (WhatsApp's older Brazilian form)
        NUMERO_ANTIGO,
        NUMERO_ANTIGO[2:],
        "Maria Souza",
        "Maria S.",
        "quero aulas de violão",
        "minha foto com o violão",
        "Rua das Flores",
        "Casa da Maria",
        "contrato da Maria",
        "contrato-maria",
        TEXTO_WEBHOOK,
        *wamids,
        "wamid.desconhecida",
        "wamid.semstatus",
        "wamid.antigo",
        "wamid.mudanca",
        "wamid.anterior",
    ]
    leaks = [
        (where, column, needle) for where, column, value in _dump_database() for needle in needles if needle in value
    ]
    leaks += [(key, "s3", needle) for key, value in _dump_bucket(env) for needle in needles if needle in key + value]
    assert leaks == [], "\n".join(map(str, leaks))


def test_deduplication_still_works_after_anonymisation(env):
    """A message redelivered after the erasure (Meta retries for days) is recognised as the
    one already stored, though its id is no longer kept in the clear: no new contact."""
    from tests.integration.webhook_support import Webhook

    hook = Webhook(env.client, env.sqs, env.queue_url)
    texto = wa.text(WA_ID, TEXTO_WEBHOOK)
    hook.deliver(wa.value(messages=[texto]))
    kid = str(db.scalar("SELECT id FROM contatos"))
    assert env.post(f"/contatos/{kid}/anonimizar", {"confirmar": True}).status_code == 200
    hook.deliver(wa.value(messages=[texto]))
    assert db.scalar("SELECT count(*) FROM contatos") == 1
    assert db.scalar("SELECT count(*) FROM mensagens") == 1


def test_a_stop_redelivered_after_anonymisation_is_recorded_once(env):
    from tests.integration.webhook_support import Webhook

    hook = Webhook(env.client, env.sqs, env.queue_url)
    hook.deliver(wa.value(messages=[wa.text(WA_ID, "oi")]))
    stop = wa.user_preferences(WA_ID, "stop", timestamp=1764100000)
    hook.deliver(stop)
    kid = str(db.scalar("SELECT id FROM contatos"))
    before = db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'opt_out'")
    assert env.post(f"/contatos/{kid}/anonimizar", {"confirmar": True}).status_code == 200
    hook.deliver(stop)
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'opt_out'") == before


def test_the_export_includes_webhook_parts_stored_without_a_contact_that_name_the_number(env):
    from tests.integration.webhook_support import Webhook

    hook = Webhook(env.client, env.sqs, env.queue_url)
    hook.deliver(wa.value(messages=[wa.text(WA_ID, "oi")]))
    hook.deliver(wa.value(statuses=[{"id": "wamid.semstatus", "recipient_id": WA_ID, "timestamp": "1764100000"}]))
    kid = str(db.scalar("SELECT id FROM contatos"))
    doc = json.loads(env.get(f"/contatos/{kid}/export").body)
    assert [p["tipo"] for p in doc["partes_sem_contato"]] == ["whatsapp_descartado"]
    assert doc["partes_sem_contato"][0]["dados"]["raw"]["recipient_id"] == WA_ID
