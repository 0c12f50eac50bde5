"""The deployable media worker: `chalice package --merge-template infra/chalice-merge.json` gives the
SQS event source ReportBatchItemFailures; the queue (infra/stateful.yaml) outlives the Lambda timeout
and dead-letters after 5 receives.

The real `chalice package` CLI runs on a throwaway copy of the whole app (stage dev here; prod in
test_deploy_package.py, whose `package_app` this reuses). Without a requirements.txt there it
packages offline in about a second; the app's dependencies would have to be downloaded otherwise,
which tests must not do. The whole app, not just the worker: the merge template's Globals refer to
resources only the whole app has (the websocket API).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_deploy_package import package_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    out = package_app(tmp_path_factory.mktemp("pkg-project"), "dev")
    return json.loads((out / "sam.json").read_text())


def test_packaged_sqs_event_source_reports_batch_item_failures(packaged):
    function = packaged["Resources"]["HandleMediaDownload"]
    events = function["Properties"]["Events"]
    assert list(events) == ["HandleMediaDownloadSqsEventSource"]  # the merge hit Chalice's own event
    source = events["HandleMediaDownloadSqsEventSource"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["BatchSize"] == 10
    assert "crm-inbox-dev-media" in json.dumps(source["Properties"]["Queue"])  # infra/stateful.yaml's name
    assert function["Properties"]["Handler"] == "chalicelib.routes.media_worker.handle_media_download"


def test_worker_timeout_is_below_the_queue_visibility_timeout(packaged):
    timeout = packaged["Resources"]["HandleMediaDownload"]["Properties"]["Timeout"]
    assert timeout == 120
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    queue = stateful[stateful.index("  MediaQueue:") :]
    visibility = int(re.search(r"VisibilityTimeout:\s*(\d+)", queue).group(1))
    assert visibility > timeout, "SQS would redeliver records a running worker still holds"
    assert re.search(r"deadLetterTargetArn:\s*!GetAtt MediaDeadLetterQueue\.Arn", queue)
    assert re.search(r"maxReceiveCount:\s*5\b", queue)


def test_local_queue_outlives_the_worker_timeout_too():
    from devstack import aws
    from devstack.queue_pump import LAMBDA_TIMEOUT_SECONDS

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    deployed = config["stages"]["prod"]["lambda_functions"]["handle_media_download"]["lambda_timeout"]
    assert deployed == LAMBDA_TIMEOUT_SECONDS
    assert aws.VISIBILITY_TIMEOUT_SECONDS > LAMBDA_TIMEOUT_SECONDS and aws.MAX_RECEIVE_COUNT == 5


def test_packaged_template_grants_the_worker_its_bucket_and_passes_cfn_lint(packaged, tmp_path):
    role = _role(packaged, "HandleMediaDownload")
    actions = {a for s in _statements(role) for a in _as_list(s["Action"])}
    assert {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListBucket"} <= actions
    assert "MediaBucketName" in packaged["Parameters"]
    template = tmp_path / "sam.json"
    template.write_text(json.dumps(packaged))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _role(packaged: dict, function: str) -> dict:
    return packaged["Resources"][packaged["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]]


def _statements(role: dict) -> list[dict]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _as_list(value):
    return value if isinstance(value, list) else [value]


# What each function does in the media bucket, and where: the worker stores media
# (media_storage: multipart, HEAD of a maybe missing key, thumbnails); the API serves presigned
# URLs, attendants' uploads for sending (media_uploads: presigned PUT, then sending reads, tags or
# deletes the object) and the LGPD erasure (lgpd.purge_objects: every version).
NEEDED = [
    ("HandleMediaDownload", "s3:PutObject", "media/2026/11/m/1.jpg"),
    ("HandleMediaDownload", "s3:GetObject", "media/2026/11/m/1.jpg"),
    ("HandleMediaDownload", "s3:AbortMultipartUpload", "media/2026/11/m/1.pdf"),
    ("HandleMediaDownload", "s3:ListBucket", None),
    ("APIHandler", "s3:GetObject", "media/2026/11/m/1.jpg"),
    ("APIHandler", "s3:PutObject", "uploads/admin/u1"),
    ("APIHandler", "s3:GetObject", "uploads/admin/u1"),
    ("APIHandler", "s3:PutObjectTagging", "uploads/admin/u1"),
    ("APIHandler", "s3:DeleteObject", "uploads/admin/u1"),
    ("APIHandler", "s3:DeleteObject", "media/2026/11/m/1.jpg"),
    ("APIHandler", "s3:DeleteObjectVersion", "media/2026/11/m/1.jpg"),
    ("APIHandler", "s3:DeleteObjectVersion", "uploads/admin/u1"),
    ("APIHandler", "s3:ListBucket", None),
    ("APIHandler", "s3:ListBucketVersions", None),
]


@pytest.mark.parametrize(("function", "action", "key"), NEEDED)
def test_each_role_may_do_what_its_code_does_in_the_bucket(packaged, function, action, key):
    from fnmatch import fnmatchcase

    wanted = "arn:aws:s3:::bucket" + (f"/{key}" if key else "")
    for statement in _statements(_role(packaged, function)):
        if statement["Effect"] != "Allow" or action not in _as_list(statement["Action"]):
            continue
        for resource in _as_list(statement["Resource"]):
            pattern = resource["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${MediaBucketName}", "bucket")
            if fnmatchcase(wanted, pattern):
                return
    pytest.fail(f"{action} on {wanted} is not granted")
