"""Issue 20: erasure is complete by construction. One user touches every capability through
the real handlers (over moto, the template's tables and IAM roles), is erased through the
admin or the mobile API, and then no table of template.yaml holds their id anywhere (keys,
attributes, nested JSON), apart from the profile tombstone; the export before it covered the
delivery log and the broadcasts that listed them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from nudge import runtime
from nudge.domain.ratelimit import WINDOW_SECONDS
from nudge_local.fcm_emulator import FcmEmulator
from nudge_local.template import read_stack
from tests.integration.conftest import EVENTS_DIR, Aws, sqs_event
from tests.integration.test_configs import upload
from tests.integration.test_handlers import api_event, deliver
from tests.integration.test_push_once import sender  # noqa: F401  (a fixture)
from tests.integration.test_surveys import erase_request, publish, survey_yaml

pytestmark = pytest.mark.integration

USER = "erasure-subject-7f3c"  # distinctive: a substring match is a real leftover
OTHERS = ["bystander-1", "bystander-2"]
CENTRAAL = (52.3791, 4.9003)

# Every table of the template and how a user's data in it is erased. A table added to the
# template without an entry here fails the first test: decide how it is erased first.
ERASURE_BY_TABLE = {
    "ProfilesTable": "the profile becomes a tombstone (id and erase time only); the stage, "
    "move and campaign counters are anonymous shards; the rate limit's request counters "
    "(one per user and scope, keyed by the user) are deleted for every scope",
    "HistoryTable": "the user's partition: a keys-only Query, batch deletes",
    "DevicesTable": "the user's partition (devices and preferences)",
    "DeliveryLogTable": "the user's partition: outcomes, claims and once-markers",
    "TemplatesTable": "no user data (message templates)",
    "BroadcastsTable": "a user list is dropped when the fan-out ends; erasure removes the "
    "user from the lists of broadcasts still running",
    "ConfigsTable": "no user data (campaigns, segments, surveys, fence sets)",
    "SurveysTable": "the USER#<id> partition; the NPSAGG day counters are anonymous",
}

CAMPAIGN = """\
id: thanks-for-buying
name: Thanks for buying
category: transactional
status: active
priority: 10
trigger:
  event: { name: purchase }
variants:
  - id: only
    weight: 1
    title: "Thanks!"
    body: "Your ticket is in the app."
delivery: { cooldown: 1d, max_per_user: 5, ttl: 12h, respect_quiet_hours: false }
"""


def template_tables() -> set[str]:
    return set(read_stack().resources("AWS::DynamoDB::Table"))


def test_every_template_table_has_an_erasure_path() -> None:
    assert template_tables() == set(ERASURE_BY_TABLE)


def drain(aws: Aws, queue: str, function: str) -> int:
    """Hand the queue's messages to its function until it is empty; how many were handled."""
    handled = 0
    for _ in range(20):
        messages = aws.receive_all(queue)
        if not messages:
            return handled
        result = aws.invoke(function, sqs_event(queue, messages))
        assert result == {"batchItemFailures": []}, result
        handled += len(messages)
    raise AssertionError(f"{queue} never emptied")


def call(aws: Aws, method: str, path: str, body: Any = None, user: str = USER, **kw: Any) -> Any:
    function = (
        "AdminApiFunction"
        if path.startswith("/admin/")
        else "SurveysApiFunction"
        if "/surveys" in path
        else "EventsApiFunction"
        if path == "/v1/events"
        else "DevicesApiFunction"
    )
    raw = json.dumps(body) if body is not None else None
    response = aws.invoke(function, api_event(method, path, raw, user, **kw))
    assert response["statusCode"] < 300, response
    return json.loads(response["body"]) if response.get("body") else None


def post_events(aws: Aws, user: str, *events: dict[str, Any]) -> None:
    now = aws.clock.now().isoformat()
    numbered = [
        {"event_id": f"{user}-{i}-{e['name']}", "timestamp": now, "properties": {}, **e}
        for i, e in enumerate(events)
    ]
    accepted = call(aws, "POST", "/v1/events", {"events": numbered}, user)
    assert accepted["rejected"] == [], accepted
    assert deliver(aws) == {"batchItemFailures": []}


def broadcast(aws: Aws, key: str, users: list[str]) -> str:
    body = {
        "template": {
            "id": f"works-{key}",
            "category": "transactional",
            "text": {"en": {"title": "Works tonight", "body": "Expect delays"}},
        },
        "target": {"user_ids": users},
        "dedupe_key": key,
    }
    return str(call(aws, "POST", "/admin/v1/broadcasts", body)["broadcast_id"])


