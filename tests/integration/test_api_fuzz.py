"""Bad requests at every route of the template, through the real handlers over moto: the answer
is a 4xx (or a success) with a JSON body, never a 500.

Two kinds: garbage (random JSON or bytes, objects made of the fields the API knows, odd path
parameters, query strings with the parameters the routes read), and valid requests with one
thing wrong (a value replaced or removed, an unknown field added; inside campaign, segment and
survey YAML and GeoJSON too), so validation runs deep. Events that ingest accepts must then be
applied by the event processor without a failed record. And the queue consumers (event
processor, push_sender): a mangled record next to a valid one fails alone, never the batch.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudge import runtime
from nudge_local.template import Route, read_stack
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, deliver

pytestmark = pytest.mark.integration

ROUTES = read_stack().routes
FIELDS = [
    "events", "event_id", "name", "timestamp", "properties", "location", "lat", "lng",
    "token", "platform", "app_version", "locale", "timezone", "categories", "marketing",
    "prompt_id", "response_id", "answered_at", "score", "reason", "follow_up", "template",
    "id", "category", "text", "data", "dedupe_key", "where", "segment", "status", "yaml",
    "campaign", "variants", "fences", "type", "features", "schedule", "trigger",
]  # fmt: skip
QUERY = ["days", "since", "history_after", "lat", "lng", "platform", "limit", "locale",
         "period", "group_by", "min_responses", "themes", "include_user_id"]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["", "ios", "nl-NL", "2026-03-02T08:00:00Z", "marketing", "7d", "-1"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    values.map(json.dumps),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(json.dumps),
    st.binary(max_size=40),
)
segments = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=40
)
queries = st.dictionaries(st.sampled_from(QUERY), st.text(max_size=12), max_size=3)


def examples(count: int) -> Any:
    """Hypothesis settings for these tests: the examples share the test's moto fixture."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def request(route: Route, params: dict[str, str], body: Any, query: dict[str, str]) -> Any:
    path = route.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return api_event(
        route.method,
        path,
        body,
        user="fuzz-user",
        route=f"{route.method} {route.path}",
        params=params,
        query=urlencode(query),
    )


@examples(250)
@given(data=st.data())
def test_garbage_gets_a_client_error_never_a_500(aws: Aws, data: Any) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")  # ~6 tries at each of 45 routes
    params = {name: data.draw(segments, label=name) for name in route.pattern.groupindex}
    body = data.draw(bodies, label="body") if route.method in ("POST", "PUT") else None
    query = data.draw(queries, label="query")

    answer = aws.invoke(route.function, request(route, params, body, query))

    assert answer["statusCode"] < 500, answer
    if answer["statusCode"] >= 400 and route.function == "ConsoleFunction":
        assert "<h1>" in answer["body"], answer  # the console's pages: an HTML page saying why
    elif answer["statusCode"] >= 400:
        assert json.loads(answer["body"]), answer  # a JSON body that says what is wrong


# --- mutations of valid requests: one thing wrong, so validation runs deep --------------------

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = "2026-03-02T08:00:00+00:00"  # the moto fixture's clock (START)


def _text(*parts: str) -> str:
    return EVENTS.joinpath(*parts).read_text()


# Pinpoint's PutEvents (apps and backends): an endpoint with its FCM token, two events
PUT_EVENTS = {"BatchItem": {"ep-1": {
    "Endpoint": {"ChannelType": "GCM", "Address": "tok-87654321", "User": {"UserId": "fuzz-user"},
                 "Demographic": {"Platform": "android", "Locale": "nl_NL"}},
    "Events": {"pe-1": {"EventType": "_session.start", "Timestamp": NOW},
               "pe-2": {"EventType": "_monetization.purchase", "Timestamp": NOW,
                        "Attributes": {"_currency": "EUR"},
                        "Metrics": {"_item_price": 3.5, "_quantity": 2}}},
}}}  # fmt: skip


