"""A little real data for the console's pages, made through the real APIs (the browser tests
in tests/browser and `make console-shots` share it): two campaigns and an NPS survey
published with the admin API, riders with a push device who sign up, travel and answer the
survey with the mobile API, and one broadcast. Everything goes through the local gateway, so
what the console shows is what the stack made of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from nudge_local.client import LocalClient

SURVEY_ID = "rider-nps"
WELCOME = "welcome-riders"
OFFERS = "weekend-offers"

# (score, comment): promoters, a passive and detractors with themes the report can find
ANSWERS = [
    (10, "Love the live departure times"),
    (9, "Quick and easy tickets"),
    (8, "Fine, but prices went up"),
    (3, "Trains were late every day"),
    (2, "Too expensive for a short trip, and late again"),
]


def campaign_yaml(
    cid: str,
    *,
    category: str = "transactional",
    event: str = "signed_up",
    title: str = "Welcome aboard",
    status: str = "active",
) -> str:
    return f"""\
id: {cid}
name: {cid.replace("-", " ").capitalize()}
category: {category}
status: {status}
trigger:
  event: {{ name: {event} }}
variants:
  - id: a
    title: "{title}"
    body: Good to have you
"""


SURVEY_YAML = f"""\
id: {SURVEY_ID}
name: Rider NPS
status: active
trigger: {{ event: trip_completed }}
sample_pct: 100
questions:
  score: How likely are you to recommend us to a friend?
  reason:
    promoter: What do you love most?
    passive: What would make it a 10?
    detractor: What disappointed you?
themes:
  pin:
    - {{ name: Delays, keywords: [late, delay, delayed] }}
    - {{ name: Prices, keywords: [price, prices, expensive] }}