def touch_everything(aws: Aws) -> dict[str, str]:
    """Everything a user can leave behind: events (a purchase and a location), a device,
    preferences and consents, a campaign push, a finished broadcast, a transactional
    message and its open, a geofence enter, an NPS answer and its follow-up; and a second
    broadcast still running (not one step of it taken) that lists them."""
    assert (
        upload(aws, "campaigns/thanks-for-buying.yaml", CAMPAIGN)["results"][0]["result"]
        == "loaded"
    )
    stations = (EVENTS_DIR / "geofences" / "stations.geojson").read_text()
    assert upload(aws, "geofences/stations.geojson", stations)["results"][0]["result"] == "loaded"
    publish(aws, survey_yaml())
    for user in (USER, *OTHERS):
        device = {"token": f"tok-{user}-0123456789", "platform": "android", "locale": "en-GB"}
        params = {"device_id": "phone"}
        call(aws, "PUT", "/v1/devices/phone", device, user, route="PUT /v1/devices/{device_id}",
             params=params)  # fmt: skip
    prefs = {"categories": {"marketing": True, "location": True}}
    call(aws, "PUT", "/v1/me/preferences", prefs)
    post_events(
        aws,
        USER,
        {"name": "session_start"},
        {"name": "purchase", "properties": {"amount": 12.5}},
        {"name": "location_update", "location": dict(zip(("lat", "lng"), CENTRAAL, strict=True))
         | {"accuracy_m": 10}},
        {"name": "trip_completed"},
    )  # fmt: skip
    profile = runtime.profile_store().get(USER)
    assert profile is not None and profile.purchases.total == 12.5

    sent = call(
        aws,
        "POST",
        f"/admin/v1/users/{USER}/messages",
        {
            "template": {
                "id": "receipt",
                "category": "transactional",
                "text": {"en": {"title": "Receipt", "body": "Ticket 42"}},
            },
            "dedupe_key": "receipt-42",
        },
        route="POST /admin/v1/users/{user_id}/messages",
        params={"user_id": USER},
    )
    done = broadcast(aws, "works-done", [USER, *OTHERS])
    drain(aws, "BroadcastsQueue", "BroadcasterFunction")
    assert drain(aws, "PushesQueue", "PushSenderFunction") >= 5  # campaign, message, broadcast
    post_events(aws, USER, {"name": "push_opened", "properties": {"message_id": sent["job_id"]}})
    running = broadcast(aws, "works-running", [OTHERS[0], USER, OTHERS[1]])

    prompt = call(aws, "GET", "/v1/me/surveys/next")
    answer = {"prompt_id": prompt["prompt_id"], "answered_at": aws.clock.now().isoformat()}
    route: dict[str, Any] = {"route": "POST /v1/surveys/{survey_id}/responses",
                             "params": {"survey_id": "nps-after-trip"}}  # fmt: skip
    path = "/v1/surveys/nps-after-trip/responses"
    call(aws, "POST", path, {**answer, "response_id": "r1", "score": 3}, **route)
    call(aws, "POST", path, {**answer, "response_id": "r2", "reason": "Late again"}, **route)
    return {"message_job": sent["job_id"], "done": done, "running": running}


