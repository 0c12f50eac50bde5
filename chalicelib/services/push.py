"""Web Push (RFC 8291 payload encryption, VAPID) to the admins' browsers.

Pushes are sent by the live-events drain (chalicelib.services.outbox), from the events it
delivers, never inside the request: an inbound message is pushed to the assignee's
subscriptions, or to every admin's while the conversation is unassigned; a note to the
attendants it mentions. Sends run concurrently and the drain waits at most
`PUSH_DEADLINE_SECONDS` in total; a push still in flight after that is abandoned. Endpoints
the push service answers 404/410 are deleted.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from functools import lru_cache
from typing import Any

from chalicelib.observability import logger

PUSH_DEADLINE_SECONDS = 2.5
PUSH_REQUEST_TIMEOUT_SECONDS = 2.0
PUSH_TTL_SECONDS = 24 * 3600  # a notification older than a day is no longer news
MAX_PARALLEL_PUSHES = 16
# Bounded work: an attendant keeps at most this many browsers (the oldest is replaced), and one
# call (one webhook) pushes to at most MAX_PUSHES_PER_CALL subscriptions.
MAX_SUBSCRIPTIONS_PER_ADMIN = 5
MAX_PUSHES_PER_CALL = 40
PREVIEW_MAX_CHARS = 120

_MEDIA_PREVIEW = {
    "image": "📷 Foto",
    "video": "🎥 Vídeo",
    "audio": "🎤 Áudio",
    "document": "📄 Documento",
    "location": "📍 Localização",
}
_TYPE_PREVIEW = {
    "interativo": "Resposta de botão",
    "reacao": "Reação",
    "contatos": "👤 Contato",
    "sistema": "Mensagem do sistema",
    "nao_suportado": "Mensagem não suportada",
    "template": "Modelo de mensagem",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (public key as browsers want it, private key), base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return _b64url(public), _b64url(private)


def vapid_public_key() -> str:
    from chalicelib.config import get_settings

    return get_settings().vapid_public_key


def valid_p256dh(value: str) -> bool:
    try:
        raw = _b64url_decode(value)
    except (ValueError, TypeError):
        return False
    return len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point


def valid_auth(value: str) -> bool:
    try:
        return len(_b64url_decode(value)) == 16
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=2)
def _vapid(private_key: str):
    from py_vapid import Vapid

    return Vapid.from_string(private_key=private_key)


def preview(mensagem: dict[str, Any]) -> str:
    text = (mensagem.get("conteudo") or "").strip()
    if not text:
        text = _MEDIA_PREVIEW.get(mensagem.get("media_type") or "") or _TYPE_PREVIEW.get(mensagem.get("tipo") or "")
        text = text or "Nova mensagem"
    elif mensagem.get("media_type") in _MEDIA_PREVIEW:
        text = f"{_MEDIA_PREVIEW[mensagem['media_type']]}: {text}"
    return text if len(text) <= PREVIEW_MAX_CHARS else text[: PREVIEW_MAX_CHARS - 1] + "…"


def subscribe(admin_id: str, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
    """Store a browser's subscription; beyond MAX_SUBSCRIPTIONS_PER_ADMIN the oldest goes."""
    from chalicelib import db
    from chalicelib.repositories import push_subscriptions

    with db.transaction():
        row = push_subscriptions.upsert(admin_id, endpoint, p256dh, auth)
        push_subscriptions.keep_newest(admin_id, MAX_SUBSCRIPTIONS_PER_ADMIN)
    return row


