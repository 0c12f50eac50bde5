"""The deployable stack: `chalice package --stage prod --merge-template infra/chalice-merge.json`
gives every function every setting chalicelib/config.py reads (secrets only as the ARNs of the
Secrets Manager secrets the code reads at run time, never a value), a role of its own that
allows only what that function calls, a WS_MANAGEMENT_URL at the websocket API Chalice
generates, the VPC the database lives in, and a template cfn-lint accepts.

The real `chalice package` CLI runs once per module on a throwaway copy of app.py, chalicelib and
.chalice/config.json. There is no requirements.txt in the copy, so Chalice has nothing to download
(PIP_NO_INDEX makes sure pip could not either) and packaging takes about a second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MERGE_TEMPLATE = ROOT / "infra" / "chalice-merge.json"

# Settings deliberately not given to the Lambdas, and why.
NOT_DEPLOYED = {
    "AWS_ENDPOINT_URL": "local stack only: in AWS it would send boto3 to moto",
    "AWS_DEFAULT_REGION": "reserved: the Lambda runtime sets it",
    "DB_STATEMENT_TIMEOUT_MS": "the database's default (15 s, migration 0016) applies; setting it would SET and pin",
    "DB_SOCKET_TIMEOUT_SECONDS": "its default (30 s) sits above the statement timeout",
    "MEDIA_DOWNLOAD_HOSTS": "its default (Meta's lookaside.fbsbx.com) is production's",
    "PUSH_EXTRA_HOSTS": "empty in production: the browsers' push services are built in",
    "PSEUDONYM_SECRET": "a key of the app secret (optional): falls back to AUTH_SECRET",
    "WHATSAPP_APP_SECRET": "a key of the app secret, read at run time (APP_SECRET_ARN)",
    "WHATSAPP_VERIFY_TOKEN": "a key of the app secret, read at run time (APP_SECRET_ARN)",
    "WHATSAPP_ACCESS_TOKEN": "a key of the app secret, read at run time (APP_SECRET_ARN)",
    "AUTH_SECRET": "a key of the app secret, read at run time (APP_SECRET_ARN)",
    "VAPID_PRIVATE_KEY": "a key of the app secret, read at run time (APP_SECRET_ARN)",
}
SECRETS = {"WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "AUTH_SECRET", "VAPID_PRIVATE_KEY"}
# The functions that publish live events or reply on the websocket.
PUBLISHERS = {
    "APIHandler",
    "HandleMediaDownload",
    "HandleTemplateSync",
    "HandleWindowExpiry",
    "WebsocketConnect",
    "WebsocketMessage",
    "WebsocketDisconnect",
}
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}


def package_app(project: Path, stage: str, extra_env: dict[str, str] | None = None) -> Path:
    """Run `chalice package` for `stage` on a copy of the app in `project`; returns the output dir."""
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    shutil.copy(ROOT / "app.py", project / "app.py")
    assert not (project / "requirements.txt").exists()  # nothing for Chalice to download
    out = project / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PIP_NO_INDEX": "1", **(extra_env or {})}
    done = subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", stage, "--merge-template", str(MERGE_TEMPLATE), str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def cfn_lint(template: dict, tmp_path: Path) -> None:
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(template))
    # `-c I`: the informational rules too; none fires on the packaged template.
    done = subprocess.run(
        [str(BIN / "cfn-lint"), "-c", "I", "--", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def settings_env_names() -> set[str]:
    from chalicelib.config import Settings

    return {field.alias for field in Settings.model_fields.values()}


# What the deployer's shell may hold; none of it may end up in what is deployed.
CANARIES = {name: f"canary-{name.lower()}-5be1e0" for name in [*SECRETS, "DATABASE_URL"]}


@pytest.fixture(scope="module")
def packaged_out(tmp_path_factory) -> Path:
    return package_app(tmp_path_factory.mktemp("deploy-prod"), "prod", extra_env=CANARIES)


@pytest.fixture(scope="module")
def packaged(packaged_out) -> dict:
    return json.loads((packaged_out / "sam.json").read_text())


def functions(template: dict) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] in FUNCTION_TYPES}


def effective_env(template: dict, resource: dict) -> dict:
    """The variables the function gets: SAM merges Globals' map under the function's own."""
    own = resource["Properties"].get("Environment", {}).get("Variables", {})
    if resource["Type"] != "AWS::Serverless::Function":
        return own
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def test_every_function_gets_every_setting_the_code_reads(packaged):
    wanted = settings_env_names() - set(NOT_DEPLOYED)
    assert set(NOT_DEPLOYED) <= settings_env_names(), "an exemption names a setting config.py no longer has"
    assert {"WS_MANAGEMENT_URL", "DATABASE_URL", "MEDIA_QUEUE_URL", "VAPID_SUBJECT", "STAGE"} <= wanted
    found = functions(packaged)
    assert set(found) >= PUBLISHERS | {"Authorizer"}
    for name, resource in found.items():
        env = effective_env(packaged, resource)
        missing = wanted - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}: wire them in infra/chalice-merge.json Globals"
        assert "AWS_ENDPOINT_URL" not in env
        assert env["STAGE"] == "prod"


def test_ws_management_url_is_the_packaged_websocket_api_stage(packaged):
    resources = packaged["Resources"]
    for name in PUBLISHERS:
        url = effective_env(packaged, resources[name])["WS_MANAGEMENT_URL"]
        assert list(url) == ["Fn::Sub"]
        match = re.fullmatch(
            r"https://\$\{(\w+)\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/(\w+)", url["Fn::Sub"]
        )
        assert match, url
        api_id, stage_name = match.groups()
        api = resources[api_id]
        assert api["Type"] == "AWS::ApiGatewayV2::Api" and api["Properties"]["ProtocolType"] == "WEBSOCKET"
        stages = [
            r["Properties"]["StageName"]
            for r in resources.values()
            if r["Type"] == "AWS::ApiGatewayV2::Stage" and r["Properties"]["ApiId"] == {"Ref": api_id}
        ]
        assert stages == [stage_name]
    # The clients' wss:// URL (Chalice's own output) and the management URL are the same endpoint.
    connect_url = packaged["Outputs"]["WebsocketConnectEndpointURL"]["Value"]["Fn::Sub"]
    assert connect_url.replace("wss://", "https://").rstrip("/") == url["Fn::Sub"]


# --- one role per function, each allowing only what its function calls ---------------------

# Values the policies' ${...} and Refs stand for, to evaluate them like IAM would.
SUBSTITUTIONS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "Stage": "prod",
    "MediaBucketName": "crm-media-bucket",
    "WebsocketAPI": "a1b2c3d4e5",
    "AppSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:crm-inbox/prod/app-AbC123",
    "DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:crm-inbox/prod/database-XyZ789",
}
# Actions with no resource-level permissions in IAM: only these may name Resource "*". (The
# functions publish metrics as EMF log lines, so no cloudwatch:PutMetricData is granted.)
NEED_EVERY_RESOURCE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ARN = {
    "media": "arn:aws:s3:::crm-media-bucket/media/2026/11/m/1.jpg",
    "upload": "arn:aws:s3:::crm-media-bucket/uploads/admin/u1",
    "bucket": "arn:aws:s3:::crm-media-bucket",
    "other bucket": "arn:aws:s3:::someone-elses/media/1.jpg",
    "media queue": "arn:aws:sqs:us-east-1:123456789012:crm-inbox-prod-media",
    "media dlq": "arn:aws:sqs:us-east-1:123456789012:crm-inbox-prod-media-dlq",
    "live queue": "arn:aws:sqs:us-east-1:123456789012:crm-inbox-prod-live-events.fifo",
    "dev live queue": "arn:aws:sqs:us-east-1:123456789012:crm-inbox-dev-live-events.fifo",
    "post": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/POST/@connections/Ab1==",
    "close": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/DELETE/@connections/Ab1==",
    "other api": "arn:aws:execute-api:us-east-1:123456789012:zzzzzzzzzz/api/POST/@connections/Ab1==",
    "app secret": SUBSTITUTIONS["AppSecretArn"],
    "db secret": SUBSTITUTIONS["DatabaseSecretArn"],
    "other secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:crm-inbox/dev/app-QqQ111",
}


def _resolve(value) -> list[str]:
    if isinstance(value, list):
        return [r for v in value for r in _resolve(v)]
    if isinstance(value, str):
        return [value]
    if "Ref" in value:
        return [SUBSTITUTIONS[value["Ref"]]]
    text = value["Fn::Sub"]
    for name, concrete in SUBSTITUTIONS.items():
        text = text.replace("${" + name + "}", concrete)
    assert "${" not in text, text
    return [text]


def role_of(template: dict, function: str) -> dict:
    role = template["Resources"][function]["Properties"]["Role"]
    assert list(role) == ["Fn::GetAtt"] and role["Fn::GetAtt"][1] == "Arn", (function, role)
    return template["Resources"][role["Fn::GetAtt"][0]]


def statements(role: dict) -> list[dict]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def allowed(template: dict, function: str, action: str, resource: str) -> bool:
    """Whether the function's role allows `action` on `resource` (inline policies; conditions
    are ignored, so this errs towards "allowed": a test that expects False is strict)."""
    for statement in statements(role_of(template, function)):
        assert statement["Effect"] == "Allow"  # nothing here relies on a Deny
        if not any(fnmatchcase(action, a) for a in _as_list(statement["Action"])):
            continue
        if any(fnmatchcase(resource, r) for r in _resolve(statement["Resource"])):
            return True
    return False


def test_each_function_has_a_role_of_its_own(packaged):
    found = functions(packaged)
    assert set(found) == PUBLISHERS | {"Authorizer", "DrainLiveEvents"}
    roles = {name: packaged["Resources"][name]["Properties"]["Role"]["Fn::GetAtt"][0] for name in found}
    assert len(set(roles.values())) == len(found), roles
    assert "DefaultRole" not in packaged["Resources"]  # Chalice's shared role is not generated
    for name, role_name in roles.items():
        role = packaged["Resources"][role_name]
        assert role["Type"] == "AWS::IAM::Role", name
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    # No policy attaches to a role from the side (it would widen one silently).
    side = [n for n, r in packaged["Resources"].items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]
    assert not side


def test_no_statement_allows_every_resource_but_for_actions_that_need_it(packaged):
    for name in functions(packaged):
        for statement in statements(role_of(packaged, name)):
            actions = set(_as_list(statement["Action"]))
            assert not any("*" in a for a in actions), (name, actions)  # no service:* nor s3:Get*
            resources = _resolve(statement["Resource"])
            if "*" in resources:
                assert actions <= NEED_EVERY_RESOURCE, (name, statement)
            for resource in resources:
                assert "crm-inbox-*" not in resource, (name, resource)  # this stage's only
                assert resource == "*" or not resource.endswith(":*:*:*"), (name, resource)


# (function, action, resource, allowed?)
MATRIX = [
    # The authorizer reads the token version (database) and its secrets: nothing else.
    ("Authorizer", "secretsmanager:GetSecretValue", "app secret", True),
    ("Authorizer", "secretsmanager:GetSecretValue", "db secret", True),
    ("Authorizer", "s3:GetObject", "media", False),
    ("Authorizer", "s3:ListBucket", "bucket", False),
    ("Authorizer", "sqs:SendMessage", "media queue", False),
    ("Authorizer", "sqs:SendMessage", "live queue", False),
    ("Authorizer", "execute-api:ManageConnections", "post", False),
    # The API and webhook: media, uploads, erasure, both queues' sends, closing sockets (a
    # deactivated account's; its live events go through the outbox and the drain).
    ("APIHandler", "s3:GetObject", "media", True),
    ("APIHandler", "s3:PutObject", "upload", True),
    ("APIHandler", "s3:PutObjectTagging", "upload", True),
    ("APIHandler", "s3:DeleteObjectVersion", "media", True),
    ("APIHandler", "s3:DeleteObjectVersion", "upload", True),
    ("APIHandler", "s3:ListBucketVersions", "bucket", True),
    ("APIHandler", "s3:PutObject", "media", False),
    ("APIHandler", "s3:GetObject", "other bucket", False),
    ("APIHandler", "sqs:SendMessage", "media queue", True),
    ("APIHandler", "sqs:SendMessage", "live queue", True),
    ("APIHandler", "sqs:SendMessage", "dev live queue", False),
    ("APIHandler", "sqs:ReceiveMessage", "media queue", False),
    ("APIHandler", "sqs:SendMessage", "media dlq", False),
    ("APIHandler", "execute-api:ManageConnections", "close", True),
    ("APIHandler", "execute-api:ManageConnections", "post", False),  # events leave through the drain
    ("APIHandler", "execute-api:ManageConnections", "other api", False),
    ("APIHandler", "secretsmanager:GetSecretValue", "other secret", False),
    # The media worker: its queue, media/ in the bucket, a nudge to the drain.
    ("HandleMediaDownload", "sqs:ReceiveMessage", "media queue", True),
    ("HandleMediaDownload", "sqs:DeleteMessage", "media queue", True),
    ("HandleMediaDownload", "sqs:ReceiveMessage", "live queue", False),
    ("HandleMediaDownload", "sqs:SendMessage", "live queue", True),
    ("HandleMediaDownload", "sqs:SendMessage", "media queue", False),
    ("HandleMediaDownload", "s3:PutObject", "media", True),
    ("HandleMediaDownload", "s3:AbortMultipartUpload", "media", True),
    ("HandleMediaDownload", "s3:PutObject", "upload", False),
    ("HandleMediaDownload", "s3:DeleteObjectVersion", "media", False),
    ("HandleMediaDownload", "execute-api:ManageConnections", "post", False),
    # The drain: its FIFO queue, the sockets, presigned GETs in the events it builds.
    ("DrainLiveEvents", "sqs:ReceiveMessage", "live queue", True),
    ("DrainLiveEvents", "sqs:DeleteMessage", "live queue", True),
    ("DrainLiveEvents", "sqs:GetQueueAttributes", "live queue", True),
    ("DrainLiveEvents", "sqs:ReceiveMessage", "media queue", False),
    ("DrainLiveEvents", "sqs:ReceiveMessage", "dev live queue", False),
    ("DrainLiveEvents", "execute-api:ManageConnections", "post", True),
    ("DrainLiveEvents", "execute-api:ManageConnections", "close", False),
    ("DrainLiveEvents", "execute-api:ManageConnections", "other api", False),
    ("DrainLiveEvents", "s3:GetObject", "media", True),
    ("DrainLiveEvents", "s3:PutObject", "media", False),
    ("DrainLiveEvents", "s3:DeleteObjectVersion", "media", False),
    # The jobs: database, Graph (secrets), nudges.
    ("HandleTemplateSync", "sqs:SendMessage", "live queue", True),
    ("HandleTemplateSync", "s3:GetObject", "media", False),
    ("HandleTemplateSync", "sqs:SendMessage", "media queue", False),
    ("HandleTemplateSync", "execute-api:ManageConnections", "post", False),
    ("HandleWindowExpiry", "sqs:SendMessage", "live queue", True),
    ("HandleWindowExpiry", "s3:GetObject", "media", False),
    ("HandleWindowExpiry", "execute-api:ManageConnections", "post", False),
    # The websocket handlers: database and secrets; $default answers a ping on its own socket.
    ("WebsocketConnect", "execute-api:ManageConnections", "post", False),
    ("WebsocketConnect", "s3:GetObject", "media", False),
    ("WebsocketConnect", "sqs:SendMessage", "live queue", False),
    ("WebsocketDisconnect", "execute-api:ManageConnections", "close", False),
    ("WebsocketDisconnect", "sqs:SendMessage", "live queue", False),
    ("WebsocketMessage", "execute-api:ManageConnections", "post", True),
    ("WebsocketMessage", "execute-api:ManageConnections", "close", False),
    ("WebsocketMessage", "s3:GetObject", "media", False),
]


@pytest.mark.parametrize(("function", "action", "resource", "expected"), MATRIX)
def test_each_role_allows_what_its_function_calls_and_nothing_else(packaged, function, action, resource, expected):
    assert allowed(packaged, function, action, ARN[resource]) is expected


def test_only_the_api_may_delete_object_versions(packaged):
    may = {f for f in functions(packaged) if allowed(packaged, f, "s3:DeleteObjectVersion", ARN["media"])}
    assert may == {"APIHandler"}  # the LGPD erasure (chalicelib/services/lgpd.py) lives in the API


def test_every_function_reads_its_secrets_and_traces(packaged):
    for name in functions(packaged):
        for secret in ("app secret", "db secret"):
            assert allowed(packaged, name, "secretsmanager:GetSecretValue", ARN[secret]), name
        assert not allowed(packaged, name, "secretsmanager:GetSecretValue", ARN["other secret"]), name
        assert allowed(packaged, name, "xray:PutTraceSegments", "*"), name


def test_each_sqs_event_source_may_consume_its_queue(packaged):
    """Lambda's event source mapping polls with the function's role: receive, delete and read
    the attributes of that queue."""
    for name, resource in functions(packaged).items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            (queue,) = _resolve(event["Properties"]["Queue"])
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                assert allowed(packaged, name, action, queue), (name, action, queue)


def test_no_secret_value_is_in_the_environment_only_the_secrets_arns(packaged):
    shared = packaged["Globals"]["Function"]["Environment"]["Variables"]
    assert "{{resolve:" not in json.dumps(packaged)  # nothing resolved into the template at deploy
    for resource in functions(packaged).values():
        env = effective_env(packaged, resource)
        assert not (SECRETS | {"PSEUDONYM_SECRET", "SECRETS_REVISION"}) & set(env)
        assert env["APP_SECRET_ARN"] == {"Ref": "AppSecretArn"}
        assert env["DATABASE_SECRET_ARN"] == {"Ref": "DatabaseSecretArn"}
    # The database URL: the proxy, TLS verified against the packaged roots, no user or password.
    assert shared["DATABASE_URL"] == {
        "Fn::Sub": "postgresql://${DatabaseProxyEndpoint}:5432/crm?sslmode=verify-full&sslrootcert=system"
    }
    for name in ("AppSecretArn", "DatabaseSecretArn"):
        assert ":secretsmanager:" in packaged["Parameters"][name]["AllowedPattern"]
    for parameter in packaged["Parameters"].values():  # nothing secret arrives through a parameter default
        assert not re.search(r"secret|token|password|private", json.dumps(parameter.get("Default", "")), re.I)


def test_the_deployers_environment_does_not_leak_into_the_package(packaged_out):
    texts = [(packaged_out / "sam.json").read_text()]
    with zipfile.ZipFile(packaged_out / "deployment.zip") as archive:
        texts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist() if not n.endswith("/")]
    for canary in CANARIES.values():
        assert not any(canary in text for text in texts), canary
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    declared = [config.get("environment_variables", {})] + [
        s.get("environment_variables", {}) for s in config["stages"].values()
    ]
    assert not any((SECRETS | {"DATABASE_URL"}) & set(env) for env in declared)
    # Chalice makes no role: every function's role is infra/chalice-merge.json's.
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["manage_iam_role"] is False


def test_secret_and_database_names_match_the_stateful_stack(packaged):
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    assert "Name: !Sub crm-inbox/${Stage}/database" in stateful
    assert re.search(r"SecretStringTemplate: '\{\"username\": \"\w+\"\}'", stateful)
    assert re.search(r"GenerateStringKey: password\b", stateful)
    assert re.search(r"ExcludePunctuation: true", stateful)  # the password needs no URL escaping
    assert re.search(r"DBName: crm\b", stateful) and "Port:" not in stateful  # default 5432
    stages = re.search(r"Stage:\s*\n\s*Type: String\s*\n\s*AllowedValues: \[([^\]]*)\]", stateful).group(1)
    assert packaged["Parameters"]["Stage"]["AllowedValues"] == [s.strip() for s in stages.split(",")]
    for output in (
        "DatabaseProxyEndpoint",
        "DatabaseSecretArn",
        "MediaBucketName",
        "MediaQueueUrl",
        "LiveEventsQueueUrl",
    ):
        assert re.search(rf"^  {output}:\n(    (Condition|Description): .*\n)*    Value:", stateful, re.M), output
        assert output in packaged["Parameters"]


def test_functions_run_in_the_database_vpc(packaged):
    vpc = packaged["Globals"]["Function"]["VpcConfig"]
    assert vpc == {"SubnetIds": {"Ref": "LambdaSubnetIds"}, "SecurityGroupIds": {"Ref": "LambdaSecurityGroupIds"}}
    assert packaged["Parameters"]["LambdaSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert packaged["Parameters"]["LambdaSecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    for name, resource in functions(packaged).items():
        assert resource["Type"] == "AWS::Serverless::Function", name  # Globals reach only these
        assert "VpcConfig" not in resource["Properties"], name
    # ENI permissions on each role itself: Lambda checks them when it creates the function.
    for name in functions(packaged):
        managed = role_of(packaged, name)["Properties"]["ManagedPolicyArns"]
        assert managed == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}
        ], name


def test_media_worker_keeps_partial_batch_failures(packaged):
    source = packaged["Resources"]["HandleMediaDownload"]["Properties"]["Events"]["HandleMediaDownloadSqsEventSource"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "crm-inbox-prod-media" in json.dumps(source["Properties"]["Queue"])


def test_deploy_doc_passes_every_parameter(packaged):
    doc = (ROOT / "docs" / "deploy.md").read_text()
    # The app stack's deploy: no longer the doc's last (the console stack's comes after it).
    overrides = doc[doc.index("--parameter-overrides") :]
    for name, parameter in packaged["Parameters"].items():
        if "Default" not in parameter:
            assert re.search(rf"\b{name}=", overrides), f"docs/deploy.md does not pass {name}"


def test_packaged_prod_template_passes_cfn_lint(packaged, tmp_path):
    cfn_lint(packaged, tmp_path)


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_the_gateway_answers_its_own_errors_in_the_envelope_with_cors(packaged):
    """API Gateway's own 401/403/404 (no Lambda involved) use the same table as the local gateway."""
    from chalicelib.errors import GATEWAY_RESPONSES

    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in packaged["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    }
    assert set(responses) == set(GATEWAY_RESPONSES)
    for kind, (status, code) in GATEWAY_RESPONSES.items():
        props = responses[kind]
        assert props["RestApiId"] == {"Ref": "RestAPI"} and props["StatusCode"] == str(status)
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert body["Code"] == code and body["Message"] and "$context" not in json.dumps(body)  # nothing echoed
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in props["ResponseParameters"]
    assert "RestAPI" in packaged["Resources"]


@pytest.mark.parametrize("template", ["stateful.yaml", "console.yaml"])
def test_the_other_templates_pass_cfn_lint(template):
    done = subprocess.run(
        [str(BIN / "cfn-lint"), "-c", "I", "--", str(ROOT / "infra" / template)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_function_is_traced_logged_for_a_while_and_alarmed(packaged):
    found = functions(packaged)
    resources = packaged["Resources"]
    assert packaged["Globals"]["Function"]["Tracing"] == "Active"
    assert resources["RestAPI"]["Properties"]["TracingEnabled"] is True
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    for name in found:
        group = resources[f"{name}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        watched = {
            a["MetricName"] for a in alarms if a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
        }
        assert watched == {"Errors", "Throttles"}, name
    metrics = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    } <= metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics  # dead letters
    queues = {(a["MetricName"], a["Dimensions"][0]["Value"]["Fn::Sub"]) for a in alarms if a["Namespace"] == "AWS/SQS"}
    assert ("ApproximateNumberOfMessagesVisible", "crm-inbox-${Stage}-live-events-dlq.fifo") in queues
    assert ("ApproximateAgeOfOldestMessage", "crm-inbox-${Stage}-live-events.fifo") in queues
    age = next(
        a for a in alarms if a["MetricName"] == "ApproximateAgeOfOldestMessage" and "live-events" in json.dumps(a)
    )
    assert age["Threshold"] == 60
    dashboard = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name in found:
        assert dashboard.count("${" + name + "}") == 3, name  # errors, throttles, concurrency
    assert "crm-inbox-${Stage}-live-events.fifo" in dashboard and "live-events-dlq.fifo" in dashboard
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopicArn"}] for a in alarms)
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    for metric in ("DatabaseConnections", "CPUUtilization", "FreeStorageSpace"):
        assert f"MetricName: {metric}" in stateful


def test_database_connections_are_budgeted(packaged):
    """Every function uses the database (the authorizer reads the token version) and each warm
    container holds one connection to RDS Proxy, so every function's concurrency is bounded;
    the proxy, not the sum, bounds the instance's connections: at most MaxConnectionsPercent of
    them, the rest kept for migrations and people. docs/deploy.md states the same numbers."""
    found = functions(packaged)
    reserved = {name: r["Properties"].get("ReservedConcurrentExecutions") for name, r in found.items()}
    assert all(reserved.values()), reserved  # none unbounded
    # The authorizer runs before every API request (ttl 0): as many as the API, no fewer.
    assert reserved["Authorizer"] >= reserved["APIHandler"]
    for name, resource in found.items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":  # the poller never invokes more than the function may run
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= reserved[name], name
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    percent = int(re.search(r"MaxConnectionsPercent: (\d+)", stateful).group(1))
    assert percent <= 80  # a db.t4g.micro's ~80 connections: at least 16 left outside the proxy
    doc = (ROOT / "docs" / "deploy.md").read_text()
    assert f"add up to {sum(reserved.values())} client connections" in doc
    assert f"MaxConnectionsPercent` {percent}" in doc


def runtime_closure() -> set[str]:
    """What `chalice package` puts into deployment.zip besides our code: requirements.txt and
    everything it requires, read from the installed distributions' metadata (the dev venv
    installs the same pins), with markers evaluated for Lambda's Linux and Python 3.11."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                pending.append(child)
    return seen


def test_the_package_carries_no_packaging_tools():
    """pip, setuptools and wheel came in with the chalice CLI (~12 MB unzipped with its prompt
    libraries); Chalice adds its runtime module to the package by itself."""
    closure = runtime_closure()
    assert not {"chalice", "pip", "setuptools", "wheel", "inquirer", "pyyaml", "click"} & closure, sorted(closure)
    assert {"pg8000", "aws-lambda-powertools", "certifi", "phonenumberslite", "pywebpush"} <= closure
    assert "phonenumbers" not in closure  # the lite build: no geocoding or carrier metadata
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^chalice==", dev, re.M)  # still there to package and to run locally
    localstack = (ROOT / "requirements-localstack.txt").read_text()
    assert re.search(r"^psutil==7\.1\.\d+", localstack, re.M)  # LocalStack 4.9 needs psutil below 7.2
    assert "AWS_DEFAULT_REGION=" in (ROOT / "docs" / "deploy.md").read_text()
