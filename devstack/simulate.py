"""`python -m chalicelib.cli simulate`: a customer talks to the running local stack.

Posts a realistic conversation (an ad click's first text, a photo, a voice note, a location,
a reaction, delivery statuses) to the webhook as Meta would: compact JSON with escaped
non-ASCII, signed with WHATSAPP_APP_SECRET. The photo and the voice note are first
registered in the fake Graph API (POST /_fake/media), so the media worker can fetch them.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

from devstack import payloads as wa

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/whatsapp"
DEFAULT_BSUID = "BR.1502576394655843"  # `--username`: the same user on every run
DEFAULT_GRAPH_ROOT = "http://127.0.0.1:5002"


def _graph_root() -> str:
    url = os.environ.get("WHATSAPP_GRAPH_URL", "")
    if url.startswith("http://127.0.0.1") or url.startswith("http://localhost"):
        return url.rsplit("/", 1)[0]  # drop the version segment
    return f"http://127.0.0.1:{os.environ.get('FAKE_GRAPH_PORT', '5002')}"


def _jpeg() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (30, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((200, 120, 440, 360), fill=(240, 200, 60))
    draw.rectangle((300, 40, 340, 240), fill=(90, 50, 20))  # a violin, roughly
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _voice_note() -> bytes:
    # An Ogg page header and filler: enough for storage and checksum, nobody plays it locally.
    return b"OggS\x00\x02" + os.urandom(8 * 1024)


def register_media(graph_root: str, data: bytes, mime_type: str) -> dict[str, Any]:
    import requests

    response = requests.post(f"{graph_root}/_fake/media", params={"mime_type": mime_type}, data=data, timeout=10)
    response.raise_for_status()
    return response.json()


def _outbound_wamid() -> str | None:
    """The newest message we sent, if the database is reachable (its ticks then move)."""
    if not os.environ.get("DATABASE_URL"):
        return None
    try:
        from chalicelib import db

        return db.scalar(
            "SELECT whatsapp_id FROM mensagens WHERE direcao = 'saida' AND whatsapp_id IS NOT NULL"
            " ORDER BY created_at DESC LIMIT 1"
        )
    except Exception:  # noqa: BLE001 - the statuses then go to a message not stored (kept pending)
        return None


def run(
    url: str = DEFAULT_WEBHOOK_URL,
    sender: str = "5511987654321",
    name: str = "Joana Silva",
    secret: str | None = None,
    graph_root: str | None = None,
    pause: float = 0.3,
    out=print,
    username: str | None = None,
    bsuid: str | None = None,
) -> int:
    """username: post as a WhatsApp username user whose number Meta does not share (no
    `from`/`wa_id`, only the BSUID and the username, docs/identity.md)."""
    import requests

    bsuid = bsuid or DEFAULT_BSUID
    secret = secret or os.environ.get("WHATSAPP_APP_SECRET") or _local_secret()
    graph_root = graph_root or _graph_root()
    profiles = {sender: name}

    def value(messages: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        if username:
            return wa.username_value(messages, bsuid, username=username, name=name)
        return wa.value(messages, profiles=profiles)

    def post(label: str, val: dict[str, Any]) -> bool:
        body, headers = wa.signed(wa.envelope(val), secret)
        try:
            response = requests.post(url, data=body, headers=headers, timeout=15)
        except requests.RequestException as exc:
            out(f"  {label:<28} falhou: {exc}")
            return False
        out(f"  {label:<28} HTTP {response.status_code}")
        time.sleep(pause)
        return response.status_code == 200

    out(f"simulando {name} ({'@' + username + ', ' + bsuid if username else '+' + sender}) -> {url}")
    first = wa.text(
        sender,
        "Olá! Vi o anúncio das aulas de violão. Ainda há vagas à noite?",
        referral=wa.referral("120200000000000001", "Aulas de violão para adultos"),
    )
    results = [post("texto (clique no anúncio)", value([first]))]

    try:
        photo = register_media(graph_root, _jpeg(), "image/jpeg")
        voice = register_media(graph_root, _voice_note(), "audio/ogg")
    except Exception as exc:  # noqa: BLE001 - without the fake Graph API the media rows still arrive
        out(f"  (fake Graph API em {graph_root} indisponível: {exc}; mídia não poderá ser baixada)")
        photo = {"id": wa.new_media_id(), "sha256": None}
        voice = {"id": wa.new_media_id(), "sha256": None}
    results.append(
        post(
            "foto",
            value([wa.image(sender, caption="Este é o meu violão", media_id=photo["id"], sha256=photo.get("sha256"))]),
        )
    )
    results.append(
        post(
            "áudio (nota de voz)",
            value([wa.audio(sender, voice=True, media_id=voice["id"], sha256=voice.get("sha256"))]),
        )
    )
    results.append(
        post(
            "localização",
            value([wa.location(sender, name="Minha casa", address="Rua Augusta, 500 - São Paulo")]),
        )
    )
    results.append(post("reação", value([wa.reaction(sender, first["id"], "🎸")])))

    target = _outbound_wamid() or wa.new_wamid()
    if username:  # a message sent to a BSUID: Meta names only the BSUID
        statuses = [wa.status(target, w, None, recipient_user_id=bsuid) for w in ("sent", "delivered", "read")]
    else:
        statuses = [wa.status(target, word, sender) for word in ("sent", "delivered", "read")]
    results.append(post("status enviada/entregue/lida", wa.value(statuses=statuses)))
    ok = all(results)
    out("pronto: abra a caixa de entrada." if ok else "algumas entregas falharam (o servidor está rodando?)")
    return 0 if ok else 1


def _local_secret() -> str:
    from devstack.stack import LOCAL_ENV_DEFAULTS

    return LOCAL_ENV_DEFAULTS["WHATSAPP_APP_SECRET"]
