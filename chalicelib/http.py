"""HTTP plumbing shared by the routes: API errors, request parsing, JSON conversion, CORS.

Routes raise `ApiError` with a code from chalicelib.errors; the middleware registered by
`install(app)` turns it into `{"Code": ..., "Message": ...}` (plus any extra fields),
translates Chalice's own errors (405, 415, an unhandled exception) into the same envelope,
makes every response body JSON-safe (routes may return database rows as they come), and
adds the CORS headers for the console's origins (`CONSOLE_ORIGINS`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any, TypeVar

from chalice import ChaliceUnhandledError, Response
from pydantic import BaseModel, ValidationError

from chalicelib import errors

M = TypeVar("M", bound=BaseModel)

_app = None


class ApiError(ChaliceUnhandledError):
    """An answer the client must act on: status, a specific Code, a Portuguese message.

    Subclasses ChaliceUnhandledError so Chalice lets it through to our middleware instead
    of turning it into a 500.
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
        if code not in errors.CODES:
            raise ValueError(f"error code {code!r} is not in chalicelib.errors.CODES")
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def to_response(self) -> Response:
        body = {"Code": self.code, "Message": self.message, **jsonable(self.extra)}
        return Response(body=body, status_code=self.status, headers=self.headers)


def not_found(what: str = "Recurso") -> ApiError:
    return ApiError(404, "NotFoundError", f"{what} não encontrado(a).")


def jsonable(value: Any) -> Any:
    """Database values to JSON types: uuid → str, timestamps → ISO 8601, Decimal → number."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def _current_request(request=None):
    if request is not None:
        return request
    if _app is None:
        raise RuntimeError("chalicelib.http.install(app) was not called")
    return _app.current_request


# pydantic's error types in Portuguese; {name} fields come from the error's ctx.
_PYDANTIC_MESSAGES = {
    "missing": "campo obrigatório",
    "extra_forbidden": "campo não permitido",
    "string_type": "deve ser um texto",
    "string_too_short": "deve ter pelo menos {min_length} caractere(s)",
    "string_too_long": "deve ter no máximo {max_length} caractere(s)",
    "string_pattern_mismatch": "formato inválido",
    "int_type": "deve ser um número inteiro",
    "int_parsing": "deve ser um número inteiro",
    "int_from_float": "deve ser um número inteiro",
    "float_type": "deve ser um número",
    "float_parsing": "deve ser um número",
    "bool_type": "deve ser verdadeiro ou falso",
    "bool_parsing": "deve ser verdadeiro ou falso",
    "greater_than": "deve ser maior que {gt}",
    "greater_than_equal": "deve ser maior ou igual a {ge}",
    "less_than": "deve ser menor que {lt}",
    "less_than_equal": "deve ser menor ou igual a {le}",
    "literal_error": "use um destes valores: {expected}",
    "enum": "use um destes valores: {expected}",
    "uuid_type": "deve ser um identificador (UUID)",
    "uuid_parsing": "deve ser um identificador (UUID)",
    "datetime_type": "deve ser uma data e hora ISO 8601",
    "datetime_parsing": "deve ser uma data e hora ISO 8601",
    "datetime_from_date_parsing": "deve ser uma data ou data e hora ISO 8601",
    "date_type": "deve ser uma data (AAAA-MM-DD)",
    "date_parsing": "deve ser uma data (AAAA-MM-DD)",
    "date_from_datetime_parsing": "deve ser uma data (AAAA-MM-DD)",
    "list_type": "deve ser uma lista",
    "dict_type": "deve ser um objeto",
    "model_type": "deve ser um objeto",
    "model_attributes_type": "deve ser um objeto",
    "too_short": "deve ter pelo menos {min_length} item(ns)",
    "too_long": "deve ter no máximo {max_length} item(ns)",
    "union_tag_invalid": "tipo desconhecido: use {expected_tags}",
    "union_tag_not_found": "informe o campo {discriminator}",
    "json_invalid": "JSON inválido",
    "url_parsing": "URL inválida",
    "url_scheme": "URL com esquema não permitido",
    "bool": "deve ser verdadeiro ou falso",
}


def portuguese_message(error: dict[str, Any]) -> str:
    """One pydantic error in words for the attendant: our own validators already speak
    Portuguese (ValueError messages), pydantic's English is replaced by its type."""
    kind = error.get("type", "")
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error") or error.get("msg", "")).removeprefix("Value error, ")
    template = _PYDANTIC_MESSAGES.get(kind)
    if template is None:
        return "valor inválido"
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template.split(":")[0]


def _validation_error(exc: ValidationError) -> ApiError:
    problems = exc.errors(include_url=False, include_input=False)
    first = problems[0] if problems else {"loc": (), "type": ""}
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    reason = portuguese_message(first)
    message = f"Campo inválido: {field} ({reason})." if field else f"Dados inválidos ({reason})."
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": portuguese_message(e), "type": e.get("type")}
        for e in problems
    ]
    return ApiError(422, "ValidationError", message, field=field, errors=details)


