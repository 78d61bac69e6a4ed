"""NPS over moto with the tables and queues of template.yaml, through the real handlers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from nudge import runtime
from nudge.clock import to_epoch
from nudge.domain.nps.score import aggregate
from nudge.models.nps_store import DetractorJob
from nudge.models.profile import Profile, Stage
from nudge.models.survey import SurveyConfig
from nudge.models.survey_responses import ResponsePart
from nudge_local.webhook import WebhookReceiver
from tests.conftest import START, make_event
from tests.integration.conftest import Aws, sqs_event
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration


def survey_yaml(survey_id: str = "nps-after-trip", webhook: str = "https://t.example.com/h") -> str:
    return f"""\
id: {survey_id}
name: After a trip
status: active
trigger: {{ event: trip_completed }}
sample_pct: 100
questions:
  score: How likely are you to recommend us?
  reason: {{ promoter: "Love?", passive: "A 10?", detractor: "What went wrong?" }}
localization:
  nl: {{ score: "Hoe waarschijnlijk?" }}
on_detractor: {{ webhook: "{webhook}" }}
"""


def publish(aws: Aws, text: str) -> SurveyConfig:
    result = runtime.survey_configs().publish(text, "surveys/test.yaml")
    return runtime.survey_configs().surveys(fresh=True)[result.head.config_id]


def prompt_for(aws: Aws, user: str = "ann") -> str:
    now = to_epoch(aws.clock.now())
    created = runtime.survey_service().on_events(
        Profile(user_id=user, first_seen=now - 86_400, stage=Stage.LOYAL),
        [make_event("trip_completed", at=aws.clock.now())],
        now,
    )
    assert len(created) == 1
    return created[0].prompt_id


def call(
    aws: Aws,
    method: str,
    path: str,
    body: Any = None,
    user: str = "ann",
    query: str = "",
    route: str | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    function = "AdminApiFunction" if path.startswith("/admin/") else "SurveysApiFunction"
    event = api_event(
        method, path, json.dumps(body) if body is not None else None, user, route, params, query
    )
    return aws.invoke(function, event)


def respond(aws: Aws, prompt_id: str, user: str = "ann", **fields: Any) -> Any:
    body = {"prompt_id": prompt_id, "answered_at": aws.clock.now().isoformat(), **fields}
    return call(
        aws,
        "POST",
        "/v1/surveys/nps-after-trip/responses",
        body,
        user,
        route="POST /v1/surveys/{survey_id}/responses",
        params={"survey_id": "nps-after-trip"},
    )


def test_prompt_creation_is_idempotent_in_dynamodb(aws: Aws) -> None:
    publish(aws, survey_yaml())
    trip = make_event("trip_completed", at=aws.clock.now())
    profile = Profile(user_id="ann", first_seen=to_epoch(aws.clock.now()) - 86_400)
    service = runtime.survey_service()
    now = to_epoch(aws.clock.now())
    (created,) = service.on_events(profile, [trip], now)
    assert service.on_events(profile, [trip], now) == []
    stored = runtime.survey_store().user_surveys("ann")
    assert stored.last_prompt_at == now
    state = stored.states["nps-after-trip"]
    assert state.version == 1 and state.state.pending == created
    # a concurrent writer who read before us loses the condition and decides again
    assert not runtime.survey_store().create_prompt(state.state, 0, None, now)


def test_counters_equal_a_recount_under_shuffles_and_duplicates(aws: Aws) -> None:
    config = publish(aws, survey_yaml())
    service = runtime.survey_service()
    rng = random.Random(7)
    parts: list[ResponsePart] = []
    for u in range(8):
        base = to_epoch(START) + u * 40_000  # answers spread over several days
        for k in range(rng.randint(1, 4)):
            fields: dict[str, Any] = {}
            roll = rng.random()
            if roll < 0.6:
                fields["score"] = rng.randint(0, 10)
            if roll > 0.4:
                fields["reason"] = rng.choice(["late trains", "great app", "crashes"])
            parts.append(
                ResponsePart(
                    user_id=f"u{u}",
                    survey_id=config.id,
                    response_id=f"r{u}-{k}",
                    prompt_id=f"p{u}",
                    at=base + rng.randint(-90_000, 90_000),
                    platform=rng.choice(["ios", "android"]),
                    stage=rng.choice([Stage.ACTIVE, Stage.LOYAL, None]),
                    country=rng.choice(["NL", "BE"]),
                    **fields,
                )
            )
    stream = parts + rng.sample(parts, len(parts) // 2)  # duplicates
    rng.shuffle(stream)
    for part in stream:
        service.apply_part(part, config)
    store = runtime.survey_store()
    finals = [
        r.state
        for u in range(8)
        if (r := store.get_response(f"u{u}", config.id, f"p{u}")) is not None
    ]
    counted = store.day_counts(config.id, "2026-01-01", "2026-12-31")
    assert counted.nonzero() == aggregate(finals, ("day",)).nonzero()
    assert sum(c for counts in counted.nonzero().values() for c in counts) > 0


def test_api_parts_merge_detractor_enqueued_once_and_errors_are_4xx(aws: Aws) -> None:
    publish(aws, survey_yaml())
    prompt_id = prompt_for(aws)
    nxt = call(aws, "GET", "/v1/me/surveys/next", query="locale=nl-NL")
    assert nxt["statusCode"] == 200
    shown = json.loads(nxt["body"])
    assert shown["prompt_id"] == prompt_id and shown["questions"]["score"] == "Hoe waarschijnlijk?"
    assert call(aws, "GET", "/v1/me/surveys/next", user="bob")["statusCode"] == 204

    bad = respond(aws, prompt_id, response_id="r0", score=11)
    assert bad["statusCode"] == 400 and "score" in json.loads(bad["body"])["message"]
    bad = respond(aws, prompt_id, response_id="r0", score="7")
    assert bad["statusCode"] == 400 and "score" in json.loads(bad["body"])["message"]
    first = respond(aws, prompt_id, response_id="r1", score=2)
    assert first["statusCode"] == 200, first
    assert json.loads(first["body"])["category"] == "detractor"
    retry = respond(aws, prompt_id, response_id="r1", score=2)
    assert json.loads(retry["body"])["duplicate"] is True
    comment = respond(aws, prompt_id, response_id="r2", reason="Delays")
    assert comment["statusCode"] == 200
    conflict = respond(aws, prompt_id, response_id="r3", score=9)
    assert conflict["statusCode"] == 409
    assert respond(aws, prompt_id, user="mallory", response_id="x", score=1)["statusCode"] == 404
    unknown = call(
        aws,
        "POST",
        "/v1/surveys/nope/responses",
        {"prompt_id": prompt_id, "response_id": "r", "answered_at": START.isoformat(), "score": 1},
        route="POST /v1/surveys/{survey_id}/responses",
        params={"survey_id": "nope"},
    )
    assert unknown["statusCode"] == 404

    jobs = aws.receive_all("DetractorsQueue")
    assert len(jobs) == 1
    job = DetractorJob.model_validate_json(jobs[0]["Body"])
    assert job.prompt_id == prompt_id and job.webhook == "https://t.example.com/h"
    assert call(aws, "GET", "/v1/me/surveys/next")["statusCode"] == 204

    report = call(
        aws,
        "GET",
        "/admin/v1/reports/nps/nps-after-trip",
        query="period=daily&by=lifecycle&since=7d",
        route="GET /admin/v1/reports/nps/{survey_id}",
        params={"survey_id": "nps-after-trip"},
    )
    assert report["statusCode"] == 200, report
    data = json.loads(report["body"])
    assert data["overall"]["n"] == 1 and data["overall"]["nps"] == -100
    assert [row["value"] for row in data["breakdown"]] == ["unknown"]  # ann has no profile
    assert data["themes"]["comments"] == 1
    # one comment lands in "other", which is never ranked as a cause
    assert data["themes"]["priorities"] == {"fix_first": [], "praised": []}
    csv_response = call(
        aws,
        "GET",
        "/admin/v1/surveys/nps-after-trip/responses.csv",
        route="GET /admin/v1/surveys/{survey_id}/responses.csv",
        params={"survey_id": "nps-after-trip"},
    )
    assert csv_response["statusCode"] == 200
    assert "Delays" in csv_response["body"] and csv_response["body"].count("\r\n") == 2
    missing = call(
        aws,
        "GET",
        "/admin/v1/reports/nps/nope",
        route="GET /admin/v1/reports/nps/{survey_id}",
        params={"survey_id": "nope"},
    )
    assert missing["statusCode"] == 404


def test_a_csat_survey_through_the_handlers(aws: Aws) -> None:
    """CSAT beside NPS: the app is told the scale, an off-scale score is a 400 naming the
    field, a low score is routed like a detractor, and the report scores % satisfied."""
    text = survey_yaml("csat-planning").replace(
        "name: After a trip\n", "name: Planning\nkind: csat\n"
    )
    publish(aws, text.replace("How likely are you to recommend us?", "How satisfied are you?"))
    prompt_id = prompt_for(aws)
    shown = json.loads(call(aws, "GET", "/v1/me/surveys/next")["body"])
    assert shown["kind"] == "csat" and shown["scale"] == {"min": 1, "max": 5}

    def answer(response_id: str, score: int) -> Any:
        body = {"prompt_id": prompt_id, "answered_at": aws.clock.now().isoformat()}
        return call(
            aws,
            "POST",
            "/v1/surveys/csat-planning/responses",
            {**body, "response_id": response_id, "score": score},
            route="POST /v1/surveys/{survey_id}/responses",
            params={"survey_id": "csat-planning"},
        )

    off = answer("r0", 9)
    assert off["statusCode"] == 400
    assert json.loads(off["body"])["message"] == "score: 9 is not on the csat scale (1-5)"
    low = answer("r1", 2)
    assert low["statusCode"] == 200 and json.loads(low["body"])["category"] == "detractor"
    assert len(aws.receive_all("DetractorsQueue")) == 1
    report = call(
        aws,
        "GET",
        "/admin/v1/reports/nps/csat-planning",
        query="period=daily&since=7d&min_responses=1",
        route="GET /admin/v1/reports/nps/{survey_id}",
        params={"survey_id": "csat-planning"},
    )
    data = json.loads(report["body"])
    assert data["kind"] == "csat" and data["overall"]["score"] == 0.0
    assert data["overall"]["label"].startswith("CSAT 0% satisfied (n=1")


def test_dismissal_through_the_handler(aws: Aws) -> None:
    publish(aws, survey_yaml())
    prompt_id = prompt_for(aws)
    for _ in range(2):
        done = call(
            aws,
            "POST",
            "/v1/surveys/nps-after-trip/dismissals",
            {"prompt_id": prompt_id},
            route="POST /v1/surveys/{survey_id}/dismissals",
            params={"survey_id": "nps-after-trip"},
        )
        assert done["statusCode"] == 200
    assert call(aws, "GET", "/v1/me/surveys/next")["statusCode"] == 204


# --- erasure ---------------------------------------------------------------------------------


class CallLog:
    """The DynamoDB client, recording which operations are called through it."""

    def __init__(self, ddb: Any) -> None:
        self.ddb = ddb
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.ddb, name)


def user_items(aws: Aws, user: str) -> list[dict[str, Any]]:
    return aws.ddb.query(  # type: ignore[no-any-return]
        TableName=runtime.survey_store().table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}},
        ConsistentRead=True,
    )["Items"]


def every_item(aws: Aws) -> list[dict[str, Any]]:
    """The whole table (a Scan, here in the test only, to prove nothing was missed)."""
    return aws.ddb.scan(TableName=runtime.survey_store().table)["Items"]  # type: ignore[no-any-return]


def indexed_users(aws: Aws) -> set[str]:
    items = aws.ddb.query(
        TableName=runtime.survey_store().table,
        IndexName="responses-index",
        KeyConditionExpression="survey_id = :s",
        ExpressionAttributeValues={":s": {"S": "nps-after-trip"}},
    )["Items"]
    return {json.loads(item["body"]["S"])["user_id"] for item in items}


def erase_request(function: str, user: str) -> dict[str, Any]:
    if function == "DevicesApiFunction":
        return api_event("DELETE", "/v1/me", user=user)
    return api_event(
        "DELETE",
        f"/admin/v1/users/{user}",
        route="DELETE /admin/v1/users/{user_id}",
        params={"user_id": user},
    )


@pytest.mark.parametrize("function", ["DevicesApiFunction", "AdminApiFunction"])
def test_the_export_lists_the_users_survey_states_and_answers_oldest_first(
    aws: Aws, function: str
) -> None:
    from datetime import timedelta

    publish(aws, survey_yaml())
    first = prompt_for(aws, "ann")
    assert respond(aws, first, "ann", response_id="a1", score=4, reason="Late")["statusCode"] == 200
    bob = prompt_for(aws, "bob")
    assert respond(aws, bob, "bob", response_id="b1", score=10)["statusCode"] == 200
    aws.clock.advance(timedelta(days=91))
    second = prompt_for(aws, "ann")
    assert respond(aws, second, "ann", response_id="a2", score=9)["statusCode"] == 200
    if function == "DevicesApiFunction":
        request = api_event("GET", "/v1/me", user="ann")
    else:
        request = api_event(
            "GET", "/admin/v1/users/ann", route="GET /admin/v1/users/{user_id}",
            params={"user_id": "ann"},
        )  # fmt: skip

    answer = aws.invoke(function, request)

    assert answer["statusCode"] == 200
    surveys = json.loads(answer["body"])["surveys"]
    assert [(s["survey_id"], s["prompts"]) for s in surveys["states"]] == [("nps-after-trip", 2)]
    responses = [(r["prompt_id"], r["score"], r["reason"]) for r in surveys["responses"]]
    assert responses == [(first, 4, "Late"), (second, 9, None)]


@pytest.mark.parametrize("function", ["DevicesApiFunction", "AdminApiFunction"])
def test_erasure_removes_every_survey_item_of_the_user_and_only_theirs(
    aws: Aws, function: str
) -> None:
    from datetime import timedelta

    gone, kept = "erase-me-7", "keep-me-8"
    config = publish(aws, survey_yaml())
    first = prompt_for(aws, gone)
    assert respond(aws, first, gone, response_id="g1", score=3, reason="Late")["statusCode"] == 200
    other = prompt_for(aws, kept)
    assert respond(aws, other, kept, response_id="k1", score=10)["statusCode"] == 200
    aws.clock.advance(timedelta(days=91))  # past the recontact wait: a second, pending prompt
    second = prompt_for(aws, gone)
    service, start = runtime.survey_service(), to_epoch(START)
    for n in range(30):  # older answers: more than one BatchWriteItem of 25
        part = ResponsePart(
            user_id=gone,
            survey_id=config.id,
            response_id=f"old-{n}",
            prompt_id=f"p-old-{n}",
            at=start - n * 86_400,
            score=n % 11,
        )
        service.apply_part(part, config)
    assert len(user_items(aws, gone)) == 2 + 1 + 30  # state, last-prompt record, responses
    assert indexed_users(aws) == {gone, kept}
    kept_items = user_items(aws, kept)
    counters = runtime.survey_store().day_counts(config.id, "2025-01-01", "2026-12-31")
    aggregates = [i for i in every_item(aws) if i["pk"]["S"].startswith("NPSAGG#")]
    assert aggregates and counters.nonzero()

    store = runtime.survey_store()
    paged = list(store._user_items(gone, Limit=4))  # 9 pages: the same items, in order
    assert [i["sk"] for i in paged] == [i["sk"] for i in store._user_items(gone)]
    assert len(paged) == 33
    spy = CallLog(store.ddb)
    store._ddb = spy
    erased = json.loads(aws.invoke(function, erase_request(function, gone))["body"])

    assert erased["survey_records_erased"] == 33
    assert "scan" not in spy.calls and {"query", "batch_write_item"} <= set(spy.calls)
    assert user_items(aws, gone) == []
    assert not [i for i in every_item(aws) if gone in json.dumps(i)]  # nowhere, not even a GSI
    assert indexed_users(aws) == {kept}
    # the other user's items are untouched, and the anonymous counters stay as they were
    assert user_items(aws, kept) == kept_items
    assert [i for i in every_item(aws) if i["pk"]["S"].startswith("NPSAGG#")] == aggregates
    assert store.day_counts(config.id, "2025-01-01", "2026-12-31") == counters
    # the erased user's pending prompt is gone: nothing to show, a late answer is refused
    assert call(aws, "GET", "/v1/me/surveys/next", user=gone)["statusCode"] == 204
    late = respond(aws, second, gone, response_id="g2", score=9)
    assert late["statusCode"] == 404 and user_items(aws, gone) == []
    again = json.loads(aws.invoke(function, erase_request(function, gone))["body"])
    assert again["survey_records_erased"] == 0


# --- the router against a real HTTP receiver on loopback --------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(fail_first=1) as server:
        yield server


def detractor_batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The detractor router's batch, each record on its first delivery."""
    return sqs_event("DetractorsQueue", messages, ApproximateReceiveCount="1")


def test_router_fails_the_record_on_a_failing_webhook_then_delivers(
    aws: Aws, receiver: WebhookReceiver
) -> None:
    publish(aws, survey_yaml(webhook=receiver.url))
    prompt_id = prompt_for(aws)
    respond(aws, prompt_id, response_id="r1", score=4, platform="android", app_version="5.2.0")
    respond(aws, prompt_id, response_id="r2", follow_up="Fewer ads")
    (message,) = aws.receive_all("DetractorsQueue")
    failed = aws.invoke("DetractorRouterFunction", detractor_batch([message]))
    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    delivered = aws.invoke("DetractorRouterFunction", detractor_batch([message]))
    assert delivered == {"batchItemFailures": []}
    assert len(receiver.received) == 2
    _, headers, payload = receiver.received[-1]
    assert headers["X-Nudge-Idempotency-Key"] == prompt_id == payload["idempotency_key"]
    assert (payload["score"], payload["follow_up"], payload["platform"]) == (
        4,
        "Fewer ads",
        "android",
    )
    assert payload["lifecycle_stage"] is None  # no profile stored for ann in this test
