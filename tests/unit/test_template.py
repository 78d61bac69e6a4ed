"""template.yaml is the truth: check the properties the issue and the principles require."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nudge_local.template import PROJECT_ROOT, read_stack

SPEC = read_stack()
RESOURCES: dict[str, Any] = SPEC.template["Resources"]
GLOBALS = SPEC.template["Globals"]["Function"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {n: r.get("Properties", {}) for n, r in RESOURCES.items() if r["Type"] == kind}


def test_runtime_architecture_tracing() -> None:
    assert GLOBALS["Runtime"] == "python3.13"
    assert GLOBALS["Architectures"] == ["arm64"]
    assert GLOBALS["Tracing"] == "Active"
    env = GLOBALS["Environment"]["Variables"]
    assert {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    } <= set(env)


@pytest.mark.parametrize("name", sorted(of_type("AWS::Serverless::Function")))
def test_each_function_has_code_own_policies_and_an_error_alarm(name: str) -> None:
    props = of_type("AWS::Serverless::Function")[name]
    code = PROJECT_ROOT / props["CodeUri"] / "app.py"
    assert code.exists()
    assert "Role" not in props, "SAM creates one role per function from its own Policies"
    alarms = [
        p
        for p in of_type("AWS::CloudWatch::Alarm").values()
        if p["Namespace"] == "AWS/Lambda" and p["Dimensions"][0]["Value"] == {"Ref": name}
    ]
    assert alarms, f"{name} has no error alarm"


def _statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    statements = [
        s for p in props.get("Policies", []) if isinstance(p, dict) for s in p.get("Statement", [])
    ]
    # a conditional statement (`!If [Cond, {...}, !Ref AWS::NoValue]`): its possible statements
    return [
        option
        for s in statements
        for option in (s["Fn::If"][1:] if "Fn::If" in s else [s])
        if option != {"Ref": "AWS::NoValue"}
    ]


@pytest.mark.parametrize("name", sorted(of_type("AWS::Serverless::Function")))
def test_policies_are_least_privilege(name: str) -> None:
    for statement in _statements(of_type("AWS::Serverless::Function")[name]):
        actions = statement["Action"]
        assert all("*" not in action for action in actions), statement
        assert statement["Resource"] != "*"


def test_only_batch_jobs_can_scan() -> None:
    """Scans stay off the hot path: the broadcaster pages through devices (a paced batch job),
    the admin API's campaign estimate samples profiles (a bounded, parallel, admin-only Scan
    evaluating a Segment), and the scheduler's tick takes the same bounded sample once a day
    for segment health. No event-path function may scan."""
    allowed = {
        "BroadcasterFunction": {"Fn::GetAtt": ["DevicesTable", "Arn"]},
        "AdminApiFunction": {"Fn::GetAtt": ["ProfilesTable", "Arn"]},
        "SchedulerFunction": {"Fn::GetAtt": ["ProfilesTable", "Arn"]},
    }
    for name, props in of_type("AWS::Serverless::Function").items():
        for statement in _statements(props):
            if "dynamodb:Scan" in statement["Action"]:
                assert name in allowed, name
                assert statement["Resource"] == allowed[name]


def test_configs_bucket_is_versioned_private_and_notifies_the_loader() -> None:
    bucket = of_type("AWS::S3::Bucket")["ConfigsBucket"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["BucketEncryption"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    sources = {(s.function, s.prefix, s.suffix) for s in SPEC.s3_sources}
    assert sources == {
        ("ConfigLoaderFunction", "campaigns/", ".yaml"),
        ("ConfigLoaderFunction", "segments/", ".yaml"),
        ("ConfigLoaderFunction", "geofences/", ".geojson"),
        ("ConfigLoaderFunction", "geofences/", ".csv"),
        ("ConfigLoaderFunction", "surveys/", ".yaml"),
    }
    # the loader writes normalized fence sets back under a prefix that notifies nothing
    assert not any(
        s.matches("published/geofences/x/h.json.gz", "s3:ObjectCreated:Put")
        for s in SPEC.s3_sources
    )
    loader = of_type("AWS::Serverless::Function")["ConfigLoaderFunction"]
    assert loader["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_queue_has_dlq_redrive_and_long_visibility() -> None:
    queue = of_type("AWS::SQS::Queue")["EventsQueue"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDLQ", "Arn"]}
    consumer = SPEC.functions["EventProcessorFunction"]
    assert queue["VisibilityTimeout"] >= 6 * consumer.timeout


def test_event_source_reports_partial_failures() -> None:
    (source,) = [s for s in SPEC.sqs_sources if s.queue == "EventsQueue"]
    assert source.report_failures
    assert source.function == "EventProcessorFunction"


def test_dlq_has_a_depth_alarm() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm").values()
    assert any(
        a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EventsDLQ", "QueueName"]}
        for a in alarms
    )


@pytest.mark.parametrize("name", sorted(of_type("AWS::DynamoDB::Table")))
def test_tables_are_on_demand_with_ttl_and_pitr(name: str) -> None:
    table = of_type("AWS::DynamoDB::Table")[name]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_due_index_is_sparse_and_keys_only() -> None:
    (index,) = of_type("AWS::DynamoDB::Table")["ProfilesTable"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "due-index"
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"


def test_routes_and_auth() -> None:
    routes = {(r.method, r.path): r.auth for r in SPEC.routes}
    assert routes[("POST", "/v1/events")] == "jwt"
    assert routes[("GET", "/v1/me")] == "jwt"
    assert routes[("DELETE", "/v1/me")] == "jwt"
    assert routes[("GET", "/v1/openapi.json")] == "none"
    assert all(auth == "iam" for (_, path), auth in routes.items() if path.startswith("/admin/"))
    jwt = SPEC.jwt_config
    assert jwt["issuer"] == {"Ref": "JwtIssuer"} and jwt["audience"] == {"Ref": "JwtAudience"}


def test_fence_set_objects_are_reachable_only_where_needed() -> None:
    """Published fence sets: the loader and the admin API write them; devices_api reads."""
    s3_actions: dict[str, set[str]] = {}
    for name, props in of_type("AWS::Serverless::Function").items():
        for statement in _statements(props):
            resource = json.dumps(statement["Resource"])
            if "published/geofences/*" in resource:
                s3_actions.setdefault(name, set()).update(statement["Action"])
    writers = {
        "ConfigLoaderFunction": {"s3:PutObject"},
        "AdminApiFunction": {"s3:GetObject", "s3:PutObject"},
    }
    assert {n: a for n, a in s3_actions.items() if n in writers} == writers
    readers = {n: a for n, a in s3_actions.items() if n not in writers}
    assert "DevicesApiFunction" in readers  # plus the processor/scheduler once they use it
    assert all(actions == {"s3:GetObject"} for actions in readers.values()), readers
    routes = {(r.method, r.path): r.function for r in SPEC.routes}
    assert routes[("GET", "/v1/me/geofences")] == "DevicesApiFunction"


def test_scheduler_runs_on_an_eventbridge_schedule() -> None:
    (schedule,) = SPEC.schedules
    assert schedule.function == "SchedulerFunction"
    assert schedule.every_seconds <= 3600  # due buckets are hourly


def test_layer_is_built_from_shared() -> None:
    layer = of_type("AWS::Serverless::LayerVersion")["NudgeLayer"]
    assert layer["ContentUri"] == "shared/"
    assert RESOURCES["NudgeLayer"]["Metadata"]["BuildMethod"] == "python3.13"
    requirements = (PROJECT_ROOT / "shared" / "requirements.txt").read_text()
    assert "firebase" not in requirements  # only push_sender's own package may carry it


def test_functions_never_import_each_other() -> None:
    for app in Path(PROJECT_ROOT / "functions").glob("*/app.py"):
        text = app.read_text()
        assert "from functions" not in text and "import functions" not in text


def test_cfn_lint_reports_no_errors() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(PROJECT_ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_detractors_queue_retries_then_dead_letters_with_alarms() -> None:
    queue = of_type("AWS::SQS::Queue")["DetractorsQueue"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DetractorsDLQ", "Arn"]}
    router = SPEC.functions["DetractorRouterFunction"]
    assert queue["VisibilityTimeout"] >= 6 * router.timeout
    (source,) = [s for s in SPEC.sqs_sources if s.queue == "DetractorsQueue"]
    assert source.report_failures and source.function == "DetractorRouterFunction"
    alarmed = {
        a["Dimensions"][0]["Value"].get("Fn::GetAtt", [None])[0]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Namespace"] == "AWS/SQS"
    }
    assert {"DetractorsDLQ", "DetractorsQueue"} <= alarmed


def test_survey_routes_use_the_jwt_and_admin_survey_routes_iam() -> None:
    routes = {(r.method, r.path): (r.auth, r.function) for r in SPEC.routes}
    for route in (
        ("GET", "/v1/me/surveys/next"),
        ("POST", "/v1/surveys/{survey_id}/responses"),
        ("POST", "/v1/surveys/{survey_id}/dismissals"),
    ):
        assert routes[route] == ("jwt", "SurveysApiFunction")
    assert routes[("GET", "/admin/v1/reports/nps/{survey_id}")] == ("iam", "AdminApiFunction")
    assert routes[("PUT", "/admin/v1/surveys/{survey_id}")] == ("iam", "AdminApiFunction")


def test_only_the_nps_functions_and_the_erasers_see_the_surveys_table() -> None:
    readers = {
        name
        for name, spec in SPEC.functions.items()
        if spec.environment.get("NUDGE_SURVEYS_TABLE") == {"Ref": "SurveysTable"}
    }
    granted = {
        name
        for name, props in of_type("AWS::Serverless::Function").items()
        if "SurveysTable" in json.dumps(_statements(props))
    }
    expected = {
        "EventProcessorFunction",
        "SurveysApiFunction",
        "DetractorRouterFunction",
        "AdminApiFunction",  # NPS reports, and the admin user erase
        "DevicesApiFunction",  # DELETE /v1/me: only the erase
    }
    assert readers == granted == expected


@pytest.mark.parametrize("name", ["DevicesApiFunction", "AdminApiFunction"])
def test_erasers_delete_survey_items_only_in_user_partitions(name: str) -> None:
    """Both erase paths Query the user's partition and batch-delete it; the delete is bound
    to USER# partitions, so the anonymous NPSAGG counters cannot be touched."""
    statements = [
        s
        for s in _statements(of_type("AWS::Serverless::Function")[name])
        if s["Resource"] == {"Fn::GetAtt": ["SurveysTable", "Arn"]}
    ]
    actions = {action for s in statements for action in s["Action"]}
    assert {"dynamodb:Query", "dynamodb:BatchWriteItem"} <= actions
    assert "dynamodb:Scan" not in actions and "dynamodb:DeleteItem" not in actions
    for statement in statements:
        if "dynamodb:BatchWriteItem" in statement["Action"]:
            condition = statement["Condition"]["ForAllValues:StringLike"]
            assert condition == {"dynamodb:LeadingKeys": ["USER#*"]}
    if name == "DevicesApiFunction":  # it needs nothing else of SurveysTable
        assert actions == {"dynamodb:Query", "dynamodb:BatchWriteItem"}
