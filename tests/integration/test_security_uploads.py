"""Uploads with an enforced size (issue 16 §5): the size declared for a presigned PUT is
signed into it (x-amz-meta-declared-size), and a file larger than declared is refused and
deleted when it is sent; uploads/ expires by a lifecycle rule."""

from __future__ import annotations

import json

from tests.integration.send_support import bearer, make_admin, make_conversa, ogg_opus, post


def test_a_file_larger_than_declared_is_refused_and_deleted(db_clean, graph, client, moto_s3):
    import requests

    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    pedido = {"media_type": "audio", "mime_type": "audio/ogg; codecs=opus", "size": 100}
    slot = post(client, "/media/uploads", pedido, bearer(admin)).json_body
    assert slot["headers"]["x-amz-meta-declared-size"] == "100"
    put = requests.put(slot["url"], data=ogg_opus(50_000), headers=slot["headers"], timeout=5)
    assert put.status_code == 200
    body = {"tipo": "media", "upload_id": slot["upload_id"], "media_type": "audio", "mime_type": pedido["mime_type"]}
    sent = post(client, f"/conversas/{conversa_id}/mensagens", body, bearer(admin))
    assert sent.status_code == 422, sent.body
    assert json.loads(sent.body)["field"] == "upload_id"
    listing = moto_s3.list_objects_v2(Bucket="crm-inbox-media-http", Prefix="uploads/")
    assert listing.get("KeyCount", 0) == 0


def test_an_upload_is_tagged_pending_until_it_is_sent(db_clean, graph, client, moto_s3):
    import requests

    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    pedido = {"media_type": "audio", "mime_type": "audio/ogg; codecs=opus", "size": 4000}
    slot = post(client, "/media/uploads", pedido, bearer(admin)).json_body
    assert requests.put(slot["url"], data=ogg_opus(4000), headers=slot["headers"], timeout=5).status_code == 200

    def tags():
        answer = moto_s3.get_object_tagging(Bucket="crm-inbox-media-http", Key=slot["key"])
        return {t["Key"]: t["Value"] for t in answer["TagSet"]}

    assert tags() == {"estado": "pendente"}  # expires unless sent
    body = {"tipo": "media", "upload_id": slot["upload_id"], "media_type": "audio", "mime_type": pedido["mime_type"]}
    assert post(client, f"/conversas/{conversa_id}/mensagens", body, bearer(admin)).status_code == 201
    assert tags() == {"estado": "enviado"}


def test_the_bucket_expires_uploads():
    from pathlib import Path

    import yaml

    template = yaml.safe_load(Path("infra/stateful.yaml").read_text().replace("!", "_"))
    bucket = next(r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket")
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    uploads = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert uploads and uploads[0]["Status"] == "Enabled" and uploads[0]["ExpirationInDays"] <= 2
    assert uploads[0]["TagFilters"] == [{"Key": "estado", "Value": "pendente"}]