def valid_requests() -> dict[str, tuple[dict[str, str], Any]]:
    """route key -> (path parameters, a body the route accepts), YAML and GeoJSON as data."""
    onboarding = yaml.safe_load(_text("campaigns", "onboarding.yaml"))
    survey = yaml.safe_load(_text("surveys", "nps-after-trip.yaml"))
    segments = yaml.safe_load(_text("campaigns", "segments.yml"))
    template = yaml.safe_load(_text("templates", "engineering_works.yaml"))
    stations = json.loads(_text("geofences", "stations.geojson"))
    return {
        "POST /v1/events": ({}, {"events": [
            {"event_id": "e1", "name": "session_start", "timestamp": NOW,
             "properties": {"app_version": "4.2.0"},
             "location": {"lat": 52.37, "lng": 4.9, "accuracy_m": 20}},
            {"event_id": "e2", "name": "push_opt_out", "timestamp": NOW,
             "properties": {"kind": "category", "category": "marketing"}},
        ]}),
        "POST /v1/apps/{app_id}/events": ({"app_id": "pp-app"}, PUT_EVENTS),
        "POST /admin/v1/apps/{app_id}/events": ({"app_id": "pp-app"}, PUT_EVENTS),
        "PUT /v1/devices/{device_id}": ({"device_id": "main"}, {
            "token": "tok-12345678", "platform": "ios", "app_version": "4.2.0", "locale": "nl-NL",
            "timezone": "Europe/Amsterdam"}),
        "PUT /v1/me/preferences": ({}, {"categories": {"marketing": True, "location": True}}),
        "POST /v1/surveys/{survey_id}/responses": ({"survey_id": "nps-after-trip"}, {
            "prompt_id": "p1", "response_id": "r1", "answered_at": NOW, "score": 9,
            "reason": "Quick tickets", "platform": "ios", "country": "NL"}),
        "POST /v1/surveys/{survey_id}/dismissals": ({"survey_id": "nps-after-trip"},
                                                   {"prompt_id": "p1"}),
        "POST /admin/v1/users/{user_id}/messages": ({"user_id": "ann"}, {
            "template_id": "engineering_works", "data": {"from": "A", "to": "B"},
            "dedupe_key": "k1", "ttl_seconds": 3600}),
        "POST /admin/v1/broadcasts": ({}, {
            "template_id": "engineering_works", "data": {"from": "A", "to": "B"},
            "target": {"attributes": {"locale": ["nl-NL"]}}, "dedupe_key": "b1",
            "rate_per_minute": 600}),
        "PUT /admin/v1/templates/{template_id}": ({"template_id": "engineering_works"}, template),
        "PUT /admin/v1/campaigns/{campaign_id}": ({"campaign_id": "onboarding"},
                                                 {"yaml": onboarding}),
        "POST /admin/v1/campaigns/preview": ({}, {"yaml": onboarding, "user_id": "fuzz-user"}),
        "POST /admin/v1/campaigns/estimate": ({}, {"yaml": onboarding}),
        "POST /admin/v1/campaigns/{campaign_id}/status": ({"campaign_id": "onboarding"},
                                                         {"status": "paused"}),
        "PUT /admin/v1/segments/{name}": ({"name": "segments"}, {"yaml": segments}),
        "PUT /admin/v1/surveys/{survey_id}": ({"survey_id": "nps-after-trip"}, {"yaml": survey}),
        "POST /admin/v1/surveys/{survey_id}/status": ({"survey_id": "nps-after-trip"},
                                                     {"status": "paused"}),
        "PUT /admin/v1/geofences/{set_id}": ({"set_id": "stations"},
                                            {"format": "geojson", "content": stations}),
    }  # fmt: skip


VALID = valid_requests()


def encode(body: Any) -> str:
    """YAML and GeoJSON travel as text inside the JSON body, as the CLI sends them."""
    if isinstance(body, dict) and isinstance(body.get("yaml"), (dict, list)):
        body = {**body, "yaml": yaml.safe_dump(body["yaml"], allow_unicode=True)}
    if isinstance(body, dict) and isinstance(body.get("content"), (dict, list)):
        body = {**body, "content": json.dumps(body["content"])}
    return json.dumps(body)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutated(body: Any, data: Any) -> Any:
    """The body with one value replaced, removed, or one unknown field added somewhere."""
    body = copy.deepcopy(body)
    where = data.draw(st.sampled_from(paths(body)[1:] or [()]), label="where")
    action = data.draw(st.sampled_from(["replace", "remove", "add"]), label="action")
    if not where:
        return data.draw(values, label="body")
    parent = body
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if action == "remove":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][data.draw(st.sampled_from(FIELDS), label="field")] = data.draw(values)
    else:
        parent[last] = data.draw(values, label="value")
    return body