def every_item(aws: Aws, table: str) -> Iterator[dict[str, Any]]:
    for page in aws.ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def mentions(value: Any, needle: str) -> bool:
    """Anywhere in a DynamoDB attribute value or name, nested JSON strings included."""
    if isinstance(value, dict):
        return any(needle in str(k) or mentions(v, needle) for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return any(mentions(v, needle) for v in value)
    if isinstance(value, bytes):
        return needle.encode() in value
    return needle in str(value)


def leftovers(aws: Aws) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for table in sorted(template_tables()):
        items = [item for item in every_item(aws, table) if mentions(item, USER)]
        if items:
            found[table] = items
    return found


def is_tombstone(item: dict[str, Any]) -> bool:
    """The profile an erasure leaves (so queued events can't revive it; it expires by TTL):
    the id, a version and the erase time, nothing else."""
    from nudge.adapters.dynamo_codec import item_to_profile
    from nudge.models.profile import Profile

    profile = item_to_profile(item)
    bare = Profile(user_id=USER, version=profile.version, erased_at=profile.erased_at)
    return profile.erased_at is not None and profile == bare and "due_bucket" not in item


def request_counters(items: Iterable[dict[str, Any]]) -> set[str]:
    """The keys of the rate limit's request counters (`#rate#<scope>#<user>`)."""
    return {key for i in items if (key := i["user_id"]["S"]).startswith("#rate#")}


def export_request(function: str) -> dict[str, Any]:
    if function == "DevicesApiFunction":
        return api_event("GET", "/v1/me", user=USER)
    return api_event(
        "GET",
        f"/admin/v1/users/{USER}",
        route="GET /admin/v1/users/{user_id}",
        params={"user_id": USER},
    )


@pytest.mark.parametrize("function", ["DevicesApiFunction", "AdminApiFunction"])
def test_a_user_who_touched_everything_is_erased_from_every_table(
    sender: Aws,  # noqa: F811
    emulator: FcmEmulator,
    function: str,
) -> None:
    aws = sender
    touched = touch_everything(aws)
    before = leftovers(aws)
    assert set(before) >= {
        "ProfilesTable",
        "HistoryTable",
        "DevicesTable",
        "DeliveryLogTable",
        "BroadcastsTable",
        "SurveysTable",
    }, sorted(before)
    # the campaign's decision record (issue 21): in the user's history partition, erased with it
    assert any(item["sk"]["S"].startswith("d#") for item in before["HistoryTable"])
    # one more write minutes later: the counters of the other scopes are of a window long
    # past (their TTL is over; in AWS the sweep may take days), yet one item per scope
    now = aws.clock.now()
    aws.clock.advance(timedelta(seconds=5 * WINDOW_SECONDS - now.second % WINDOW_SECONDS))
    call(aws, "PUT", "/v1/me/preferences", {"categories": {"marketing": False}})
    counted = request_counters(every_item(aws, "ProfilesTable"))
    scopes = ("events", "devices", "preferences", "surveys")
    assert {key for key in counted if USER in key} == {f"#rate#{s}#{USER}" for s in scopes}

    export = aws.invoke(function, export_request(function))
    assert export["statusCode"] == 200, export
    exported = json.loads(export["body"])
    jobs = {d["job_id"]: d for d in exported["deliveries"]}
    assert touched["message_job"] in jobs and jobs[touched["message_job"]]["opened_at"]
    sources = {d["source"] for d in exported["deliveries"]}
    assert {"admin", f"broadcast:{touched['done']}"} <= sources
    assert any(s.startswith("campaign:thanks-for-buying") for s in sources), sources
    decided = [
        (record["campaign"], record["action"])
        for h in exported["history"]
        if h["type"] == "decision"
        for record in h["records"]
    ]
    assert decided == [("thanks-for-buying", "send")], exported["history"]
    listed = {b["broadcast_id"]: b for b in exported["broadcasts"]}
    assert set(listed) == {touched["done"], touched["running"]}
    assert listed[touched["running"]]["status"] == "running"

    erase = aws.invoke(function, erase_request(function, USER))
    assert erase["statusCode"] == 200, erase
    erased = json.loads(erase["body"])
    assert erased["profile_erased"] is True
    assert erased["delivery_records_erased"] >= 3
    assert erased["broadcasts_erased_from"] == 1  # the running one (the done one kept no list)

    left = leftovers(aws)
    assert list(left) == ["ProfilesTable"], json.dumps(left, indent=1)[:3000]
    kept = left["ProfilesTable"]  # no request counter either
    assert len(kept) == 1 and is_tombstone(kept[0]), json.dumps(kept, indent=1)[:3000]

    # the running broadcast goes on without them: the others get it, they do not
    drain(aws, "BroadcastsQueue", "BroadcasterFunction")
    queued = [json.loads(m["Body"])["user_id"] for m in aws.receive_all("PushesQueue")]
    assert sorted(queued) == OTHERS
    progress = call(
        aws,
        "GET",
        f"/admin/v1/broadcasts/{touched['running']}",
        route="GET /admin/v1/broadcasts/{broadcast_id}",
        params={"broadcast_id": touched["running"]},
    )
    assert (progress["status"], progress["enqueued"], progress["total"]) == ("done", 2, 2)
    assert leftovers(aws) == left  # finished: its list is gone too

    again = json.loads(aws.invoke(function, erase_request(function, USER))["body"])
    assert again["delivery_records_erased"] == 0 and again["broadcasts_erased_from"] == 0