# No body of ours nests deeper than a few levels; a JSON of thousands of levels is an attack
# on the parser (it was a 500 from a RecursionError).
MAX_JSON_DEPTH = 32


def _check_json(value: Any, depth: int = 0) -> str | None:
    """Why this parsed JSON is refused (too deep, a NUL in a string), or None."""
    if depth > MAX_JSON_DEPTH:
        return "depth"
    if isinstance(value, str):
        return "nul" if "\x00" in value else None
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        problem = _check_json(item, depth + 1)
        if problem:
            return problem
    return None


def parse_body(model: type[M], request=None) -> M:
    """The JSON body as `model`; 400 for unreadable or absurdly nested JSON, 422
    ValidationError naming the field (or for a NUL character, which no text column takes)."""
    raw = _current_request(request).raw_body or b""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except RecursionError as exc:
        raise ApiError(400, "BadRequestError", "O corpo da requisição tem aninhamento demais.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequestError", "O corpo da requisição não é um JSON válido.") from exc
    problem = _check_json(data)
    if problem == "depth":
        raise ApiError(400, "BadRequestError", "O corpo da requisição tem aninhamento demais.")
    if problem == "nul":
        raise ApiError(422, "ValidationError", "Texto com caractere nulo (U+0000), que não é aceito.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc


def parse_query(model: type[M], request=None) -> M:
    params = _current_request(request).query_params or {}
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise _validation_error(exc) from exc


def _envelope(response: Response) -> Response:
    """An error from Chalice itself (its codes, English messages) in our envelope."""
    body = response.body
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or "null")
        except ValueError:
            body = None
    code = body.get("Code") if isinstance(body, dict) else None
    if code in errors.CODES and code not in errors.CHALICE_CODES:
        return response
    if code in errors.CHALICE_CODES:
        ours = errors.CHALICE_CODES[code]
        if ours == "InternalError":
            from chalicelib.observability import logger

            logger.error("unhandled error answered 500", extra={"chalice_error": body})
        response.body = errors.envelope(ours)
    else:  # a body of our own without a code: the envelope for its status, its fields kept
        ours = "ServiceUnavailable" if response.status_code == 503 else None
        ours = ours or ("InternalError" if response.status_code >= 500 else "BadRequestError")
        response.body = {**errors.envelope(ours), **(body if isinstance(body, dict) else {})}
    response.headers = {**(response.headers or {}), "Content-Type": "application/json"}
    return response


# On every API answer: browsers must not guess a type (a JSON body rendered as HTML), and no
# cache (browser, proxy) may keep an answer (tokens, personal data). The gateway's own answers
# get them too (devstack.gateway, infra/chalice-merge.json's GatewayResponses).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

# CORS: what the console may send and read.
CORS_ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key"
CORS_EXPOSE_HEADERS = "Retry-After,Idempotent-Replayed"
CORS_MAX_AGE = "600"


def cors_headers(origin: str | None) -> dict[str, str]:
    """The headers for a response to `origin`: none unless it is one of CONSOLE_ORIGINS."""
    from chalicelib.config import get_settings

    if not origin or origin.rstrip("/") not in get_settings().allowed_origins:
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS,
        "Vary": "Origin",
    }


def install(app) -> None:
    """Register the error/JSON/CORS middleware on the app (call once, from app.py)."""
    global _app
    _app = app

    @app.middleware("http")
    def api_errors_json_and_cors(event, get_response):
        from chalicelib.db import DatabaseUnavailable

        try:
            response = get_response(event)
        except ApiError as exc:
            response = exc.to_response()
        except DatabaseUnavailable:
            response = ApiError(
                503,
                "ServiceUnavailable",
                "Banco de dados indisponível no momento; tente novamente em instantes.",
                headers={"Retry-After": "5"},
            ).to_response()
        if response.status_code >= 400:
            response = _envelope(response)
        if response.status_code in (429, 503) and not any(k.lower() == "retry-after" for k in response.headers or {}):
            # Every "try again" says when: clients and Meta back off instead of hammering.
            response.headers = {**(response.headers or {}), "Retry-After": "5"}
        if isinstance(response.body, (dict, list)):
            response.body = jsonable(response.body)
        origin = (event.headers or {}).get("origin")
        response.headers = {
            **(response.headers or {}),
            **cors_headers(origin),
            **SECURITY_HEADERS,
        }
        return response


def install_cors_preflight(app) -> None:
    """An OPTIONS route on every path (public, answered without the database), so a browser
    on a console origin may call the API. Call after every route is registered."""

    def preflight(**_path_params):
        request = app.current_request
        methods = sorted(set(app.routes[request.path]) | {"OPTIONS"})
        headers = {"Allow": ",".join(methods), **cors_headers(request.headers.get("origin"))}
        if "Access-Control-Allow-Origin" in headers:
            headers["Access-Control-Allow-Methods"] = ",".join(methods)
            headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return Response(body="", status_code=204, headers=headers)

    for path, methods in list(app.routes.items()):
        if "OPTIONS" not in methods:
            app.route(path, methods=["OPTIONS"])(preflight)
