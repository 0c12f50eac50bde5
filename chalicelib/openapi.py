"""OpenAPI 3.1 of the app, generated from its route table and the pydantic models.

Every route in `app.routes` is documented (so the document can never miss one); a view may
add detail with `@doc(...)` *below* its `@bp.route(...)`: summary, the body/query models,
the response model and status. Pydantic's JSON Schema is JSON Schema 2020-12, which is what
OpenAPI 3.1 uses, so the models' schemas go into components as they are.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from chalicelib import errors

PUBLIC_ROUTES = {
    ("/auth/login", "POST"),
    ("/health", "GET"),
    ("/openapi.json", "GET"),
    ("/webhooks/whatsapp", "GET"),
    ("/webhooks/whatsapp", "POST"),
}
# Where `make run` serves the API (the exported contract file names it; the live document
# names the host it was fetched from).
LOCAL_SERVER = "http://127.0.0.1:8000"

_ERROR_SCHEMA = {
    "type": "object",
    "description": "Todo erro 4xx/5xx: Code estável (o cliente age por ele), Message em português.",
    "properties": {
        "Code": {"type": "string", "enum": sorted(errors.CODES)},
        "Message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "ValidationError: o campo com problema"},
    },
    "required": ["Code", "Message"],
}
_STATUS_WORDS = {
    400: "Requisição inválida",
    401: "Token ausente, inválido ou expirado",
    403: "Acesso negado",
    404: "Não encontrado",
    405: "Método não permitido",
    409: "Conflito com o estado atual",
    413: "Corpo grande demais",
    415: "Tipo de conteúdo não suportado",
    422: "Dados inválidos",
    429: "Limite atingido (veja Retry-After)",
    500: "Erro interno",
    502: "O WhatsApp recusou ou falhou",
    503: "Indisponível (veja Retry-After)",
    504: "O WhatsApp não respondeu a tempo",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Uma chave por mensagem composta (ex.: um UUID), repetida nas novas tentativas: "
    "a mesma chave devolve a primeira resposta em vez de enviar de novo.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def doc(
    *,
    summary: str | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    tags: list[str] | None = None,
    errors: tuple[int, ...] = (),
    headers: tuple[dict[str, Any], ...] = (),
) -> Any:
    """Detail for a route's operation: `errors` are the statuses it may answer besides the
    ones every route of its kind has; `headers` extra header parameters."""

    def decorate(view):
        view.__openapi__ = {
            "summary": summary,
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "tags": tags,
            "errors": errors,
            "headers": headers,
        }
        return view

    return decorate


def _component(model: Any, components: dict[str, Any], mode: str, name: str | None = None) -> dict[str, str]:
    if isinstance(model, TypeAdapter):
        schema = model.json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    else:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        name = name or model.__name__
    for sub_name, sub in schema.pop("$defs", {}).items():
        components.setdefault(sub_name, sub)
    assert name, "a TypeAdapter needs a name"
    components.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _error_statuses(path: str, method: str, meta: dict[str, Any], secured: bool) -> list[int]:
    statuses = {500, 503}
    if secured:
        statuses.add(401)
    if "{" in path:
        statuses.add(404)
    if meta.get("body"):
        statuses |= {400, 413, 415, 422}
    if meta.get("query"):
        statuses.add(422)
    statuses |= set(meta.get("errors") or ())
    return sorted(statuses)


def live_event_components(components: dict[str, Any]) -> None:
    """The live events' schemas (`LiveEvent`, one per event, and `LiveBatch`, the frame that
    carries them) into `components`."""
    from chalicelib.services import live_events

    for model in live_events.EVENT_MODELS.values():
        _component(model, components, "serialization")
    _component(live_events.live_event_adapter, components, "serialization", name="LiveEvent")
    _component(live_events.LiveBatch, components, "serialization")


def build(app, server_url: str | None = None) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for path, methods in sorted(app.routes.items()):
        item: dict[str, Any] = {}
        for method, entry in sorted(methods.items()):
            if method == "OPTIONS":
                continue  # the CORS preflight every path answers (chalicelib.http)
            meta = getattr(entry.view_function, "__openapi__", {})
            op: dict[str, Any] = {
                "operationId": f"{method.lower()}_{entry.view_name}",
                "summary": meta.get("summary")
                or (entry.view_function.__doc__ or entry.view_name).strip().split("\n")[0],
            }
            if meta.get("tags"):
                op["tags"] = meta["tags"]
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", path)
            ]
            if meta.get("query"):
                params += _query_parameters(meta["query"])
            params += list(meta.get("headers") or ())
            if params:
                op["parameters"] = params
            if meta.get("body"):
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _component(meta["body"], components, "validation")}},
                }
            ok: dict[str, Any] = {"description": "OK"}
            if meta.get("response"):
                ok["content"] = {
                    "application/json": {"schema": _component(meta["response"], components, "serialization")}
                }
            else:
                ok["content"] = {"application/json": {"schema": {"type": "object"}}}
            op["responses"] = {str(meta.get("status", 200)): ok}
            secured = entry.authorizer is not None
            for status in _error_statuses(path, method, meta, secured):
                op["responses"][str(status)] = {
                    "description": _STATUS_WORDS.get(status, "Erro"),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            op["security"] = [{"bearerAuth": []}] if secured else []
            item[method.lower()] = op
        paths[path] = item
    live_event_components(components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM inbox API",
            "version": "1.0.0",
            "description": "Caixa de entrada compartilhada do WhatsApp. Eventos ao vivo (WebSocket): "
            "cada mensagem é um LiveBatch (components.schemas.LiveBatch), uma lista de LiveEvent em ordem; "
            "um evento repetido (mesmo id) já foi aplicado.",
        },
        "servers": [
            {"url": server_url, "description": "esta API"}
            if server_url
            else {"url": LOCAL_SERVER, "description": "make run (local)"}
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
