"""Builders of the LGPD and cost-report tests; their `env` fixture (an Env) is in
tests/integration/conftest.py."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import db
from tests.integration.api_support import auth, body, make_contato, make_conversa, make_mensagem

BUCKET = "crm-inbox-media-lgpd-test"
TELEFONE = "+5511987654321"
WA_ID = "5511987654321"


@dataclass
class Env:
    client: Any
    s3: Any
    sqs: Any
    queue_url: str
    admin: dict[str, Any]
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.admin)

    def get(self, path: str):
        return self.client.http.get(path, headers=self.headers)

    def post(self, path: str, payload: Any):
        return self.client.http.post(path, headers=self.headers, body=json.dumps(payload))

    def put_object(self, key: str, data: bytes = b"\xff\xd8\xff fake jpeg") -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def versions(self, prefix: str = "") -> list[str]:
        """Every version and delete marker under the prefix (the bucket is versioned)."""
        answer = self.s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
        return [v["Key"] for v in answer.get("Versions", []) + answer.get("DeleteMarkers", [])]

    def media_jobs(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def status_payload(word: str, category: str = "marketing", billable: bool | None = True, **pricing: Any) -> dict:
    """A status object as the webhook keeps it in dados.statuses[word]."""
    price: dict[str, Any] = {"pricing_model": "PMP", "category": category, **pricing}
    if billable is not None:
        price["billable"] = billable
    return {
        "id": "wamid." + uuid.uuid4().hex,
        "status": word,
        "timestamp": "1764100000",
        "recipient_id": WA_ID,
        "conversation": {"id": "c0ffee", "origin": {"type": category}},
        "pricing": price,
    }


def seed_contact_with_everything(env: Env) -> dict[str, Any]:
    """A contact with a lead, events, an open conversation with text, media (stored in S3 with
    a thumbnail and an older version), a location, an outbound template with pricing, an
    outbound upload, an idempotent send's stored answer and a status waiting for its message."""
    contato = make_contato(
        TELEFONE,
        "Maria Souza",
        wa_id=WA_ID,
        nome_perfil="Maria S.",
        origem="anuncio",
        origem_campanha="violao-nov",
        opt_in_status=True,
        opt_in_at=datetime.now(UTC) - timedelta(days=3),
        opt_in_source="whatsapp_first_message",
    )
    kid = str(contato["id"])
    db.execute(
        "INSERT INTO interessados (contato_id, nome, idade, instrumento_desejado, disponibilidade_horario,"
        " experiencia_musical) VALUES (CAST(:k AS uuid), 'Maria Souza', 34, 'Violão', true, 'Toquei na igreja')",
        k=kid,
    )
    conversa = make_conversa(contato)
    cid = str(conversa["id"])
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    texto = make_mensagem(
        conversa,
        "Oi, sou a Maria, quero aulas de violão",
        whatsapp_id="wamid.texto1",
        created_at=t0,
        dados=json.dumps({"context": {"from": WA_ID, "id": "wamid.anterior"}}),
    )
    imagem = make_mensagem(
        conversa,
        "minha foto com o violão",
        tipo="media",
        whatsapp_id="wamid.imagem1",
        created_at=t0 + timedelta(minutes=1),
        media_type="image",
        media_mime="image/jpeg",
        dados=json.dumps({"media": {"id": "mid-1", "caption": "minha foto com o violão", "sha256": "x"}}),
    )
    key = f"media/2026/11/{imagem['id']}/mid-1.jpg"
    thumb = f"media/2026/11/{imagem['id']}/mid-1.thumb.webp"
    env.put_object(key, b"old version")
    env.put_object(key)  # two versions: both must go
    env.put_object(thumb, b"RIFF....WEBP")
    db.execute(
        "UPDATE mensagens SET media_url = :k, thumbnail_url = :t WHERE id = CAST(:id AS uuid)",
        k=key,
        t=thumb,
        id=str(imagem["id"]),
    )
    db.execute(
        "INSERT INTO media_files (mensagem_id, whatsapp_media_id, storage_key, storage_url, mime_type, size_bytes,"
        " thumbnail_key, thumbnail_url) VALUES (CAST(:m AS uuid), 'mid-1', :k, :su, 'image/jpeg', 14, :t, :tu)",
        m=str(imagem["id"]),
        k=key,
        su=f"s3://{BUCKET}/{key}",
        t=thumb,
        tu=f"s3://{BUCKET}/{thumb}",
    )
    local = make_mensagem(
        conversa,
        "Rua das Flores, 10",
        tipo="media",
        media_type="location",
        whatsapp_id="wamid.local1",
        created_at=t0 + timedelta(minutes=2),
        dados=json.dumps({"location": {"latitude": -23.5, "longitude": -46.6, "name": "Casa da Maria"}}),
    )
    template = make_mensagem(
        conversa,
        "Olá Maria, sua aula experimental é amanhã",
        direcao="saida",
        tipo="template",
        status_envio="entregue",
        billing_category="marketing",
        enviado_por=env.admin["id"],
        whatsapp_id="wamid.tpl1",
        created_at=t0 + timedelta(minutes=3),
        dados=json.dumps(
            {
                "template": {
                    "name": "aula_experimental",
                    "language": "pt_BR",
                    "category": "marketing",
                    "parametros": [{"component": "body", "name": "1", "valor": "Maria"}],
                },
                "statuses": {"sent": status_payload("sent"), "delivered": status_payload("delivered")},
                "errors": [{"code": 131026, "title": "Undeliverable", "message": "to +5511987654321"}],
            }
        ),
    )
    upload_key = f"uploads/{env.admin['id']}/{uuid.uuid4()}"
    env.put_object(upload_key, b"%PDF-1.4 contrato da Maria")
    envio = make_mensagem(
        conversa,
        "contrato",
        direcao="saida",
        tipo="media",
        media_type="document",
        media_mime="application/pdf",
        media_url=upload_key,
        billing_category="service",
        status_envio="lida",
        whatsapp_id="wamid.doc1",
        created_at=t0 + timedelta(minutes=4),
        dados=json.dumps({"media": {"key": upload_key, "filename": "contrato-maria.pdf", "size_bytes": 26}}),
    )
    db.execute(
        "INSERT INTO envio_idempotencia (admin_id, chave, request_hash, conversa_id, mensagem_id, status_code,"
        " resposta, completed_at) VALUES (CAST(:a AS uuid), 'k1', repeat('0', 64), CAST(:c AS uuid),"
        " CAST(:m AS uuid), 201, CAST(:r AS jsonb), now())",
        a=str(env.admin["id"]),
        c=cid,
        m=str(envio["id"]),
        r=json.dumps({"conteudo": "contrato", "telefone": TELEFONE}),
    )
    db.execute(
        "INSERT INTO whatsapp_status_pendentes (whatsapp_id, status, payload)"
        " VALUES ('wamid.ainda-nao', 'sent', CAST(:p AS jsonb))",
        p=json.dumps({"id": "wamid.ainda-nao", "status": "sent", "recipient_id": WA_ID}),
    )
    for tipo, dados in (
        ("contato_criado", {"telefone": TELEFONE, "wa_id": WA_ID, "canal": "whatsapp", "origem": "whatsapp_webhook"}),
        ("conversa_aberta", {"conversa_id": cid, "canal": "whatsapp"}),
        ("contato_atualizado", {"campos": {"nome": {"de": "Maria S.", "para": "Maria Souza"}}, "por": "x"}),
        ("referral", {"referral": {"headline": "Aulas de violão", "ctwa_clid": "abc"}, "whatsapp_id": "wamid.r"}),
    ):
        db.execute(
            "INSERT INTO eventos (contato_id, tipo, dados, created_at)"
            " VALUES (CAST(:k AS uuid), :t, CAST(:d AS jsonb), :at)",
            k=kid,
            t=tipo,
            d=json.dumps(dados),
            at=t0 - timedelta(hours=1),
        )
    return {
        "contato": contato,
        "conversa": conversa,
        "texto": texto,
        "imagem": imagem,
        "local": local,
        "template": template,
        "envio": envio,
        "keys": [key, thumb, upload_key],
    }


def row(sql: str, **params: Any) -> dict[str, Any]:
    found = db.query(sql, **params)
    assert len(found) == 1, found
    return found[0]


__all__ = ["BUCKET", "TELEFONE", "WA_ID", "Env", "body", "row", "seed_contact_with_everything"]
