"""OpenAPI 3.1 of the app, generated from its route table and the pydantic models.

Every route in `app.routes` is documented (so the document can never miss one); a view may
add detail with `@doc(...)` *below* its `@bp.route(...)`: summary, the body/query models,
the response model and status. Pydantic's JSON Schema is JSON Schema 2020-12, which is what
OpenAPI 3.1 uses, so the models' schemas go into components as they are.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

PUBLIC_ROUTES = {
    ("/auth/login", "POST"),
    ("/health", "GET"),
    ("/webhooks/whatsapp", "GET"),
    ("/webhooks/whatsapp", "POST"),
}

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}, "field": {"type": ["string", "null"]}},
    "required": ["Code", "Message"],
}


def doc(
    *,
    summary: str | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    tags: list[str] | None = None,
) -> Any:
    def decorate(view):
        view.__openapi__ = {
            "summary": summary,
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "tags": tags,
        }
        return view

    return decorate


def _component(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


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


def build(app) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for path, methods in sorted(app.routes.items()):
        item: dict[str, Any] = {}
        for method, entry in sorted(methods.items()):
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
            error = {
                "description": "Erro",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            op["responses"] = {str(meta.get("status", 200)): ok, "4XX": error}
            if entry.authorizer is not None:
                op["security"] = [{"bearerAuth": []}]
            else:
                op["security"] = []
            item[method.lower()] = op
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM inbox API",
            "version": "1.0.0",
            "description": "Caixa de entrada compartilhada do WhatsApp.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
