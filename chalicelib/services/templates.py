"""Template sync: Meta's list of the account's message templates → the `templates` table.

Each page of `GET {waba}/message_templates` (following `paging.next`) is upserted in one
statement; templates Meta no longer lists are marked `deleted`; every row that changed is
published as `template:updated`.

`variables` is a list of `{"component": "header"|"body"|"button", "name": "1"|"nome",
"example": str|None}` in the order the placeholders appear: positional (`{{1}}`) and named
(`{{nome}}`) placeholders are both kept by name, so a sender can build the parameters.

A send's parameters are matched here too (`match_parameters`, by position or by name), and
turned into Meta's `components` and the text the customer reads: one placeholder rule for
the sync and the send.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib import db
from chalicelib.http import ApiError
from chalicelib.observability import logger
from chalicelib.repositories import templates as repo
from chalicelib.services import live_events

TEMPLATE_FIELDS = "id,name,language,status,category,components"
PAGE_LIMIT = 100
PARAM_MAX = 1024  # a send's template parameter

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


# Parameters of a send ----------------------------------------------------------------------
def _well_formed(variables: Any) -> bool:
    return isinstance(variables, list) and all(
        isinstance(v, dict) and isinstance(v.get("component"), str) and isinstance(v.get("name"), (str, int))
        for v in variables
    )


def template_variables(template: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{component, name}]` in template order: the synced `variables`, else from components.

    A row whose `variables` are malformed (edited by hand, an old sync) is read from its
    components instead; the next sync rewrites it."""
    variables = template.get("variables") or []
    if not _well_formed(variables):
        logger.warning("template variables malformed; using its components", extra={"template": template.get("name")})
        variables = []
    if not variables and template.get("components"):
        try:
            _, variables = extract_body_and_variables(template["components"])
        except (KeyError, TypeError, AttributeError, ValueError):
            raise ApiError(
                422,
                "ValidationError",
                f"O template {template.get('name')} está com a definição inválida; sincronize os templates.",
                field="name",
            ) from None
    if not variables and isinstance(template.get("body"), str):
        seen: list[str] = []
        for name in _PLACEHOLDER.findall(template["body"]):
            if name not in seen:
                seen.append(name)
        variables = [{"component": "body", "name": n} for n in seen]
    return [{"component": str(v["component"]).lower(), "name": str(v["name"])} for v in variables]


def _parameter_error(message: str, variables: list[dict[str, Any]]) -> ApiError:
    esperado = [f"{v['component']}.{v['name']}" for v in variables]
    return ApiError(422, "ValidationError", message, field="parametros", esperado=esperado)


def match_parameters(variables: list[dict[str, Any]], parametros: list[str] | dict[str, str]) -> list[dict[str, Any]]:
    """Each template variable with its value; 422 naming what the template expects."""
    if isinstance(parametros, list):
        if len(parametros) != len(variables):
            raise _parameter_error(
                f"O template espera {len(variables)} parâmetro(s); foram enviados {len(parametros)}.", variables
            )
        valores = [{**v, "valor": p} for v, p in zip(variables, parametros, strict=True)]
    else:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for v in variables:
            by_name.setdefault(v["name"], []).append(v)
        chosen: dict[tuple[str, str], str] = {}
        for key, value in parametros.items():
            component, _, name = key.rpartition(".")
            if component:
                matches = [v for v in variables if v["component"] == component and v["name"] == name]
            else:
                matches = by_name.get(name, [])
                if len(matches) > 1:
                    raise _parameter_error(
                        f"O parâmetro {name} existe em mais de uma parte do template: use componente.nome.", variables
                    )
            if not matches:
                raise _parameter_error(f"O template não tem o parâmetro {key}.", variables)
            ident = (matches[0]["component"], matches[0]["name"])
            if ident in chosen:
                raise _parameter_error(f"O parâmetro {key} foi informado duas vezes.", variables)
            chosen[ident] = value
        missing = [f"{v['component']}.{v['name']}" for v in variables if (v["component"], v["name"]) not in chosen]
        if missing:
            raise _parameter_error(f"Faltam parâmetros do template: {', '.join(missing)}.", variables)
        valores = [{**v, "valor": chosen[(v["component"], v["name"])]} for v in variables]
    for v in valores:
        text = str(v["valor"]).strip()
        # Meta refuses empty parameters and ones with line breaks or tabs (132018).
        if not text or len(text) > PARAM_MAX or re.search(r"[\n\t]| {5,}", text):
            raise _parameter_error(
                f"Valor inválido para {v['component']}.{v['name']}: não pode ser vazio, ter quebras de linha,"
                f" tabulações nem mais de {PARAM_MAX} caracteres.",
                variables,
            )
        v["valor"] = text
    return valores


def _is_named(valores: list[dict[str, Any]], component: str) -> bool:
    return any(not v["name"].isdigit() for v in valores if v["component"] == component)


def _text_parameters(valores: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    named = _is_named(valores, component)
    return [
        {"type": "text", "text": v["valor"], **({"parameter_name": v["name"]} if named else {})}
        for v in valores
        if v["component"] == component
    ]


def template_components(template: dict[str, Any], valores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Meta's `components` for the send: header and body text parameters, URL button suffixes."""
    components: list[dict[str, Any]] = []
    for kind in ("header", "body"):
        parameters = _text_parameters(valores, kind)
        if parameters:
            components.append({"type": kind, "parameters": parameters})
    buttons = [v for v in valores if v["component"] == "button"]
    if buttons:
        # A URL button's parameter is addressed by the button's position among all buttons.
        url_indexes = []
        for component in template.get("components") or []:
            if str(component.get("type", "")).lower() == "buttons":
                for index, button in enumerate(component.get("buttons") or []):
                    if str(button.get("type", "")).upper() == "URL" and _PLACEHOLDER.search(button.get("url") or ""):
                        url_indexes.append(index)
        for position, v in enumerate(buttons):
            index = url_indexes[position] if position < len(url_indexes) else position
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [{"type": "text", "text": v["valor"]}],
                }
            )
    return components


def render_template_text(template: dict[str, Any], valores: list[dict[str, Any]]) -> str:
    """The body as the customer reads it, for the conversation history."""
    body = template.get("body") or ""
    values = {v["name"]: v["valor"] for v in valores if v["component"] == "body"}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body) or template["name"]