# what the other requests refer to, published first (the caller gets a profile from its events)
PREREQUISITES = [
    "PUT /admin/v1/templates/{template_id}",
    "PUT /admin/v1/segments/{name}",
    "PUT /admin/v1/campaigns/{campaign_id}",
    "POST /v1/events",
]


def send(aws: Aws, route_key: str, body: Any) -> Any:
    route = next(r for r in ROUTES if f"{r.method} {r.path}" == route_key)
    params, _ = VALID[route_key]
    return aws.invoke(route.function, request(route, params, encode(body), {}))


def prepare(aws: Aws) -> None:
    for route_key in PREREQUISITES:
        assert send(aws, route_key, VALID[route_key][1])["statusCode"] < 300, route_key
    deliver(aws)


def test_each_valid_request_is_accepted_as_the_mutations_start_from_it(aws: Aws) -> None:
    prepare(aws)
    for route_key, (_, body) in VALID.items():
        answer = send(aws, route_key, body)
        # the survey routes need a pending prompt: a known survey, an unknown prompt is a 404
        expected = 404 if "/v1/surveys/" in route_key else None
        assert answer["statusCode"] == expected or answer["statusCode"] < 300, answer


@examples(300)
@given(data=st.data())
def test_a_valid_request_with_one_thing_wrong_gets_a_client_error_never_a_500(
    aws: Aws, data: Any
) -> None:
    if not getattr(aws, "prepared", False):  # once per test: the examples share its moto
        prepare(aws)
        aws.prepared = True  # type: ignore[attr-defined]
    route_key = data.draw(st.sampled_from(sorted(VALID)), label="route")  # ~19 tries each

    answer = send(aws, route_key, mutated(VALID[route_key][1], data))

    assert answer["statusCode"] < 500, answer
    if answer["statusCode"] >= 400:
        assert json.loads(answer["body"]), answer
    accepted = answer["statusCode"] == 202 and json.loads(answer["body"]).get("accepted")
    if route_key == "POST /v1/events" and accepted:  # what ingest took, the processor applies
        assert deliver(aws)["batchItemFailures"] == []


# --- queue consumers: one bad record never takes the valid rest of its batch down --------------


def sample_record(function_dir: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(_text(function_dir, "sqs_batch.json"))["Records"][0]
    return record


CONSUMERS = {"EventProcessorFunction": "event_processor", "PushSenderFunction": "push_sender"}


@examples(120)
@given(data=st.data())
def test_a_mangled_record_fails_alone_and_the_rest_of_its_batch_is_processed(
    aws: Aws, data: Any
) -> None:
    function = data.draw(st.sampled_from(sorted(CONSUMERS)), label="function")
    template = sample_record(CONSUMERS[function])
    body = json.loads(template["body"])
    good = copy.deepcopy(body)
    good["user_id"] = good_user = f"good-{uuid.uuid4().hex[:8]}"
    if function == "PushSenderFunction":
        good["job_id"], good["dedupe_key"] = good_user, good_user
    bad_body = data.draw(
        st.one_of(
            st.builds(json.dumps, st.builds(mutated, st.just(body), st.just(data))),
            st.text(max_size=30),
        ),
        label="bad body",
    )
    records = [
        {**template, "messageId": "bad", "body": bad_body},
        {**template, "messageId": "good", "body": json.dumps(good)},
    ]

    result = aws.invoke(function, {"Records": records})

    assert "good" not in {f["itemIdentifier"] for f in result["batchItemFailures"]}
    if function == "EventProcessorFunction":
        assert runtime.profile_store().get(good_user) is not None  # its events were applied