def _no_redirects_session():
    """A requests session that never follows a redirect: a push service answering 3xx is a
    failure, not a hop to wherever it points (an internal address, plain HTTP)."""
    import requests

    class NoRedirects(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs["allow_redirects"] = False
            return super().request(method, url, *args, **kwargs)

    return NoRedirects()


def _send_one(subscription: dict[str, Any], data: bytes, private_key: str, subject: str) -> int | None:
    """The push service's HTTP status, or None when it could not be reached in time."""
    from urllib.parse import urlsplit

    from pywebpush import WebPushException, webpush

    endpoint = urlsplit(subscription["endpoint"])
    claims = {"sub": subject, "aud": f"{endpoint.scheme}://{endpoint.netloc}", "exp": int(time.time()) + 12 * 3600}
    session = _no_redirects_session()
    try:
        response = webpush(
            subscription_info={
                "endpoint": subscription["endpoint"],
                "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
            },
            data=data,
            vapid_private_key=_vapid(private_key),
            vapid_claims=claims,
            content_encoding="aes128gcm",
            timeout=PUSH_REQUEST_TIMEOUT_SECONDS,
            ttl=PUSH_TTL_SECONDS,
            requests_session=session,
        )
        return response.status_code
    except WebPushException as exc:
        return exc.response.status_code if exc.response is not None else None
    except Exception as exc:  # noqa: BLE001 - one unreachable browser must not stop the others
        logger.warning("push failed", extra={"endpoint": subscription["endpoint"][:60], "error": str(exc)})
        return None
    finally:
        session.close()


_late_gone: list[str] = []
_late_gone_lock = threading.Lock()


def _remember_if_gone(future, endpoint: str) -> None:
    if not future.cancelled() and future.exception() is None and future.result() in (404, 410):
        with _late_gone_lock:
            _late_gone.append(endpoint)


def _take_late_gone() -> list[str]:
    with _late_gone_lock:
        taken = list(_late_gone)
        _late_gone.clear()
    return taken


def send(targets: list[tuple[dict[str, Any], dict[str, Any]]], deadline: float | None = None) -> dict:
    """Push each (subscription, payload) concurrently, waiting at most `deadline` seconds.

    Returns counts; deletes the subscriptions the push service says are gone.
    """
    from chalicelib.config import get_settings
    from chalicelib.repositories import push_subscriptions

    result = {"sent": 0, "gone": 0, "failed": 0, "timed_out": 0}
    settings = get_settings()
    if not targets:
        return result
    if not settings.vapid_private_key:
        logger.warning("VAPID_PRIVATE_KEY is not set: web push disabled")
        return result
    from chalicelib.services.outbound import push_endpoint_allowed

    # Rows stored before endpoints were checked (or a host since removed from the settings):
    # never called, and forgotten.
    refused = [s["endpoint"] for s, _ in targets if not push_endpoint_allowed(s["endpoint"])]
    if refused:
        push_subscriptions.delete_by_endpoints(refused)
        logger.warning("push endpoints off the push services dropped", extra={"count": len(refused)})
        targets = [(s, p) for s, p in targets if s["endpoint"] not in set(refused)]
    if len(targets) > MAX_PUSHES_PER_CALL:
        logger.warning("push fan-out capped", extra={"targets": len(targets), "cap": MAX_PUSHES_PER_CALL})
        targets = targets[:MAX_PUSHES_PER_CALL]
    if not targets:
        return result
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PUSHES, len(targets)))
    futures = {
        pool.submit(
            _send_one,
            subscription,
            json.dumps(payload, ensure_ascii=False).encode(),
            settings.vapid_private_key,
            settings.vapid_subject,
        ): subscription["endpoint"]
        for subscription, payload in targets
    }
    done, pending = wait(futures, timeout=PUSH_DEADLINE_SECONDS if deadline is None else deadline)
    # Never wait for stragglers: the caller (the webhook) has to answer. One that ends with
    # 404/410 after all is remembered and deleted by the next send of this container.
    for future in pending:
        future.add_done_callback(lambda f, endpoint=futures[future]: _remember_if_gone(f, endpoint))
    pool.shutdown(wait=False, cancel_futures=True)
    gone = _take_late_gone()
    for future in done:
        status = future.result()
        if status is not None and status < 300:
            result["sent"] += 1
        elif status in (404, 410):
            gone.append(futures[future])
        else:
            result["failed"] += 1
    result["timed_out"] = len(pending)
    if gone:
        result["gone"] = push_subscriptions.delete_by_endpoints(gone)
    return result


PUSHED_EVENTS = frozenset({"message:new", "note:new"})


