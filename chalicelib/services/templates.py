"""Template sync: Meta's list of the account's message templates → the `templates` table.

Each page of `GET {waba}/message_templates` (following `paging.next`) is upserted in one
statement; templates Meta no longer lists are marked `deleted`; every row that changed is
published as `template:updated`.

`variables` is a list of `{"component": "header"|"body"|"button", "name": "1"|"nome",
"example": str|None}` in the order the placeholders appear: positional (`{{1}}`) and named
(`{{nome}}`) placeholders are both kept by name, so a sender can build the parameters.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.observability import logger

TEMPLATE_FIELDS = "id,name,language,status,category,components"
PAGE_LIMIT = 100

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

STATUS_MAP = {
    "APPROVED": "approved",
    "PENDING": "pending",
    "REJECTED": "rejected",
    "PAUSED": "paused",
    "DISABLED": "disabled",
    "IN_APPEAL": "in_appeal",
    "PENDING_DELETION": "pending_deletion",
    "DELETED": "deleted",
    "ARCHIVED": "archived",
    "LIMIT_EXCEEDED": "limit_exceeded",
}

# Meta's current three categories, plus the pre-2023 names some old templates still carry.
CATEGORY_MAP = {
    "MARKETING": "marketing",
    "UTILITY": "utility",
    "AUTHENTICATION": "authentication",
    "TRANSACTIONAL": "utility",
    "OTP": "authentication",
    "ACCOUNT_UPDATE": "utility",
    "ALERT_UPDATE": "utility",
    "APPOINTMENT_UPDATE": "utility",
    "AUTO_REPLY": "utility",
    "ISSUE_RESOLUTION": "utility",
    "PAYMENT_UPDATE": "utility",
    "PERSONAL_FINANCE_UPDATE": "utility",
    "RESERVATION_UPDATE": "utility",
    "SHIPPING_UPDATE": "utility",
    "TICKET_UPDATE": "utility",
    "TRANSPORTATION_UPDATE": "utility",
}


def _mapped(mapping: dict[str, str], value: Any, fallback: str, what: str) -> str:
    mapped = mapping.get(str(value or "").upper())
    if mapped is None:
        logger.warning(f"unknown template {what}", extra={what: value})
        return fallback
    return mapped


def map_status(value: Any) -> str:
    # Unknown means unusable until Meta says otherwise: never guess "approved".
    return _mapped(STATUS_MAP, value, "pending", "status")


def map_category(value: Any) -> str:
    # Marketing is the strictest category (always charged, opt-outs enforced).
    return _mapped(CATEGORY_MAP, value, "marketing", "category")


def _examples(component: dict[str, Any], kind: str) -> tuple[list[str], dict[str, str]]:
    """Positional and named example values Meta keeps next to a component's text."""
    if kind not in ("body", "header"):
        return [], {}
    example = component.get("example") or {}
    rows = example.get(f"{kind}_text") or []
    # body_text is a list of rows (the first one is used); header_text is one flat row.
    positional = [str(v) for v in (rows[0] if rows and isinstance(rows[0], list) else rows)]
    named = {
        item["param_name"]: str(item.get("example", ""))
        for item in example.get(f"{kind}_text_named_params") or []
        if isinstance(item, dict) and "param_name" in item
    }
    return positional, named


def _placeholders(text: str, component: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    positional, named = _examples(component, kind)
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for match in _PLACEHOLDER.finditer(text or ""):
        name = match.group(1)
        if name in seen:  # the same placeholder twice is one parameter
            continue
        seen.add(name)
        if name.isdigit():
            index = int(name) - 1
            example = positional[index] if 0 <= index < len(positional) else None
        else:
            example = named.get(name)
        found.append({"component": kind, "name": name, "example": example})
    return found


def extract_body_and_variables(components: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The BODY text and every placeholder of the header, body and URL buttons."""
    body: str | None = None
    variables: list[dict[str, Any]] = []
    for component in components or []:
        kind = str(component.get("type", "")).lower()
        if kind == "body":
            body = component.get("text")
            variables += _placeholders(body or "", component, "body")
        elif kind == "header" and str(component.get("format", "TEXT")).upper() == "TEXT":
            variables += _placeholders(component.get("text") or "", component, "header")
        elif kind == "buttons":
            for button in component.get("buttons") or []:
                if str(button.get("type", "")).upper() == "URL":
                    examples = button.get("example") or []
                    for var in _placeholders(button.get("url") or "", {}, "button"):
                        var["example"] = str(examples[0]) if examples else None
                        variables.append(var)
    return body, variables


def to_row(template: dict[str, Any]) -> dict[str, Any]:
    """One Graph template object → the columns we store."""
    components = template.get("components") or []
    body, variables = extract_body_and_variables(components)
    return {
        "whatsapp_id": str(template["id"]),
        "name": template["name"],
        "language": template["language"],
        "status": map_status(template.get("status")),
        "category": map_category(template.get("category")),
        "body": body,
        "components": components,
        "variables": variables,
    }


def _page_items(page: Any) -> list[dict[str, Any]]:
    # Accept both a page body ({"data": [...], "paging": ...}) and a bare list of templates.
    if isinstance(page, dict):
        return list(page.get("data") or [])
    return list(page or [])


def sync_templates(graph=None, page_limit: int = PAGE_LIMIT) -> dict[str, int]:
    """Fetch every page, upsert, mark the missing ones deleted, publish changes.

    Templates are only marked deleted after every page arrived: a failure half-way through
    raises (GraphError) and leaves the table as the pages so far made it.
    """
    from chalicelib import db
    from chalicelib.repositories import templates as repo
    from chalicelib.services import live_events

    if graph is None:
        from chalicelib.whatsapp.graph import get_graph_client

        graph = get_graph_client()

    seen: list[str] = []
    changed: list[dict[str, Any]] = []
    total = 0
    pages = 0
    for page in graph.iter_template_pages(TEMPLATE_FIELDS, page_limit):
        pages += 1
        rows = {}
        for item in _page_items(page):
            try:
                row = to_row(item)
            except (KeyError, TypeError):
                logger.warning("template without id, name or language skipped", extra={"template": item})
                continue
            rows[(row["name"], row["language"])] = row  # a page repeating a template must not fail the upsert
        stored = repo.upsert_page(list(rows.values()))
        seen += [row["whatsapp_id"] for row in rows.values()]
        total += len(stored)
        changed += [row for row in stored if row.pop("changed")]
    with db.transaction():
        deleted = repo.mark_missing_deleted(seen)
        changed += deleted
        for template in changed:  # published together, after this commit (the pages committed before)
            live_events.template_updated(template["id"])
    result = {"pages": pages, "templates": total, "changed": len(changed), "deleted": len(deleted)}
    logger.info("template sync done", extra=result)
    return result
