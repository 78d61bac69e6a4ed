"""Read template.yaml (with CloudFormation's short-form tags) into what the local stack needs.

The template is the truth: tables, indexes, queues, routes, event sources, schedules and
environment variables all come from it, never from a second copy here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Route:
    method: str
    path: str
    auth: str  # "jwt", "iam" or "none"
    function: str

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass
class SqsSource:
    function: str
    queue: str  # logical id
    batch_size: int
    batching_window_s: int
    report_failures: bool
    # The function sets its failed records' visibility itself (it may call
    # sqs:ChangeMessageVisibility on the queue): the event source must not override it.
    hides_itself: bool = False


def _may_change_visibility(function: dict[str, Any], queue: str) -> bool:
    for policy in function.get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resource = statement.get("Resource")
            if "sqs:ChangeMessageVisibility" in actions and resource == {
                "Fn::GetAtt": [queue, "Arn"]
            }:
                return True
    return False


@dataclass
class S3Source:
    """An S3 notification (SAM `Type: S3`): object events under a prefix/suffix of a bucket."""

    function: str
    bucket: str  # logical id
    events: list[str]  # e.g. ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    prefix: str = ""
    suffix: str = ""

    def matches(self, key: str, event_name: str) -> bool:
        """Does an event (`s3:ObjectCreated:Put`) on `key` reach this function?"""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        return any(
            event_name == pattern or (pattern.endswith("*") and event_name.startswith(pattern[:-1]))
            for pattern in self.events
        )


@dataclass
class Schedule:
    function: str
    expression: str

    @property
    def every_seconds(self) -> int:
        match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.expression)
        if not match:
            raise ValueError(f"local stack supports rate() schedules, not {self.expression!r}")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
        return int(match.group(1)) * unit


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]


@dataclass
class StackSpec:
    template: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    s3_sources: list[S3Source] = field(default_factory=list)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource.get("Properties", {})
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == kind
        }

    @property
    def jwt_config(self) -> dict[str, Any]:
        api = next(iter(self.resources("AWS::Serverless::HttpApi").values()))
        auth = api["Auth"]
        return auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]


def read_stack(path: Path = TEMPLATE_PATH) -> StackSpec:
    template = load_template(path)
    spec = StackSpec(template=template)
    globals_fn = template.get("Globals", {}).get("Function", {})
    api_default_auth = "jwt"
    for name, props in spec.resources("AWS::Serverless::Function").items():
        env = dict(globals_fn.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        spec.functions[name] = FunctionSpec(
            logical_id=name,
            code_dir=PROJECT_ROOT / props["CodeUri"],
            handler=props.get("Handler", globals_fn.get("Handler", "app.lambda_handler")),
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
            memory=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            environment=env,
        )
        for event in props.get("Events", {}).values():
            eprops = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                authorizer = eprops.get("Auth", {}).get("Authorizer")
                auth = {"NONE": "none", "AWS_IAM": "iam", None: api_default_auth}.get(
                    authorizer, "jwt"
                )
                spec.routes.append(Route(eprops["Method"].upper(), eprops["Path"], auth, name))
            elif event["Type"] == "SQS":
                queue = eprops["Queue"]["Fn::GetAtt"][0]
                spec.sqs_sources.append(
                    SqsSource(
                        function=name,
                        queue=queue,
                        batch_size=int(eprops.get("BatchSize", 10)),
                        batching_window_s=int(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                        report_failures="ReportBatchItemFailures"
                        in eprops.get("FunctionResponseTypes", []),
                        hides_itself=_may_change_visibility(props, queue),
                    )
                )
            elif event["Type"] == "S3":
                rules = eprops.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                filters = {rule["Name"].lower(): rule["Value"] for rule in rules}
                events = eprops["Events"]
                spec.s3_sources.append(
                    S3Source(
                        function=name,
                        bucket=eprops["Bucket"]["Ref"],
                        events=[events] if isinstance(events, str) else list(events),
                        prefix=filters.get("prefix", ""),
                        suffix=filters.get("suffix", ""),
                    )
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                spec.schedules.append(Schedule(name, expression))
    return spec
