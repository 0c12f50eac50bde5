"""HTTP plumbing shared by the routes: API errors, request parsing, JSON conversion.

Routes raise `ApiError`; the middleware registered by `install(app)` turns it into
Chalice's error shape `{"Code": ..., "Message": ...}` (plus any extra fields) and makes
every response body JSON-safe, so routes may return database rows as they come.
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

M = TypeVar("M", bound=BaseModel)

_app = None


class ApiError(ChaliceUnhandledError):
    """An answer the client must act on: status, a specific Code, a Portuguese message.

    Subclasses ChaliceUnhandledError so Chalice lets it through to our middleware instead
    of turning it into a 500.
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
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


def _validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "inválido"}
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    message = f"Campo inválido: {field} ({first.get('msg')})" if field else f"Dados inválidos ({first.get('msg')})"
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    return ApiError(422, "ValidationError", message, field=field, errors=details)


def parse_body(model: type[M], request=None) -> M:
    """The JSON body as `model`; 400 for unreadable JSON, 422 ValidationError naming the field."""
    raw = _current_request(request).raw_body or b""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequestError", "O corpo da requisição não é um JSON válido.") from exc
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


def install(app) -> None:
    """Register the error/JSON middleware on the app (call once, from app.py)."""
    global _app
    _app = app

    @app.middleware("http")
    def api_errors_and_json(event, get_response):
        from chalicelib.db import DatabaseUnavailable

        try:
            response = get_response(event)
        except ApiError as exc:
            return exc.to_response()
        except DatabaseUnavailable:
            return ApiError(
                503,
                "ServiceUnavailable",
                "Banco de dados indisponível no momento; tente novamente em instantes.",
                headers={"Retry-After": "5"},
            ).to_response()
        if isinstance(response.body, (dict, list)):
            response.body = jsonable(response.body)
        return response
