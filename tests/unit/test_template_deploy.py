"""template.yaml has no first-deploy traps (issue 18, item 5), and docs/deploy.md keeps up."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from nudge_local.template import PROJECT_ROOT, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
NO_VALUE = {"Ref": "AWS::NoValue"}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = sorted(of_type("AWS::Serverless::Function"))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_has_a_log_group_with_retention(name: str) -> None:
    groups = [
        g["Properties"]
        for g in of_type("AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
    ]
    assert len(groups) == 1, f"{name} has no log group of its own"
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert PARAMETERS["LogRetentionDays"]["Default"] == 30


def test_http_api_access_logs_name_the_route_never_the_path_or_query() -> None:
    api = next(iter(of_type("AWS::Serverless::HttpApi").values()))["Properties"]
    settings = api["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    fields = json.loads(settings["Format"])  # one JSON object per request
    values = set(fields.values())
    assert {"$context.routeKey", "$context.status", "$context.identity.userArn"} <= values
    assert "$context.identity.caller" in values
    # the path carries user ids, the query string coordinates; bodies are never logged
    for forbidden in ("$context.path", "querystring", "rawQueryString", "body", "sourceIp"):
        assert all(forbidden.lower() not in v.lower() for v in values), forbidden
    group = RESOURCES["HttpApiAccessLogs"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_reserved_concurrency_is_a_parameter_off_by_default() -> None:
    reserved = {
        name: r["Properties"]["ReservedConcurrentExecutions"]
        for name, r in of_type("AWS::Serverless::Function").items()
        if "ReservedConcurrentExecutions" in r["Properties"]
    }
    assert set(reserved) == {"SchedulerFunction", "ConfigLoaderFunction"}
    for value in reserved.values():
        condition, when, otherwise = value["Fn::If"]
        assert otherwise == NO_VALUE
        parameter = PARAMETERS[when["Ref"]]
        assert parameter["Default"] == 0
        assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [when, "0"]}]}


@pytest.mark.parametrize(
    "name", sorted({**of_type("AWS::S3::Bucket"), **of_type("AWS::DynamoDB::Table")})
)
def test_data_is_retained_except_when_its_own_creation_rolls_back(name: str) -> None:
    assert RESOURCES[name]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert RESOURCES[name]["UpdateReplacePolicy"] == "Retain"


FCM_PATTERN = re.compile(PARAMETERS["FcmCredentialsSecretArn"]["AllowedPattern"])


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nudge/fcm-service-account-AbC123",
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:fcm-x1Y2z3",
    ],
)
def test_the_fcm_secret_parameter_takes_a_full_arn(value: str) -> None:
    assert FCM_PATTERN.match(value)


@pytest.mark.parametrize(
    "value",
    [
        "",  # every push would end in the DLQ
        "nudge/fcm-service-account",  # a name: the policy would name no secret
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nudge/fcm-service-account",
        "arn:aws:kms:eu-west-1:123456789012:key/abc",
    ],
)
def test_the_fcm_secret_parameter_is_refused_at_deploy_time_when_wrong(value: str) -> None:
    definition = PARAMETERS["FcmCredentialsSecretArn"]
    assert "Default" not in definition  # required: sam deploy asks for it
    assert "docs/deploy.md" in definition["ConstraintDescription"]
    assert not FCM_PATTERN.match(value)


def test_the_local_stacks_secret_arn_fits_the_parameter() -> None:
    import boto3
    from moto import mock_aws

    from nudge_local.stack_environments import FCM_SECRET_NAME

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name=FCM_SECRET_NAME, SecretString="{}")["ARN"]
    assert FCM_PATTERN.match(arn), arn


@pytest.mark.parametrize(
    ("function", "condition"),
    [
        ("PushSenderFunction", "HasSecretsKmsKey"),
        ("DetractorRouterFunction", "HasDetractorSecretKmsKey"),
    ],
)
def test_kms_decrypt_only_with_a_customer_managed_key(function: str, condition: str) -> None:
    policies = RESOURCES[function]["Properties"]["Policies"]
    statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
    assert len(conditional) == 1
    name, statement, otherwise = conditional[0]
    assert (name, otherwise) == (condition, NO_VALUE)
    assert statement["Action"] == ["kms:Decrypt"]
    assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    assert "kms:ViaService" in statement["Condition"]["StringEquals"]
    assert not any("kms:" in a for s in statements if "Action" in s for a in s["Action"])
    assert PARAMETERS["SecretsKmsKeyArn"]["Default"] == ""


def test_the_deploy_guide_explains_every_parameter() -> None:
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    missing = [name for name in PARAMETERS if f"`{name}`" not in guide]
    assert not missing, f"docs/deploy.md does not explain {missing}"


def test_the_local_stack_refuses_parameters_as_cloudformation_would() -> None:
    from nudge_local.resources import InvalidParameters, template_parameters
    from nudge_local.template import read_stack

    spec = read_stack()
    base = {"JwtIssuer": "https://issuer.test", "JwtAudience": "app"}
    with pytest.raises(InvalidParameters, match=r"\['FcmCredentialsSecretArn'\] must have values"):
        template_parameters(spec, base)
    partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nudge-fcm"  # no suffix
    with pytest.raises(InvalidParameters, match="FcmCredentialsSecretArn' must match pattern"):
        template_parameters(spec, {**base, "FcmCredentialsSecretArn": partial})
    with pytest.raises(InvalidParameters, match="LogLevel' must be one of AllowedValues"):
        template_parameters(
            spec, {**base, "FcmCredentialsSecretArn": partial + "-AbCdEf", "LogLevel": "LOUD"}
        )
    values = template_parameters(spec, {**base, "FcmCredentialsSecretArn": partial + "-AbCdEf"})
    assert values["LogLevel"] == "INFO"
