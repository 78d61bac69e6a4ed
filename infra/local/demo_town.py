"""The town of `make demo`: who its app users are and what they do in the app.

Personas (seeded, so every run tells the same story):
  commuters  - weekday mornings and evenings: sessions, tickets     -> active, then loyal
  planners   - a few evenings a week: browsing weekend trips, buying -> active
  lapsing    - keen for a week, then gone                           -> at_risk
  returning  - a few days, away for two weeks, then back            -> reactivated
  one-shot   - open the app once                                    -> at_risk, then dormant
Each action goes through the real HTTP API of the local stack, as the app (or the ticketing
backend) sends it: first launch (device and consent), sessions of events, pushes read and
opened, categories turned off, the NPS survey answered, a transactional pass renewal. What
happened is counted in a `Tally`. `nudge_local.demo` plays the 30 days.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nudge_local.client import LocalClient

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
DAYS = 30
USERS = 150
SLOTS = (8, 13, 19)  # hours (UTC) when users may open the app: 09:00, 14:00, 20:00 in Amsterdam
SEED = 20261123
# Where commuters board (centres from events/geofences/stations.geojson) and where they live.
HOME_STATIONS = {
    "Amsterdam Centraal": (52.3791, 4.9003),
    "Utrecht Centraal": (52.0894, 5.1101),
    "Rotterdam Centraal": (51.9249, 4.4690),
    "Amsterdam Zuid": (52.3389, 4.8730),
}
FOLLOW_UPS = [
    "Please show the platform earlier",
    "A dark mode would be nice",
    "Let me save more than one home station",
]
# What riders write after a trip, by how they scored it (themes are found, not matched here).
COMMENTS = {
    "promoter": [
        "Buying a ticket takes seconds and the live departures are spot on",
        "Love the platform change alerts, saved my morning twice",
        "Easy to use, quick tickets, never had a problem",
        "The departures board is exactly what I need when I walk in",
    ],
    "passive": [
        "Good app but prices for weekend trips are quite expensive",
        "Works fine, the fare for a day return is expensive though",
        "Nice, but I wish the trip planner showed cheaper options",
    ],
    "detractor": [
        "Trains were late three days in a row and the app said on time",
        "My train was cancelled and I got no alert at all",
        "Too many notifications, and the delays are never announced",
        "Delayed again, the app showed the wrong platform",
    ],
}
# What buyers write after a CSAT question about buying a ticket, by how satisfied they were.
CSAT_COMMENTS = {
    "promoter": ["Quick checkout, the ticket was on my phone at once", "Easy and fast"],
    "passive": ["Fine, but finding the cheapest fare took a while", "OK, a bit slow to load"],
    "detractor": ["Payment failed twice before it worked", "The app crashed at the payment"],
}
# The app's interest mapping: a viewed destination's theme is an interest (weekend_trips...).
ENGAGEMENT = {"interests": [{"event": "destination_viewed", "from_property": "theme"}]}
DESTINATIONS = {
    "weekend_trips": ["Bruges", "Maastricht", "Giethoorn"],
    "city_breaks": ["Paris", "London", "Cologne"],
}


@dataclass
class User:
    user_id: str
    persona: str
    active_days: set[int]
    slots: tuple[int, ...]
    signed_up: bool = False
    theme: str = "weekend_trips"
    station: str = ""
    shares_location: bool = False
    token: str = ""
    trip_done: bool = False  # a trip or a purchase: the app asks for a pending survey next launch
    pushes_seen: int = 0  # of this phone's FCM inbox
    received: Counter[str] = field(default_factory=Counter)  # pushes per category so far
    turned_off: set[str] = field(default_factory=set)
    easily_annoyed: bool = False
    departures_variant: str | None = None  # the last station-departures push not acted on
    country: str = "NL"  # of the phone's locale


ZONES = ["Europe/Amsterdam", "Europe/Brussels", "Europe/London", "America/New_York", "Asia/Tokyo"]


@dataclass
class Tally:
    devices: int = 0
    marketing_opt_ins: int = 0
    opt_outs: Counter[str] = field(default_factory=Counter)
    opens: int = 0
    location_grants: int = 0
    surveys_shown: int = 0
    surveys_answered: int = 0
    surveys_dismissed: int = 0
    broadcast: str = ""
    messages_queued: int = 0
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    errors: Counter[int] = field(default_factory=Counter)


def make_users(rng: random.Random, total: int = USERS) -> list[User]:
    """`total` users in the personas' shares (of 150: 45 commuters, 40 planners, 25 lapsing,
    20 returning, 20 one-shot)."""
    users: list[User] = []

    def add(persona: str, share: float, days: Any, slots: tuple[int, ...]) -> None:
        for _ in range(round(total * share)):
            chosen = days(rng) if callable(days) else days
            users.append(
                User(
                    f"{persona}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
                    persona,
                    set(chosen),
                    slots,
                    theme=rng.choice(sorted(DESTINATIONS)),
                    station=rng.choice(sorted(HOME_STATIONS)),
                    easily_annoyed=rng.random() < 0.25,
                )
            )

    weekdays = [d for d in range(DAYS) if d % 7 < 5]
    add("commuter", 45 / 150, lambda r: [d for d in weekdays if r.random() < 0.9], (8, 19))
    add("planner", 40 / 150, lambda r: [d for d in range(DAYS) if r.random() < 0.35], (19,))
    add("lapsing", 25 / 150, lambda r: [d for d in range(8) if r.random() < 0.8] + [0], (13,))
    add(
        "returning",
        20 / 150,
        lambda r: [0, 1, 2] + [d for d in range(18, DAYS) if r.random() < 0.6],
        (13, 19),
    )
    add("one-shot", 20 / 150, [0], (13,))
    return users


def session_events(user: User, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    def event(name: str, minutes_ago: int, **props: Any) -> dict[str, Any]:
        return {
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "name": name,
            "timestamp": (now - timedelta(minutes=minutes_ago)).isoformat(),
            "properties": props,
        }

    events = [event("session_start", 6, app_version="4.2.0")]
    if not user.signed_up:
        events.append(event("signup_completed", 6))
        user.signed_up = True
    if user.persona == "commuter":
        if user.shares_location:  # walking from home into the station: a fix, then inside
            lat, lng = HOME_STATIONS[user.station]
            events.append(fix(event("location_update", 14), lat + 0.012, lng, 25))
            events.append(fix(event("location_update", 7), lat, lng, 12))
        if rng.random() < 0.35:  # most ride on a monthly pass; some buy a ticket
            events.append(event("ticket_purchased", 5, amount=round(rng.uniform(2.5, 9), 2)))
        events += [event("screen_view", 4, screen="departures") for _ in range(rng.randint(1, 3))]
        if now.hour >= 17 and rng.random() < 0.4:  # home again: the trip is done
            events.append(event("trip_completed", 0, kind="commute"))
    elif user.persona == "planner":
        theme = user.theme
        events += [
            event(
                "destination_viewed",
                5 - i,
                theme=theme,
                destination=rng.choice(DESTINATIONS[theme]),
            )
            for i in range(rng.randint(1, 3))
        ]
        if rng.random() < 0.3:
            events.append(event("ticket_purchased", 1, amount=round(rng.uniform(15, 120), 2)))
        if rng.random() < 0.3:  # back from last weekend's trip
            events.append(event("trip_completed", 0, kind="weekend"))
    else:
        if user.persona == "lapsing" and rng.random() < 0.5:
            events.append(event("ticket_purchased", 4, amount=round(rng.uniform(2.5, 9), 2)))
        events += [event("screen_view", 3, screen="home") for _ in range(rng.randint(1, 2))]
    return events


def fix(event: dict[str, Any], lat: float, lng: float, accuracy_m: float) -> dict[str, Any]:
    """A location update as the app sends it (significant-location change or region callback)."""
    event["location"] = {"lat": round(lat, 6), "lng": round(lng, 6), "accuracy_m": accuracy_m}
    event["properties"] = {"source": "significant_change"}
    return event


def answer_survey(client: LocalClient, user: User, rng: random.Random, tally: Tally) -> None:
    """The app asks for a pending survey when it opens; most answer, some say "not now".
    (Only after a finished trip here: every other launch would get a 204 and cost time.)"""
    if not user.trip_done:
        return
    user.trip_done = False
    shown = client.request("GET", "/v1/me/surveys/next", user=user.user_id)
    if shown.status_code != 200:
        return
    tally.surveys_shown += 1
    prompt = shown.json()
    survey = prompt["survey_id"]
    if rng.random() < 0.15:
        body = {"prompt_id": prompt["prompt_id"]}
        path = f"/v1/surveys/{survey}/dismissals"
        if client.request("POST", path, user=user.user_id, json_body=body).ok:
            tally.surveys_dismissed += 1
        return
    # commuters are mostly fans, weekend planners mind the prices; the over-messaged complain
    mood = {"commuter": 0.75, "planner": 0.45}.get(user.persona, 0.35)
    roll = rng.random()
    if prompt.get("kind") == "csat":  # 1-5: most buyers are satisfied, a few hit a failure
        score = rng.choice([4, 5]) if roll < 0.7 else rng.choice([3] if roll < 0.85 else [1, 2])
        category = "promoter" if score >= 4 else "passive" if score == 3 else "detractor"
        comments = CSAT_COMMENTS
    else:
        score = (
            rng.choice([9, 10]) if roll < mood else rng.choice([7, 8] if roll < 0.8 else [2, 4, 6])
        )
        category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        comments = COMMENTS
    answer = {
        "prompt_id": prompt["prompt_id"],
        "response_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "answered_at": client.now(),
        "score": score,
        "reason": rng.choice(comments[category]),
        **(
            {"follow_up": rng.choice(FOLLOW_UPS)}
            if rng.random() < 0.3 and comments is COMMENTS
            else {}
        ),
        "platform": "ios" if "ios" in user.token else "android",
        "country": "NL",
    }
    path = f"/v1/surveys/{survey}/responses"
    if client.request("POST", path, user=user.user_id, json_body=answer).ok:
        tally.surveys_answered += 1


# The effect `make demo` measures (planted in behaviour, never in counters): a commuter who got
# the station-departures push buys the ride home in the app at the next session with this
# chance, on top of the 35 % who buy a ticket anyway; more often after the variant that offers
# the ticket. Holdout riders get no push: their purchases are what lift is judged against.
RIDE_HOME = {"live": 0.2, "ticket": 0.6}

# How a push's category is known on the phone: by its template (campaign id before the dot).
CATEGORY_OF = {"station-departures": "product_updates", "engineering_works": "product_updates",
               "pass-renewal": "transactional"}  # fmt: skip
OPENS = {"transactional": 0.7, "product_updates": 0.45, "marketing": 0.3}
# The regional difference `make demo` finds (planted in behaviour): riders whose phone is set
# to Belgium open pushes far more often, British ones far less (the country comes from the
# device's locale, as the devices API passes it to the profile).
OPENS_BY_COUNTRY = {"BE": 1.7, "NL": 1.0, "DE": 1.0, "GB": 0.4}


def read_pushes(
    client: LocalClient, user: User, at: str, rng: random.Random, tally: Tally
) -> list[dict[str, Any]]:
    """What the phone got since the last launch: some pushes are opened (the app reports
    push_opened naming the message), and an easily annoyed user who got several pushes of a
    category turns that category off in the app's settings."""
    response = client.session.get(
        f"{client.api_url}/_fcm/inbox", params={"token": user.token}, timeout=10
    )
    new = response.json()["messages"][user.pushes_seen :]
    user.pushes_seen += len(new)
    opened, received = [], Counter[str]()
    for message in new:
        data = message["data"]
        source, _, variant = data["template_id"].partition(".")
        category = CATEGORY_OF.get(source, "marketing")
        if source == "station-departures":
            user.departures_variant = variant
        received[category] += 1
        if rng.random() < min(0.95, OPENS[category] * OPENS_BY_COUNTRY.get(user.country, 1.0)):
            opened.append(
                {
                    "event_id": f"open-{data['job_id']}",
                    "name": "push_opened",
                    "timestamp": at,
                    "properties": {"message_id": data["job_id"]},
                }
            )
    tally.opens += len(opened)
    for category in received:  # enough of this: turned off in the app's settings
        user.received[category] += received[category]
        fed_up = user.easily_annoyed and user.received[category] >= 4 and rng.random() < 0.2
        if fed_up and category != "transactional" and category not in user.turned_off:
            user.turned_off.add(category)
            opt_out(client, user, category, tally)
    return opened