def wanted(items: list[tuple[str, str, str, dict[str, Any]]]) -> bool:
    """Whether a drain round's (id, event, subject, extra) items may push anything: only new
    messages and notes do, and only when someone subscribed and VAPID is configured."""
    from chalicelib.config import get_settings
    from chalicelib.repositories import push_subscriptions

    if not any(event in PUSHED_EVENTS for _, event, _, _ in items):
        return False
    return bool(get_settings().vapid_private_key) and push_subscriptions.exist()


def for_events(events: list[tuple[str, str, dict[str, Any]]], deadline: float | None = None) -> int:
    """The pushes a drain round's built events imply; returns how many were sent. Never raises."""
    mensagens = [data["mensagem"] for _, event, data in events if event == "message:new"]
    notas = [data["nota"] for _, event, data in events if event == "note:new" and data["nota"].get("mencoes")]
    sent = 0
    if mensagens:
        sent += notify_inbound(mensagens, deadline)["sent"]
    if notas:
        sent += notify_mentions(notas, deadline)["sent"]
    return sent


def notify_mentions(notas: list[dict[str, Any]], deadline: float | None = None) -> dict:
    """Push each note to the attendants it mentions (their live connections get note:new too)."""
    try:
        from chalicelib.repositories import push_subscriptions

        mentioned = {str(m["id"]) for nota in notas for m in nota["mencoes"]}
        by_admin: dict[str, list[dict[str, Any]]] = {}
        for sub in push_subscriptions.for_admins(sorted(mentioned)):
            by_admin.setdefault(str(sub["admin_id"]), []).append(sub)
        targets = []
        for nota in notas:
            for mencao in nota["mencoes"]:
                for sub in by_admin.get(str(mencao["id"]), []):
                    payload = {
                        "title": f"{nota.get('autor_nome') or 'Alguém'} mencionou você",
                        "body": nota["conteudo"][:PREVIEW_MAX_CHARS],
                        "conversa_id": str(nota["conversa_id"]),
                        "mensagem_id": "",
                        "url": f"/conversas/{nota['conversa_id']}",
                        "tag": f"nota-{nota['id']}",
                    }
                    targets.append((sub, payload))
        return send(targets, deadline)
    except Exception:  # noqa: BLE001 - a notification never fails the drain
        logger.exception("mention push failed")
        return {"sent": 0, "gone": 0, "failed": 0, "timed_out": 0}


def notify_inbound(mensagens: list[dict[str, Any]], deadline: float | None = None) -> dict:
    """Push new inbound messages (mensagens rows: id, conversa_id, conteudo, tipo, media_type).

    Outbound ones (echoes, the attendants' own) are skipped. Never raises: a push is a courtesy.
    """
    try:
        from chalicelib.repositories import push_subscriptions

        entrada = [m for m in mensagens if m.get("direcao", "entrada") == "entrada"]
        if not entrada:
            return {"sent": 0, "gone": 0, "failed": 0, "timed_out": 0}
        by_conversa: dict[str, list[dict[str, Any]]] = {}
        for row in push_subscriptions.targets_for_conversas(list({str(m["conversa_id"]) for m in entrada})):
            by_conversa.setdefault(str(row["conversa_id"]), []).append(row)
        targets = []
        for mensagem in entrada:
            for row in by_conversa.get(str(mensagem["conversa_id"]), []):
                # 0010's display name: never empty, also for a username user without a phone.
                title = row["contato_nome_exibicao"]
                payload = {
                    "title": title,
                    "body": preview(mensagem),
                    "conversa_id": str(mensagem["conversa_id"]),
                    "mensagem_id": str(mensagem.get("id") or ""),
                    "url": f"/conversas/{mensagem['conversa_id']}",
                    "tag": f"conversa-{mensagem['conversa_id']}",  # one notification per conversation
                }
                targets.append((row, payload))
        return send(targets, deadline)
    except Exception:  # noqa: BLE001 - never fail the drain over a notification
        logger.exception("web push failed")
        return {"sent": 0, "gone": 0, "failed": 0, "timed_out": 0}
