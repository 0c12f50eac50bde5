"""The deployable stack: `chalice package --stage prod --merge-template infra/chalice-merge.json`
gives every function every setting chalicelib/config.py reads (secrets only as Secrets Manager
dynamic references), a WS_MANAGEMENT_URL at the websocket API Chalice generates, the VPC the
database lives in, and a template cfn-lint accepts.

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
    "DB_STATEMENT_TIMEOUT_MS": "its default (15 s) is meant for the 30 s Lambda timeout",
    "DB_SOCKET_TIMEOUT_SECONDS": "its default (30 s) sits above the statement timeout",
    "MEDIA_DOWNLOAD_HOSTS": "its default (Meta's lookaside.fbsbx.com) is production's",
    "PUSH_EXTRA_HOSTS": "empty in production: the browsers' push services are built in",
    "PSEUDONYM_SECRET": "falls back to AUTH_SECRET, a secret already wired; set it to rotate AUTH_SECRET alone",
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
APP_SECRET_REF = re.compile(r"\{\{resolve:secretsmanager:crm-inbox/\$\{Stage\}/app:SecretString:(\w+)\}\}")
DB_SECRET_REF = r"\{\{resolve:secretsmanager:crm-inbox/\$\{Stage\}/database:SecretString:%s\}\}"


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
    done = subprocess.run([str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, timeout=120)
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


def test_publishers_may_post_to_the_api_connections(packaged):
    role = packaged["Resources"]["DefaultRole"]
    assert role["Type"] == "AWS::IAM::Role"
    for name, resource in functions(packaged).items():
        assert resource["Properties"]["Role"] == {"Fn::GetAtt": ["DefaultRole", "Arn"]}, name
    wanted = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/POST/@connections/Ab1=="
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert any(
        s["Effect"] == "Allow"
        and "execute-api:ManageConnections" in _as_list(s["Action"])
        and any(fnmatchcase(wanted, r) for r in _as_list(s["Resource"]))
        for s in statements
    )


def test_secrets_are_only_dynamic_references(packaged):
    shared = packaged["Globals"]["Function"]["Environment"]["Variables"]
    for name in SECRETS:
        value = shared[name]
        assert list(value) == ["Fn::Sub"], name
        assert APP_SECRET_REF.fullmatch(value["Fn::Sub"]).group(1) == name
        for resource in functions(packaged).values():  # no function overrides it with a literal
            assert effective_env(packaged, resource)[name] == value
    database_url = shared["DATABASE_URL"]["Fn::Sub"]
    pattern = (
        rf"postgresql://{DB_SECRET_REF % 'username'}:{DB_SECRET_REF % 'password'}"
        r"@\$\{DatabaseEndpoint\}:5432/crm\?sslmode=require"
    )
    assert re.fullmatch(pattern, database_url), database_url
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


def test_secret_and_database_names_match_the_stateful_stack(packaged):
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    assert "Name: !Sub crm-inbox/${Stage}/database" in stateful
    assert re.search(r"SecretStringTemplate: '\{\"username\": \"\w+\"\}'", stateful)
    assert re.search(r"GenerateStringKey: password\b", stateful)
    assert re.search(r"ExcludePunctuation: true", stateful)  # the password needs no URL escaping
    assert re.search(r"DBName: crm\b", stateful) and "Port:" not in stateful  # default 5432
    stages = re.search(r"Stage:\s*\n\s*Type: String\s*\n\s*AllowedValues: \[([^\]]*)\]", stateful).group(1)
    assert packaged["Parameters"]["Stage"]["AllowedValues"] == [s.strip() for s in stages.split(",")]
    for output in ("DatabaseEndpoint", "MediaBucketName", "MediaQueueUrl"):
        assert re.search(rf"^  {output}:\n    Value:", stateful, re.M), output
        assert output in packaged["Parameters"]


def test_functions_run_in_the_database_vpc(packaged):
    vpc = packaged["Globals"]["Function"]["VpcConfig"]
    assert vpc == {"SubnetIds": {"Ref": "LambdaSubnetIds"}, "SecurityGroupIds": {"Ref": "LambdaSecurityGroupIds"}}
    assert packaged["Parameters"]["LambdaSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert packaged["Parameters"]["LambdaSecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    for name, resource in functions(packaged).items():
        assert resource["Type"] == "AWS::Serverless::Function", name  # Globals reach only these
        assert "VpcConfig" not in resource["Properties"], name
    # ENI permissions on the role itself: Lambda checks them when it creates the function.
    managed = packaged["Resources"]["DefaultRole"]["Properties"]["ManagedPolicyArns"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"} in managed


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
        [str(BIN / "cfn-lint"), str(ROOT / "infra" / template)], capture_output=True, text=True, timeout=120
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
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopicArn"}] for a in alarms)
    stateful = (ROOT / "infra" / "stateful.yaml").read_text()
    for metric in ("DatabaseConnections", "CPUUtilization", "FreeStorageSpace"):
        assert f"MetricName: {metric}" in stateful


def test_database_connections_are_budgeted_by_reserved_concurrency(packaged):
    """Each warm container holds one database connection: the functions that use the database
    together stay under a db.t4g.micro's ~80 connections, with room for migrations and people."""
    found = functions(packaged)
    reserved = {name: r["Properties"].get("ReservedConcurrentExecutions") for name, r in found.items()}
    database_users = {name: n for name, n in reserved.items() if name != "Authorizer"}
    assert all(n for n in database_users.values()), reserved  # none unbounded
    assert sum(database_users.values()) <= 65, reserved
    source = found["HandleMediaDownload"]["Properties"]["Events"]["HandleMediaDownloadSqsEventSource"]["Properties"]
    assert source["ScalingConfig"]["MaximumConcurrency"] <= reserved["HandleMediaDownload"]