def session(
    client: LocalClient,
    user: User,
    events: list[dict[str, Any]],
    tally: Tally,
    retry: bool,
    rng: random.Random,
) -> None:
    answer_survey(client, user, rng, tally)
    opened_at = events[0]["timestamp"]  # the session_start
    events = read_pushes(client, user, opened_at, rng, tally) + events
    events += ride_home(user, opened_at, rng)
    post(client, user, events, tally, retry)
    user.trip_done = any(e["name"] in ("trip_completed", "ticket_purchased") for e in events)


def ride_home(user: User, at: str, rng: random.Random) -> list[dict[str, Any]]:
    """The ticket home a departures push sold (RIDE_HOME), if it did."""
    variant, user.departures_variant = user.departures_variant, None
    if variant is None or rng.random() >= RIDE_HOME.get(variant, 0.0):
        return []
    return [
        {
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "name": "ticket_purchased",
            "timestamp": at,
            "properties": {"amount": round(rng.uniform(2.5, 9), 2), "via": "departures_push"},
        }
    ]


def post(
    client: LocalClient, user: User, events: list[dict[str, Any]], tally: Tally, retry: bool
) -> None:
    response = client.post_events(user.user_id, events)
    tally.requests += 1
    if response.status_code != 202:
        tally.errors[response.status_code] += 1
        return
    body = response.json()
    tally.accepted += body["accepted"]
    tally.rejected += len(body["rejected"])
    if retry:  # the app lost the response and sent the same events again
        client.post_events(user.user_id, events)
        tally.retried += len(events)
        tally.requests += 1


