"""The CloudFormation templates are valid, informational checks included, and keep the
stateful parts safe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def test_infra_templates_pass_cfn_lint_with_the_informational_checks():
    """`-c I` adds cfn-lint's informational rules (e.g. I3011: a stateful resource without an
    explicit DeletionPolicy/UpdateReplacePolicy). None is ignored: each was fixed in the template.
    The packaged app template gets the same in tests/integration/test_deploy_package.py."""
    templates = sorted(str(p) for p in INFRA.glob("*.yaml"))
    assert templates
    done = subprocess.run([CFN_LINT, "-c", "I", "--", *templates], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_media_queue_has_a_dead_letter_queue_after_five_receives():
    text = (INFRA / "stateful.yaml").read_text()
    assert "deadLetterTargetArn: !GetAtt MediaDeadLetterQueue.Arn" in text
    assert "maxReceiveCount: 5" in text
    assert "RestrictPublicBuckets: true" in text


def _resource(text: str, name: str) -> str:
    """The YAML block of one resource of stateful.yaml (up to the next top-level resource)."""
    match = re.search(rf"^  {name}:\n(.*?)(?=^  \w+:\n|^\w)", text, re.M | re.S)
    assert match, name
    return match.group(1)


def test_every_stateful_resource_says_what_happens_when_it_is_deleted_or_replaced():
    text = (INFRA / "stateful.yaml").read_text()
    retained = {"DatabaseSecret", "MediaBucket", "MediaQueue", "MediaDeadLetterQueue"}
    for name in retained:
        block = _resource(text, name)
        assert "DeletionPolicy: Retain" in block and "UpdateReplacePolicy: Retain" in block, name
    block = _resource(text, "Database")
    assert "DeletionPolicy: Snapshot" in block and "UpdateReplacePolicy: Snapshot" in block
    for name in ("LiveEventsQueue", "LiveEventsDeadLetterQueue"):  # disposable nudges, on purpose
        block = _resource(text, name)
        assert "DeletionPolicy: Delete" in block and "UpdateReplacePolicy: Delete" in block, name


def test_the_database_is_reached_through_a_proxy_that_requires_tls_and_reads_the_secret():
    text = (INFRA / "stateful.yaml").read_text()
    proxy = _resource(text, "DatabaseProxy")
    assert "RequireTLS: true" in proxy
    assert "EngineFamily: POSTGRESQL" in proxy
    assert "AuthScheme: SECRETS" in proxy and "SecretArn: !Ref DatabaseSecret" in proxy
    assert "RoleArn: !GetAtt DatabaseProxyRole.Arn" in proxy
    role = _resource(text, "DatabaseProxyRole")
    assert "Service: rds.amazonaws.com" in role
    assert "Action: secretsmanager:GetSecretValue" in role and "Resource: !Ref DatabaseSecret" in role
    targets = _resource(text, "DatabaseProxyTargetGroup")
    assert "DBInstanceIdentifiers: [!Ref Database]" in targets
    assert re.search(r"DatabaseProxyEndpoint:\n(    .*\n)*?    Value: !GetAtt DatabaseProxy.Endpoint", text)
