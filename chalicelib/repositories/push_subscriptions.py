"""SQL for push_subscriptions: the browsers' Web Push endpoints, per admin."""

from __future__ import annotations

from typing import Any

from chalicelib import db


def upsert(admin_id: str, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
    """The endpoint is unique: a browser re-subscribing (new keys, or another admin logged in
    on it) replaces its row instead of piling up duplicates that would each get the push."""
    return db.query_one(
        "INSERT INTO push_subscriptions (admin_id, endpoint, p256dh, auth)"
        " VALUES (:admin_id, :endpoint, :p256dh, :auth)"
        " ON CONFLICT (endpoint) DO UPDATE SET admin_id = EXCLUDED.admin_id,"
        " p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth"
        " RETURNING id, admin_id, endpoint, p256dh, auth, created_at",
        admin_id=admin_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
    )


def delete_for_admin(admin_id: str, endpoint: str) -> int:
    return db.execute(
        "DELETE FROM push_subscriptions WHERE admin_id = :admin_id AND endpoint = :endpoint",
        admin_id=admin_id,
        endpoint=endpoint,
    )


def keep_newest(admin_id: str, keep: int) -> int:
    """Delete the admin's subscriptions beyond the `keep` newest; returns how many went."""
    return db.execute(
        "DELETE FROM push_subscriptions WHERE admin_id = :admin_id AND id NOT IN ("
        " SELECT id FROM push_subscriptions WHERE admin_id = :admin_id ORDER BY created_at DESC, id DESC LIMIT :keep)",
        admin_id=admin_id,
        keep=keep,
    )


def delete_for_admin_all(admin_id: str) -> int:
    return db.execute("DELETE FROM push_subscriptions WHERE admin_id = :admin_id", admin_id=admin_id)


def exist() -> bool:
    """Whether anyone subscribed at all (the drain skips building pushes otherwise)."""
    return bool(db.scalar("SELECT EXISTS (SELECT 1 FROM push_subscriptions)"))


def for_admins(admin_ids: list[str]) -> list[dict[str, Any]]:
    if not admin_ids:
        return []
    return db.query(
        "SELECT id, admin_id, endpoint, p256dh, auth, created_at FROM push_subscriptions"
        " WHERE admin_id = ANY(CAST(:ids AS uuid[])) ORDER BY admin_id, created_at",
        ids=[str(i) for i in admin_ids],
    )


def delete_by_endpoints(endpoints: list[str]) -> int:
    if not endpoints:
        return 0
    return db.execute(
        "DELETE FROM push_subscriptions WHERE endpoint = ANY(CAST(:endpoints AS text[]))", endpoints=list(endpoints)
    )


def for_admin(admin_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT id, admin_id, endpoint, p256dh, auth, created_at FROM push_subscriptions"
        " WHERE admin_id = :admin_id ORDER BY created_at",
        admin_id=admin_id,
    )


def for_conversa(conversa_id: str) -> list[dict[str, Any]]:
    """The assignee's subscriptions, or every admin's while the conversation is unassigned."""
    return db.query(
        "SELECT s.id, s.admin_id, s.endpoint, s.p256dh, s.auth, s.created_at"
        " FROM push_subscriptions s JOIN conversas c ON c.id = :conversa_id"
        " WHERE c.atendente_id IS NULL OR s.admin_id = c.atendente_id"
        " ORDER BY s.created_at",
        conversa_id=conversa_id,
    )


def targets_for_conversas(conversa_ids: list[str]) -> list[dict[str, Any]]:
    """For each conversation: who to push to (the assignee, or every admin while unassigned)
    and the contact's name for the notification title, in one query."""
    if not conversa_ids:
        return []
    return db.query(
        "SELECT c.id AS conversa_id, ct.nome AS contato_nome, ct.nome_perfil AS contato_nome_perfil,"
        " ct.telefone AS contato_telefone, ct.nome_exibicao AS contato_nome_exibicao,"
        " s.admin_id, s.endpoint, s.p256dh, s.auth"
        " FROM conversas c"
        " JOIN contatos ct ON ct.id = c.contato_id"
        " JOIN push_subscriptions s ON c.atendente_id IS NULL OR s.admin_id = c.atendente_id"
        " WHERE c.id = ANY(CAST(:ids AS uuid[]))"
        " ORDER BY c.id, s.created_at",
        ids=[str(i) for i in conversa_ids],
    )