def onboard(client: LocalClient, user: User, rng: random.Random, tally: Tally) -> None:
    """First launch: register the phone's FCM token; some say yes to marketing, and most
    commuters let the app use their location (for departures at their station)."""
    platform = rng.choice(["ios", "android"])
    user.token = f"demo-{platform}-{uuid.UUID(int=rng.getrandbits(128)).hex}"
    body = {
        "token": user.token,
        "platform": platform,
        "app_version": "4.2.0",
        "locale": (locale := rng.choice(["nl-NL", "en-GB", "de-DE", "fr-BE"])),
        "timezone": "Europe/Amsterdam" if user.persona == "commuter" else rng.choice(ZONES),
    }
    user.country = locale[-2:]
    if client.request("PUT", "/v1/devices/main", user=user.user_id, json_body=body).ok:
        tally.devices += 1
    categories: dict[str, bool] = {}
    if rng.random() < 0.45:
        categories["marketing"] = True
    if user.persona == "commuter" and rng.random() < 0.7:
        categories["location"] = True
    if categories:
        update = {"categories": categories}
        if client.request("PUT", "/v1/me/preferences", user=user.user_id, json_body=update).ok:
            user.shares_location = categories.get("location", False)
            tally.marketing_opt_ins += categories.get("marketing", False)
            tally.location_grants += user.shares_location


PASS_RENEWAL = {
    "template": {
        "id": "pass-renewal",
        "category": "transactional",
        "text": {
            "en": {
                "title": "Your monthly pass renews tomorrow",
                "body": "€{{ price }}, no action needed.",
            },
            "nl": {
                "title": "Je maandabonnement wordt morgen verlengd",
                "body": "€{{ price }}, je hoeft niets te doen.",
            },
        },
        "android": {"channel_id": "account"},
    },
    "data": {"price": "89.50"},
}


def send_renewal(client: LocalClient, user: User, tally: Tally) -> None:
    """The ticketing backend's transactional message: through the admin API and push_sender."""
    body = {**PASS_RENEWAL, "dedupe_key": f"renewal-2026-03-{user.user_id}"}
    for _ in range(2):  # the backend retries; the dedupe key keeps it to one push
        response = client.request(
            "POST", f"/admin/v1/users/{user.user_id}/messages", admin=True, json_body=body
        )
        tally.messages_queued += response.status_code == 202


def opt_out(client: LocalClient, user: User, category: str, tally: Tally) -> None:
    update = {"categories": {category: False}}
    if client.request("PUT", "/v1/me/preferences", user=user.user_id, json_body=update).ok:
        tally.opt_outs[category] += 1
