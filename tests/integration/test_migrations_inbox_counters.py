"""0005: the inbox counters are backfilled on upgrade and kept by the mensagens trigger."""

from __future__ import annotations

import shutil

from chalicelib import db
from chalicelib.migrate import MIGRATIONS_DIR, migrate


def test_upgrade_backfills_activity_and_unread(scratch_database, tmp_path):
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0005":
            shutil.copy(path, tmp_path / path.name)
    migrate(tmp_path)
    db.execute("INSERT INTO contatos (telefone) VALUES ('+5511999990001'), ('+5511999990002')")
    db.execute(
        "INSERT INTO conversas (contato_id, created_at)"
        " SELECT id, '2026-01-01T00:00:00Z' FROM contatos ORDER BY telefone"
    )
    com, sem = [
        r["id"]
        for r in db.query("SELECT c.id FROM conversas c JOIN contatos t ON t.id = c.contato_id ORDER BY t.telefone")
    ]
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, tipo, created_at) VALUES"
        " (:c, 'entrada', 'texto', '2026-01-02T00:00:00Z'),"
        " (:c, 'entrada', 'texto', '2026-01-03T00:00:00Z'),"
        " (:c, 'saida', 'texto', '2026-01-04T00:00:00Z')",
        c=com,
    )
    migrate()
    rows = {r["id"]: r for r in db.query("SELECT id, ultima_atividade_em, nao_lidas FROM conversas")}
    assert rows[com]["ultima_atividade_em"].isoformat() == "2026-01-04T00:00:00+00:00"
    assert rows[com]["nao_lidas"] == 2
    assert rows[sem]["ultima_atividade_em"].isoformat() == "2026-01-01T00:00:00+00:00"
    assert rows[sem]["nao_lidas"] == 0


def test_trigger_counts_a_multi_row_insert_once_per_row(db_clean):
    db.execute("INSERT INTO contatos (telefone) VALUES ('+5511999990001'), ('+5511999990002')")
    db.execute("INSERT INTO conversas (contato_id) SELECT id FROM contatos")
    a, b = [r["id"] for r in db.query("SELECT id FROM conversas ORDER BY id")]
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, tipo, created_at)"
        " SELECT CASE WHEN g % 2 = 0 THEN CAST(:a AS uuid) ELSE CAST(:b AS uuid) END,"
        "        CAST(CASE WHEN g % 3 = 0 THEN 'saida' ELSE 'entrada' END AS direcao_mensagem), 'texto',"
        "        now() + make_interval(mins => g)"
        " FROM generate_series(1, 12) g",
        a=a,
        b=b,
    )
    rows = {r["id"]: r for r in db.query("SELECT id, nao_lidas, ultima_atividade_em FROM conversas")}
    # even g -> a: 2,4,6,8,10,12 (6 and 12 outbound); odd g -> b: 1,3,5,7,9,11 (3 and 9 outbound)
    assert rows[a]["nao_lidas"] == 4 and rows[b]["nao_lidas"] == 4
    assert rows[a]["ultima_atividade_em"] > rows[b]["ultima_atividade_em"]
    # A redelivered message that ON CONFLICT skips is not counted again.
    db.execute("UPDATE mensagens SET whatsapp_id = 'wamid.1' WHERE id = (SELECT id FROM mensagens LIMIT 1)")
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, tipo, whatsapp_id) VALUES (:a, 'entrada', 'texto', 'wamid.1')"
        " ON CONFLICT (whatsapp_id) WHERE whatsapp_id IS NOT NULL DO NOTHING",
        a=a,
    )
    assert db.scalar("SELECT sum(nao_lidas) FROM conversas") == 8
