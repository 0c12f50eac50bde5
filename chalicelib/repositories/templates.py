"""SQL for templates (WhatsApp message templates, synced from the business account)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

# The columns every function returns (other modules build their SELECTs from it too).
COLUMNS = (
    "id, whatsapp_id, name, category, status, language, body, components, variables,"
    " last_synced_at, created_at, updated_at"
)
_SELECT = "SELECT " + COLUMNS + " "


# One page of Meta's templates in one statement. `antes` is the rows as they were before this
# statement (same snapshot), so `changed` says which rows the browsers must hear about.
# The arbiter is (name, language): Meta never changes a template's name or language under
# one id, so this is the same row as by whatsapp_id, and it also adopts a template that was
# deleted and later recreated under a new id instead of failing on the (name, language) key.
_UPSERT_PAGE_SQL = """
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        whatsapp_id text, name text, language text, status text, category text,
        body text, components jsonb, variables jsonb)
),
antes AS (
    SELECT t.id, t.whatsapp_id, t.status, t.category, t.body, t.components, t.variables
    FROM templates t JOIN entrada e ON t.name = e.name AND t.language = e.language
),
gravados AS (
    INSERT INTO templates (whatsapp_id, name, language, status, category, body, components, variables,
                           last_synced_at)
    SELECT whatsapp_id, name, language, CAST(status AS template_status), CAST(category AS template_category),
           body, components, variables, now()
    FROM entrada
    ON CONFLICT (name, language) DO UPDATE SET
        whatsapp_id = EXCLUDED.whatsapp_id,
        status = EXCLUDED.status,
        category = EXCLUDED.category,
        body = EXCLUDED.body,
        components = EXCLUDED.components,
        variables = EXCLUDED.variables,
        last_synced_at = EXCLUDED.last_synced_at
    RETURNING id, whatsapp_id, name, category, status, language, body, components, variables,
              last_synced_at, created_at, updated_at
)
SELECT g.*, (a.id IS NULL
             OR (a.whatsapp_id, a.status, a.category, a.body, a.components, a.variables)
                IS DISTINCT FROM (g.whatsapp_id, g.status, g.category, g.body, g.components, g.variables)
            ) AS changed
FROM gravados g LEFT JOIN antes a ON a.id = g.id
"""


def upsert_page(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert or update one page of templates; every row comes back with a `changed` flag."""
    if not rows:
        return []
    return db.query(_UPSERT_PAGE_SQL, rows=json.dumps(rows))


def mark_missing_deleted(seen_whatsapp_ids: list[str]) -> list[dict[str, Any]]:
    """Templates we know from Meta that Meta no longer lists are gone upstream: mark them."""
    return db.query(
        "UPDATE templates SET status = 'deleted', last_synced_at = now()"
        " WHERE whatsapp_id IS NOT NULL AND status <> 'deleted'"
        " AND NOT (whatsapp_id = ANY(CAST(:seen AS text[])))"
        " RETURNING id, whatsapp_id, name, category, status, language, body, components, variables,"
        " last_synced_at, created_at, updated_at",
        seen=list(seen_whatsapp_ids),
    )


def get(template_id: str) -> dict[str, Any] | None:
    return db.query_one(_SELECT + "FROM templates WHERE id = :id", id=template_id)


def get_many(template_ids: list[str]) -> list[dict[str, Any]]:
    if not template_ids:
        return []
    return db.query(_SELECT + "FROM templates WHERE id = ANY(CAST(:ids AS uuid[]))", ids=list(template_ids))


def get_by_whatsapp_id(whatsapp_id: str) -> dict[str, Any] | None:
    return db.query_one(_SELECT + "FROM templates WHERE whatsapp_id = :whatsapp_id", whatsapp_id=whatsapp_id)


def list_all() -> list[dict[str, Any]]:
    return db.query(_SELECT + "FROM templates ORDER BY name, language")


def list_page(
    *,
    limit: int,
    status: str | None,
    category: str | None,
    language: str | None,
    after: tuple[str, str] | tuple[None, None] = (None, None),
) -> list[dict[str, Any]]:
    """GET /templates (API stream): by name, keyset on (name, id); None filters are left out."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if status:
        where.append("status = CAST(:status AS template_status)")
        params["status"] = status
    if category:
        where.append("category = CAST(:category AS template_category)")
        params["category"] = category
    if language:
        where.append("language = :language")
        params["language"] = language
    if after[0] is not None:
        where.append("(name, id) > (CAST(:after_name AS varchar), CAST(:after_id AS uuid))")
        params["after_name"], params["after_id"] = after
    sql = f"SELECT {COLUMNS} FROM templates"  # noqa: S608 - column names only; values are parameters
    if where:
        sql += " WHERE " + " AND ".join(where)
    return db.query(sql + " ORDER BY name, id LIMIT :limit", **params)


# Webhooks message_template_status_update and template_category_update (inbound webhook
# stream): by Meta's id, or by (name, language) for a template we created before its id was
# known. A NULL status or category leaves that column as it is. A template we have never
# synced is left for the sync job (the rest of the row is unknown here).
_UPDATE_FROM_WEBHOOK_SQL = f"""
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        whatsapp_id text, name text, language text, status template_status, category template_category,
        status_at timestamptz)
),
novo AS (
    -- A status older than the one applied last (by the entry's time) is a replay: ignored.
    SELECT t.id, e.category,
           CASE WHEN e.status IS NOT NULL AND (e.status_at IS NULL OR t.status_webhook_at IS NULL
                                              OR e.status_at >= t.status_webhook_at)
                THEN e.status END AS status,
           e.status_at
    FROM templates t JOIN entrada e
      ON t.whatsapp_id = e.whatsapp_id OR (t.name = e.name AND t.language = e.language)
)
UPDATE templates t SET status = coalesce(n.status, t.status), category = coalesce(n.category, t.category),
    status_webhook_at = CASE WHEN n.status IS NOT NULL AND n.status_at IS NOT NULL
                             THEN greatest(t.status_webhook_at, n.status_at) ELSE t.status_webhook_at END
FROM novo n
WHERE t.id = n.id
  AND (t.status, t.category) IS DISTINCT FROM (coalesce(n.status, t.status), coalesce(n.category, t.category))
RETURNING {", ".join("t." + c.strip() for c in COLUMNS.split(","))}
"""  # noqa: S608 - column names only


def update_from_webhook(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: {whatsapp_id, name, language, status (template_status) | None, category
    (template_category) | None}, one per template; returns the rows that changed."""
    if not rows:
        return []
    return db.query(_UPDATE_FROM_WEBHOOK_SQL, rows=json.dumps(rows))
