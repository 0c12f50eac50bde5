"""API error shape, request validation and JSON conversion."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from chalice import Chalice
from chalice.test import Client
from pydantic import BaseModel, Field

from chalicelib import http


class Corpo(BaseModel):
    nome: str = Field(min_length=1)
    idade: int = Field(ge=0)


def _app() -> Chalice:
    app = Chalice(app_name="t")
    previous = http._app
    http.install(app)
    http._app = app if previous is None else previous

    @app.route("/eco", methods=["POST"])
    def eco():
        body = http.parse_body(Corpo, app.current_request)
        return {"id": uuid.UUID(int=1), "em": dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), "corpo": body}

    @app.route("/conflito", methods=["POST"])
    def conflito():
        raise http.ApiError(409, "AssignedToOther", "Conversa já atribuída.", atendente={"id": "x"})

    @app.route("/devagar", methods=["POST"])
    def devagar():
        raise http.ApiError(429, "RateLimited", "Aguarde.", headers={"Retry-After": "6"})

    return app


def test_api_error_has_chalice_shape_status_and_extra_fields():
    with Client(_app()) as client:
        response = client.http.post("/conflito")
    assert response.status_code == 409
    assert response.json_body == {
        "Code": "AssignedToOther",
        "Message": "Conversa já atribuída.",
        "atendente": {"id": "x"},
    }


def test_api_error_headers_are_sent():
    with Client(_app()) as client:
        response = client.http.post("/devagar")
    assert response.status_code == 429 and response.headers["Retry-After"] == "6"


def test_invalid_body_is_422_naming_the_field():
    with Client(_app()) as client:
        response = client.http.post(
            "/eco", body=json.dumps({"nome": "Ana", "idade": -1}), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json_body["Code"] == "ValidationError" and response.json_body["field"] == "idade"


def test_unreadable_json_is_400():
    with Client(_app()) as client:
        response = client.http.post("/eco", body=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"


def test_rows_with_uuids_and_timestamps_become_json():
    with Client(_app()) as client:
        response = client.http.post(
            "/eco", body=json.dumps({"nome": "Ana", "idade": 9}), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json_body == {
        "id": "00000000-0000-0000-0000-000000000001",
        "em": "2026-01-02T03:04:00+00:00",
        "corpo": {"nome": "Ana", "idade": 9},
    }


def test_jsonable_handles_decimals_and_naive_timestamps():
    assert http.jsonable({"a": Decimal("2"), "b": Decimal("2.5"), "c": dt.datetime(2026, 1, 1)}) == {
        "a": 2,
        "b": 2.5,
        "c": "2026-01-01T00:00:00+00:00",
    }
