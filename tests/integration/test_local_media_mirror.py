"""make run's media survive a restart: the bucket is mirrored to disk and restored into moto."""

from __future__ import annotations

import boto3
from moto import mock_aws

from devstack.s3_store import S3Mirror

BUCKET = "crm-inbox-media-local"


def _bucket():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def test_objects_come_back_after_a_restart_and_deletions_leave_the_disk(tmp_path):
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    with mock_aws():
        s3 = _bucket()
        mirror = S3Mirror(s3, BUCKET, tmp_path)
        s3.put_object(Bucket=BUCKET, Key="media/2026/12/m1/foto.jpg", Body=photo, ContentType="image/jpeg")
        s3.put_object(Bucket=BUCKET, Key="media/2026/12/m1/foto_thumb.jpg", Body=b"thumb", ContentType="image/jpeg")
        s3.put_object(
            Bucket=BUCKET, Key="uploads/a/Apostila de teoria.pdf", Body=b"%PDF", ContentType="application/pdf"
        )
        assert mirror.sync() == {"written": 3, "removed": 0}
        assert mirror.sync() == {"written": 0, "removed": 0}  # unchanged objects are not read again
        s3.delete_object(Bucket=BUCKET, Key="media/2026/12/m1/foto_thumb.jpg")  # e.g. an anonymisation
        assert mirror.sync() == {"written": 0, "removed": 1}
        assert not list(tmp_path.rglob("foto_thumb.jpg*"))

    with mock_aws():  # a new moto: empty, as after a restart of make run
        s3 = _bucket()
        assert S3Mirror(s3, BUCKET, tmp_path).restore() == 2
        restored = s3.get_object(Bucket=BUCKET, Key="media/2026/12/m1/foto.jpg")
        assert restored["Body"].read() == photo and restored["ContentType"] == "image/jpeg"
        pdf = s3.get_object(Bucket=BUCKET, Key="uploads/a/Apostila de teoria.pdf")
        assert pdf["ContentType"] == "application/pdf"
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="media/2026/12/m1/foto_thumb")


def test_a_key_that_would_leave_the_mirror_is_not_written(tmp_path):
    with mock_aws():
        s3 = _bucket()
        s3.put_object(Bucket=BUCKET, Key="media/../../escape", Body=b"x")
        S3Mirror(s3, BUCKET, tmp_path / "s3").sync()
    assert not (tmp_path / "escape").exists() and not list(tmp_path.rglob("escape"))
