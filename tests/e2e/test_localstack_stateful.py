"""infra/stateful.yaml deployed by LocalStack's CloudFormation: the queues, the bucket, the
database secret and the alarms come out as the template declares them, and deleting the stack
drops the disposable live-events queues. Two gaps of LocalStack 4.9.2 are strict xfails (they
turn into failures the day LocalStack closes them): its S3 bucket provider ignores
LifecycleConfiguration, and stack deletion ignores DeletionPolicy: Retain.

LocalStack's community edition emulates neither RDS nor RDS Proxy. Its CloudFormation deploys
the rest of the template for real and, with CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1 (set here
explicitly, as its log asks), skips AWS::RDS::DBInstance, DBProxy and DBProxyTargetGroup: they
report CREATE_COMPLETE and their attributes read "unknown". So the instance and the proxy are
checked statically (tests/unit/test_infra.py, cfn-lint), everything else here. (A Condition to
leave them out was tried first: LocalStack 4.9's CloudFormation engine rejects a template whose
conditional resources refer to each other, "Unresolved resource dependencies".)

The app stack's queue alarms (infra/chalice-merge.json) are deployed next to it, as a stack of
their own, to show that they watch the queues this stack really creates.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from tests.e2e.test_localstack_media import LocalStackProcess, running_localstack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
CONSOLE = "https://console.example.com"
TOPIC = "arn:aws:sns:us-east-1:000000000000:crm-inbox-alarms"
DEPLOY_TIMEOUT_SECONDS = 120


class LocalStackWithCloudFormation(LocalStackProcess):
    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "SERVICES": "cloudformation,s3,sqs,secretsmanager,cloudwatch,iam,sts,sns",  # sns: alarm actions
            "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1",
        }


@pytest.fixture(scope="module")
def localstack(request):
    yield from running_localstack(request, LocalStackWithCloudFormation)


@pytest.fixture(scope="module")
def client(localstack):
    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=localstack.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    return make


def _deploy(cfn, name: str, body: str, parameters: dict[str, str]) -> dict:
    cfn.create_stack(
        StackName=name,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.5)
    failures = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if e["ResourceStatus"].endswith("FAILED")
    ]
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack["StackStatus"], failures)
    return stack


@pytest.fixture(scope="module")
def stateful(client):
    stack = _deploy(
        client("cloudformation"),
        f"crm-inbox-{STAGE}-stateful",
        (ROOT / "infra" / "stateful.yaml").read_text(),
        {
            "Stage": STAGE,
            "DbSubnetGroupName": "crm-db-subnets",
            "DbSecurityGroupId": "sg-0123456789abcdef0",
            "ProxySubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
            "AlarmTopicArn": TOPIC,
            "ConsoleOrigins": CONSOLE,
        },
    )
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _queue(client, url: str) -> dict[str, str]:
    return client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_the_outputs_are_what_the_app_stack_takes(stateful):
    merge = json.loads((ROOT / "infra" / "chalice-merge.json").read_text())
    from_stateful = {
        "MediaBucketName",
        "MediaQueueUrl",
        "LiveEventsQueueUrl",
        "DatabaseProxyEndpoint",
        "DatabaseSecretArn",
    }
    assert from_stateful <= set(merge["Parameters"])
    assert from_stateful <= set(stateful)
    assert stateful["MediaQueueUrl"].endswith(f"/crm-inbox-{STAGE}-media")
    assert stateful["LiveEventsQueueUrl"].endswith(f"/crm-inbox-{STAGE}-live-events.fifo")
    assert f":secret:crm-inbox/{STAGE}/database-" in stateful["DatabaseSecretArn"]


def test_the_live_events_queue_is_fifo_and_dead_letters_after_five_receives(client, stateful):
    queue = _queue(client, stateful["LiveEventsQueueUrl"])
    dead = _queue(client, stateful["LiveEventsDeadLetterQueueUrl"])
    assert queue["FifoQueue"] == "true" and dead["FifoQueue"] == "true"
    assert queue["VisibilityTimeout"] == "60"  # twice the drain's 30 s timeout
    assert queue["MessageRetentionPeriod"] == "3600"
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dead["QueueArn"], "maxReceiveCount": 5}
    assert queue["SqsManagedSseEnabled"] == "true"
    # One message group, deduplicated by id, as the outbox's nudges are sent.
    sqs = client("sqs")
    for _ in range(2):
        sqs.send_message(
            QueueUrl=stateful["LiveEventsQueueUrl"],
            MessageBody="{}",
            MessageGroupId="outbox",
            MessageDeduplicationId="n1",
        )
    received = sqs.receive_message(QueueUrl=stateful["LiveEventsQueueUrl"], MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1


def test_the_media_queue_outlives_the_worker_and_dead_letters_after_five_receives(client, stateful):
    queue = _queue(client, stateful["MediaQueueUrl"])
    dead = _queue(client, stateful["MediaDeadLetterQueueUrl"])
    assert queue["VisibilityTimeout"] == "720"
    assert queue["MessageRetentionPeriod"] == dead["MessageRetentionPeriod"] == "1209600"
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dead["QueueArn"], "maxReceiveCount": 5}


def test_the_bucket_is_versioned_private_encrypted_with_its_cors(client, stateful):
    s3 = client("s3")
    bucket = stateful["MediaBucketName"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert cors["AllowedOrigins"] == [CONSOLE]
    assert sorted(cors["AllowedMethods"]) == ["GET", "HEAD", "PUT"]
    assert "x-amz-meta-declared-size" in cors["AllowedHeaders"] and cors["MaxAgeSeconds"] == 600
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.xfail(
    strict=True,
    reason="LocalStack 4.9.2's AWS::S3::Bucket provider ignores LifecycleConfiguration (no lifecycle is set); "
    "strict: the day it applies it, this passes, fails as XPASS, and the marker goes",
)
def test_the_bucket_gets_its_lifecycle_rules(client, stateful):
    s3 = client("s3")
    bucket = stateful["MediaBucketName"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {"abort-incomplete-multipart", "expire-noncurrent-versions", "expire-unsent-uploads"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    unsent = rules["expire-unsent-uploads"]
    assert unsent["Expiration"] == {"Days": 1}
    assert json.dumps(unsent["Filter"]).count("pendente") == 1 and "uploads/" in json.dumps(unsent["Filter"])


def test_the_database_secret_is_generated_with_its_user_and_a_url_safe_password(client, stateful):
    secrets = client("secretsmanager")
    assert secrets.describe_secret(SecretId=stateful["DatabaseSecretArn"])["Name"] == f"crm-inbox/{STAGE}/database"
    value = json.loads(secrets.get_secret_value(SecretId=stateful["DatabaseSecretArn"])["SecretString"])
    assert set(value) == {"username", "password"} and value["username"] == "crm"
    # Checked, never printed: 32 characters without punctuation (it needs no URL escaping).
    assert len(value["password"]) == 32 and value["password"].isalnum()


def _alarms(client, prefix: str) -> dict[str, dict]:
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    return {a["MetricName"]: a for a in alarms}


def test_the_database_alarms_exist_as_declared(client, stateful):
    alarms = _alarms(client, f"crm-inbox-{STAGE}-stateful-")
    assert set(alarms) == {"DatabaseConnections", "CPUUtilization", "FreeStorageSpace"}
    assert alarms["DatabaseConnections"]["Threshold"] == 65
    assert alarms["CPUUtilization"]["Threshold"] == 80
    assert alarms["FreeStorageSpace"]["ComparisonOperator"] == "LessThanThreshold"
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/RDS"
        assert alarm["AlarmActions"] == [TOPIC] and alarm["OKActions"] == [TOPIC]


def test_the_app_stacks_queue_alarms_watch_the_queues_this_stack_made(client, stateful):
    """infra/chalice-merge.json's SQS alarms, deployed alone: CloudWatch takes them, and each
    one's QueueName is a queue that exists."""
    merge = json.loads((ROOT / "infra" / "chalice-merge.json").read_text())
    alarms = {
        name: resource
        for name, resource in merge["Resources"].items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm" and resource["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert {
        "LiveEventsDeadLettersAlarm",
        "LiveEventsQueueAgeAlarm",
        "MediaDeadLettersAlarm",
        "MediaQueueAgeAlarm",
    } <= set(alarms)
    template = {
        "Parameters": {name: merge["Parameters"][name] for name in ("Stage", "AlarmTopicArn")},
        "Resources": alarms,
    }
    _deploy(
        client("cloudformation"),
        f"crm-inbox-{STAGE}-queue-alarms",
        json.dumps(template),
        {"Stage": STAGE, "AlarmTopicArn": TOPIC},
    )
    deployed = client("cloudwatch").describe_alarms(AlarmNamePrefix=f"crm-inbox-{STAGE}-queue-alarms-")["MetricAlarms"]
    assert len(deployed) == len(alarms)
    queues = {url.rsplit("/", 1)[1] for url in client("sqs").list_queues()["QueueUrls"]}
    for alarm in deployed:
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName" and dimension["Value"] in queues, alarm["AlarmName"]
        assert alarm["AlarmActions"] == [TOPIC]
    by_queue = {(a["MetricName"], a["Dimensions"][0]["Value"]): a for a in deployed}
    age = by_queue[("ApproximateAgeOfOldestMessage", f"crm-inbox-{STAGE}-live-events.fifo")]
    assert age["Threshold"] == 60 and age["ComparisonOperator"] == "GreaterThanThreshold"
    dead = by_queue[("ApproximateNumberOfMessagesVisible", f"crm-inbox-{STAGE}-live-events-dlq.fifo")]
    assert dead["Threshold"] == 0 and dead["ComparisonOperator"] == "GreaterThanThreshold"


def test_deleting_the_stack_drops_the_disposable_queues(client, stateful):
    """Second to last in this module: it deletes the stack the others read."""
    cfn = client("cloudformation")
    name = f"crm-inbox-{STAGE}-stateful"
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    status = "DELETE_IN_PROGRESS"
    while time.monotonic() < deadline and status == "DELETE_IN_PROGRESS":
        time.sleep(0.5)
        stacks = cfn.describe_stacks(StackName=name)["Stacks"] if _exists(cfn, name) else []
        status = stacks[0]["StackStatus"] if stacks else "DELETE_COMPLETE"
    assert status == "DELETE_COMPLETE"
    queues = {url.rsplit("/", 1)[1] for url in client("sqs").list_queues().get("QueueUrls", [])}
    assert not {f"crm-inbox-{STAGE}-live-events.fifo", f"crm-inbox-{STAGE}-live-events-dlq.fifo"} & queues


@pytest.mark.xfail(
    strict=True,
    reason="LocalStack 4.9.2's CloudFormation deletes DeletionPolicy: Retain resources with the stack; "
    "tests/unit/test_infra.py checks the policies in the template",
)
def test_deleting_the_stack_keeps_the_data(client, stateful):
    queues = {url.rsplit("/", 1)[1] for url in client("sqs").list_queues().get("QueueUrls", [])}
    assert {f"crm-inbox-{STAGE}-media", f"crm-inbox-{STAGE}-media-dlq"} <= queues
    assert stateful["MediaBucketName"] in {b["Name"] for b in client("s3").list_buckets()["Buckets"]}
    client("secretsmanager").describe_secret(SecretId=stateful["DatabaseSecretArn"])


def _exists(cfn, name: str) -> bool:
    try:
        cfn.describe_stacks(StackName=name)
    except cfn.exceptions.ClientError:
        return False
    return True