"""


@dataclass
class Seeded:
    campaigns: list[str] = field(default_factory=list)
    survey: str = SURVEY_ID
    users: list[str] = field(default_factory=list)
    broadcast: str = ""


def ok(response: Any, what: str) -> dict[str, Any]:
    """The JSON of a successful answer; a clear error naming the call otherwise."""
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else {}


def publish_campaign(client: LocalClient, cid: str, text: str) -> dict[str, Any]:
    answer = client.request(
        "PUT", f"/admin/v1/campaigns/{cid}", admin=True, json_body={"yaml": text}
    )
    return ok(answer, f"publish campaign {cid}")


def event(client: LocalClient, name: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "name": name,
        "timestamp": client.now(),
        "properties": props,
    }


def make_rider(
    client: LocalClient, user_id: str, *, trips: int = 1, marketing: bool = False
) -> str:
    """A rider with an Android push device who signs up, opens the app and travels; with
    `marketing`, they opt in to marketing pushes first (the consent trail shows it)."""
    device = {"token": f"tok-{user_id}", "platform": "android", "locale": "en-GB"}
    ok(client.request("PUT", "/v1/devices/phone", user=user_id, json_body=device), "device")
    if marketing:
        consent = {"categories": {"marketing": True}}
        answer = client.request("PUT", "/v1/me/preferences", user=user_id, json_body=consent)
        ok(answer, f"preferences of {user_id}")
    events = [event(client, "signed_up"), event(client, "app_opened")]
    events += [event(client, "trip_completed", line=f"L{n}") for n in range(trips)]
    ok(client.post_events(user_id, events), f"events of {user_id}")
    return user_id


def answer_survey(client: LocalClient, user_id: str, score: int, comment: str) -> bool:
    """Answer the survey the app offers this rider (score, then the reason); False if none."""
    shown = client.request("GET", "/v1/me/surveys/next", user=user_id)
    if shown.status_code != 200:
        return False
    prompt = ok(shown, f"survey prompt of {user_id}")
    path = f"/v1/surveys/{prompt['survey_id']}/responses"
    base = {"prompt_id": prompt["prompt_id"], "answered_at": client.now()}
    parts = [
        {**base, "response_id": "score", "score": score, "platform": "android", "country": "NL"},
        {**base, "response_id": "reason", "reason": comment},
    ]
    for part in parts:
        ok(client.request("POST", path, user=user_id, json_body=part), f"answer of {user_id}")
    return True


def open_pushes(client: LocalClient, user_id: str) -> int:
    """The rider opens every push in their phone's inbox (the local FCM emulator's): opens
    for the reports. Pushes held back by quiet hours are not there yet: fewer opens then."""
    inbox = client.session.get(
        f"{client.api_url}/_fcm/inbox", params={"token": f"tok-{user_id}"}, timeout=10
    ).json()
    jobs = [m["data"]["job_id"] for m in inbox.get("messages", []) if "job_id" in m.get("data", {})]
    if jobs:
        opens = [event(client, "push_opened", message_id=job) for job in jobs]
        ok(client.post_events(user_id, opens), f"opens of {user_id}")
    return len(jobs)


def broadcast(client: LocalClient, user_ids: list[str], title: str = "Engineering works") -> str:
    body = {
        "template": {
            "id": "console-works",
            "category": "internal",
            "text": {"en": {"title": title, "body": "Buses replace trains on Saturday"}},
            "respect_quiet_hours": False,  # the shared clock may stand at night
        },
        "target": {"user_ids": user_ids},
        "dedupe_key": f"console-{uuid.uuid4().hex[:12]}",
        "rate_per_minute": 600,
    }
    created = ok(
        client.request("POST", "/admin/v1/broadcasts", admin=True, json_body=body), "broadcast"
    )
    return str(created["broadcast_id"])


def has_data(client: LocalClient) -> bool:
    campaigns = ok(client.request("GET", "/admin/v1/campaigns", admin=True), "campaigns")
    return bool(campaigns.get("campaigns"))


def seed(client: LocalClient, prefix: str = "rider") -> Seeded:
    """Publish the campaigns and survey, play a few riders, answer the survey, broadcast."""
    seeded = Seeded()
    publish_campaign(client, WELCOME, campaign_yaml(WELCOME))
    offers = campaign_yaml(
        OFFERS, category="marketing", event="trip_completed", title="Weekend fares from 5 euros"
    )
    publish_campaign(client, OFFERS, offers)
    seeded.campaigns = [WELCOME, OFFERS]
    ok(
        client.request(
            "PUT", f"/admin/v1/surveys/{SURVEY_ID}", admin=True, json_body={"yaml": SURVEY_YAML}
        ),
        "publish survey",
    )
    client.advance("1m")  # the processor reads the survey catalog at most every 30 (virtual) s
    seeded.users = [
        make_rider(
            client, f"{prefix}-{n:02d}-{uuid.uuid4().hex[:6]}", trips=n + 1, marketing=n % 2 == 0
        )
        for n in range(len(ANSWERS))
    ]
    client.drain()
    for user_id, (score, comment) in zip(seeded.users, ANSWERS, strict=True):
        answer_survey(client, user_id, score, comment)
    for user_id in seeded.users[:2]:
        open_pushes(client, user_id)
    seeded.broadcast = broadcast(client, seeded.users)
    client.drain()
    return seeded


def seed_extras(client: LocalClient) -> Seeded:
    """On a stack that has data already (`make demo KEEP=1`): only a rider and a broadcast,
    for the pages that need an id the admin API cannot list (a user, a broadcast)."""
    campaigns = ok(client.request("GET", "/admin/v1/campaigns", admin=True), "campaigns")
    surveys = ok(client.request("GET", "/admin/v1/surveys", admin=True), "surveys")
    report = ok(client.request("GET", "/admin/v1/reports/campaigns?days=90", admin=True), "report")
    sent = {cid: row.get("sent", 0) for cid, row in report.get("campaigns", {}).items()}
    # the busiest campaign and the survey with most answers make the most telling pictures
    ids = [c["id"] for c in campaigns.get("campaigns", []) if "id" in c]
    answered = {s["id"]: answers(client, s["id"]) for s in surveys.get("surveys", []) if "id" in s}
    seeded = Seeded(
        campaigns=sorted(ids, key=lambda cid: -sent.get(cid, 0)),
        survey=max(answered, key=lambda sid: answered[sid], default=""),
    )
    seeded.users = [make_rider(client, f"console-shots-{uuid.uuid4().hex[:6]}")]
    client.drain()
    seeded.broadcast = broadcast(client, seeded.users)
    client.drain()
    return seeded


def answers(client: LocalClient, survey_id: str) -> int:
    """How many answers a survey's report counts (0 when it has none to report)."""
    report = client.request("GET", f"/admin/v1/reports/nps/{survey_id}?since=90d", admin=True)
    return int(report.json().get("overall", {}).get("n", 0)) if report.ok else 0
