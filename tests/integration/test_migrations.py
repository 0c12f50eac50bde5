"""The schema: what migrating yields, and how the migration runner behaves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import db
from chalicelib.migrate import MIGRATIONS_DIR, MigrationError, migrate

PROJECT_DIR = Path(__file__).resolve().parents[2]

# The seed ("Data Model: Atendimento Compartilhado e Mídia" over the MVP's base tables)
# and its extensions (each marked EXTENSION in 0002). Later migrations may add more; these
# must exist.
EXPECTED_COLUMNS = {
    "administradores": {"id", "nome", "email", "senha_hash", "created_at", "updated_at"},
    "contatos": {
        "id", "telefone", "nome", "tipo", "origem", "origem_campanha", "canal", "estado_jornada",
        "opt_in_status", "opt_in_at", "opt_in_source", "anonimizado", "created_at", "updated_at",
        "wa_id",
    },
    "interessados": {
        "id", "contato_id", "nome", "idade", "instrumento_desejado", "instrumento_sugerido",
        "experiencia_musical", "expectativas", "disponibilidade_horario", "compativel", "created_at",
    },
    "conversas": {
        "id", "contato_id", "atendente_id", "atribuida_em", "canal", "status", "billing_category",
        "window_expires_at", "created_at", "updated_at", "closed_at",
    },
    "mensagens": {
        "id", "conversa_id", "template_id", "direcao", "conteudo", "tipo", "enviado_por", "whatsapp_id",
        "status_envio", "media_type", "media_url", "media_mime", "thumbnail_url", "billing_category",
        "created_at", "dados",
    },
    "media_files": {
        "id", "mensagem_id", "whatsapp_media_id", "original_url", "storage_key", "storage_url",
        "mime_type", "size_bytes", "thumbnail_key", "thumbnail_url", "created_at",
    },
    "templates": {
        "id", "whatsapp_id", "name", "category", "status", "language", "body", "components",
        "variables", "last_synced_at", "created_at", "updated_at",
    },
    "eventos": {"id", "contato_id", "tipo", "dados", "created_at"},
    "push_subscriptions": {"id", "admin_id", "endpoint", "p256dh", "auth", "created_at"},
    "ws_conexoes": {"connection_id", "admin_id", "created_at"},
}  # fmt: skip

EXPECTED_ENUMS = {
    "tipo_contato": ["interessado", "aluno", "responsavel", "outro"],
    "origem_contato": ["organico", "anuncio", "indicacao", "campanha", "site", "outro"],
    "canal": ["whatsapp", "instagram", "messenger"],
    "estado_jornada": ["novo", "em_atendimento", "qualificado", "aula_experimental", "matriculado", "perdido"],
    "status_conversa": ["ativa", "encerrada"],
    "direcao_mensagem": ["entrada", "saida"],
    "tipo_mensagem": [
        "texto", "interativo", "reacao", "contatos", "sistema", "nao_suportado", "template", "media",
    ],
    "status_envio": ["pendente", "enviada", "entregue", "lida", "reproduzida", "falhou", "recebida"],
    "template_status": [
        "approved", "pending", "rejected", "paused", "disabled", "in_appeal", "pending_deletion",
        "deleted", "archived", "limit_exceeded",
    ],
    "media_type": ["image", "audio", "document", "video", "location"],
    "template_category": ["utility", "marketing", "authentication"],
    "billing_category": ["service", "utility", "marketing", "authentication"],
}  # fmt: skip

# The seed's six indexes, the MVP's, and the uniqueness the design relies on.
EXPECTED_INDEXES = {
    "idx_conversas_atendente", "idx_conversas_window", "idx_media_files_mensagem",
    "idx_media_files_whatsapp", "idx_templates_category", "idx_push_admin",
    "idx_contato_telefone", "idx_contato_estado", "idx_contato_origem", "idx_contato_created",
    "idx_interessado_contato", "idx_interessado_instrumento", "idx_conversa_contato",
    "idx_conversa_status", "idx_conversa_updated", "idx_mensagem_conversa", "idx_mensagem_whatsapp",
    "idx_evento_contato", "idx_evento_tipo", "idx_evento_created", "templates_name_language_key",
    "templates_whatsapp_id_key", "push_subscriptions_endpoint_key", "administradores_email_key",
}  # fmt: skip


def _columns() -> dict[str, set[str]]:
    rows = db.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


def _schema_snapshot() -> list:
    return db.query(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY table_name, column_name"
    ) + db.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname")


def test_empty_database_gets_every_seed_table_column_enum_and_index(scratch_database):
    assert migrate() == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))

    columns = _columns()
    for table, expected in EXPECTED_COLUMNS.items():
        assert expected <= columns.get(table, set()), f"{table} lacks {expected - columns.get(table, set())}"

    enums: dict[str, list[str]] = {}
    for row in db.query(
        "SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid"
        " ORDER BY t.typname, e.enumsortorder"
    ):
        enums.setdefault(row["typname"], []).append(row["enumlabel"])
    for enum, values in EXPECTED_ENUMS.items():
        assert enums.get(enum) == values, enum

    indexes = {row["indexname"] for row in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert indexes >= EXPECTED_INDEXES, EXPECTED_INDEXES - indexes


def test_seed_indexes_have_the_seed_definitions(scratch_database):
    migrate()
    definitions = {
        row["indexname"]: row["indexdef"]
        for row in db.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    }
    assert "WHERE (atendente_id IS NOT NULL)" in definitions["idx_conversas_atendente"]
    assert "(window_expires_at) WHERE (status = 'ativa'" in definitions["idx_conversas_window"]
    assert definitions["idx_media_files_whatsapp"].startswith("CREATE UNIQUE INDEX")
    assert "(category) WHERE (status = 'approved'" in definitions["idx_templates_category"]


def test_migrating_twice_changes_nothing(scratch_database):
    migrate()
    before = _schema_snapshot()
    recorded = db.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version")
    assert migrate() == []
    assert _schema_snapshot() == before
    assert db.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version") == recorded


def test_database_at_previous_version_is_brought_up_to_date(scratch_database, tmp_path):
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    shutil.copy(files[0], tmp_path / files[0].name)
    assert migrate(tmp_path) == [files[0].name]
    db.execute(
        "INSERT INTO contatos (telefone, nome) VALUES ('+5511999990000', 'Ana')"
    )  # data written at the old version survives the upgrade
    assert migrate() == [f.name for f in files[1:]]
    row = db.query_one("SELECT nome, opt_in_status, anonimizado FROM contatos")
    assert row == {"nome": "Ana", "opt_in_status": False, "anonimizado": False}


def test_changed_applied_migration_is_refused(scratch_database, tmp_path):
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    migrate(tmp_path)
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after deploy\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(tmp_path)


def test_failing_migration_leaves_nothing_half_applied(scratch_database, tmp_path):
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "9999_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n")
    with pytest.raises(MigrationError, match=r"9999_broken\.sql"):
        migrate(tmp_path)
    assert db.scalar("SELECT to_regclass('half_done')") is None
    assert db.scalar("SELECT count(*) FROM schema_migrations WHERE version = '9999'") == 0


def test_two_migrate_processes_at_once_apply_each_file_once(scratch_database):
    env = {**os.environ, "DATABASE_URL": scratch_database}
    command = [sys.executable, "-m", "chalicelib.cli", "migrate"]
    procs = [
        subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    rows = db.query("SELECT filename FROM schema_migrations ORDER BY version")
    assert [row["filename"] for row in rows] == files
    said = b"".join(out for out, _ in outputs).decode()
    assert said.count("applied:") == 1 and "up to date" in said
