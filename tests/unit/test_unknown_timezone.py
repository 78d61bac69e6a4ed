"""One time-zone resolver for campaigns, push_sender and preview, and `unknown_timezone`:
with no zone known, local-time rules withhold marketing (transactional still goes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nudge.clock import ManualClock
from nudge.domain import campaigns as engine
from nudge.domain.config import ConsentDefaults, EngagementConfig
from nudge.domain.messaging.consent import effective
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Device, Preferences, QuietHours
from nudge.models.events import IncomingEvent
from nudge.models.profile import Attribute, LastLocation, Profile
from nudge.models.push import PushJob
from nudge.services.campaigns.runner import CampaignRunner
from nudge.services.engagement.reports import campaign_summary
from nudge.services.messaging.push import PushService
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryProfileStore, InMemoryQueue

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday
EPOCH = int(NOW.timestamp())
SAO_PAULO = (-23.55, -46.63)


@dataclass(frozen=True)
class User:
    """What is known of one user, from the most to the least trusted source."""

    preferred: str | None = None
    device_zone: str | None = None
    device_locale: str | None = None
    profile_zone: str | None = None
    profile_locale: str | None = None
    location: tuple[float, float] | None = None


# (case, what is known, the app default, the zone every path must use; None: unknown)
CHAIN = [
    (
        "preference",
        User("America/New_York", "Asia/Tokyo", "nl-NL", "Australia/Sydney", "ja-JP", SAO_PAULO),
        None,
        "America/New_York",
    ),
    (
        "device",
        User(None, "Asia/Tokyo", "nl-NL", "Australia/Sydney", "ja-JP", SAO_PAULO),
        None,
        "Asia/Tokyo",
    ),
    (
        "profile timezone counts as a device zone, before any locale",
        User(None, None, "nl-NL", "Australia/Sydney", "ja-JP", SAO_PAULO),
        None,
        "Australia/Sydney",
    ),
    (
        "device locale",
        User(None, None, "nl-NL", None, "ja-JP", SAO_PAULO),
        None,
        "Europe/Amsterdam",
    ),
    ("profile locale", User(None, None, "en", None, "ja-JP", SAO_PAULO), None, "Asia/Tokyo"),
    ("location", User(None, None, "en", None, None, SAO_PAULO), None, "America/Sao_Paulo"),
    ("app default", User(None, None, "en"), "Pacific/Auckland", "Pacific/Auckland"),
    ("unknown", User(None, None, "en"), None, None),
]


def profile_of(user: User) -> Profile:
    attributes = {}
    if user.profile_zone:
        attributes["timezone"] = Attribute(value=user.profile_zone, at=EPOCH - 3600)
    if user.profile_locale:
        attributes["locale"] = Attribute(value=user.profile_locale, at=EPOCH - 3600)
    location = None
    if user.location:
        location = LastLocation(lat=user.location[0], lng=user.location[1], at=EPOCH - 3600)
    return Profile(
        user_id="ann",
        first_seen=EPOCH - 86_400,
        last_seen=EPOCH,
        attributes=attributes,
        location=location,
    )


def store_of(user: User, quiet: QuietHours | None = None) -> InMemoryDeviceStore:
    store = InMemoryDeviceStore()
    store.put_device(
        Device(
            user_id="ann",
            device_id="phone",
            token="tok-phone",
            platform="android",
            locale=user.device_locale,
            timezone=user.device_zone,
            created_at=0,
            updated_at=EPOCH,
        )
    )
    store.prefs["ann"] = Preferences(
        user_id="ann",
        categories={"marketing": True},
        timezone=user.preferred,
        quiet_hours=quiet,
        quiet_hours_set=True,
    )
    return store


def config(default: str | None = None) -> EngagementConfig:
    return EngagementConfig(consent=ConsentDefaults(default_timezone=default))


def campaign(category: str = "marketing", **delivery: Any) -> Campaign:
    return Campaign.model_validate(
        {
            "id": "promo",
            "name": "Promo",
            "status": "active",
            "category": category,
            "trigger": {"event": {"name": "browse"}},
            "variants": [{"id": "a", "title": "Hi", "body": "Hello"}],
            "delivery": {"cooldown": "0s", **delivery},
        }
    )


def runner_for(
    store: InMemoryDeviceStore, settings: EngagementConfig, *campaigns: Campaign
) -> CampaignRunner:
    published = CampaignSet(campaigns={c.id: c for c in campaigns})
    return CampaignRunner(
        InMemoryCampaignCatalog(published),
        store,
        InMemoryQueue(),
        settings,
        zone_devices=store,
    )


def browse() -> IncomingEvent:
    return IncomingEvent(event_id="e1", name="browse", timestamp=NOW)


def window_after(zone: str) -> dict[str, str]:
    """A send window opening one hour from now in `zone` (so the wait names the zone)."""
    local = NOW.astimezone(ZoneInfo(zone))
    return {
        "start": (local + timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=2)).strftime("%H:%M"),
    }


def quiet_around(zone: str) -> QuietHours:
    """Quiet hours from an hour ago to an hour from now in `zone`."""
    local = NOW.astimezone(ZoneInfo(zone))
    return QuietHours(
        start=(local - timedelta(hours=1)).time(), end=(local + timedelta(hours=1)).time()
    )


def push_job(category: str = "marketing") -> str:
    return PushJob.model_validate(
        {
            "job_id": f"job-{category}",
            "user_id": "ann",
            "dedupe_key": f"key-{category}",
            "created_at": NOW.isoformat(),
            "template": {
                "id": f"t-{category}",
                "category": category,
                "text": {"en": {"title": "Hi", "body": "Hello"}},
            },
        }
    ).model_dump_json()


def push_service(
    store: InMemoryDeviceStore, settings: EngagementConfig, profile: Profile
) -> tuple[PushService, FakeFcm, InMemoryDeliveryLog]:
    profiles = InMemoryProfileStore()
    profiles.items[profile.user_id] = profile
    fcm, log = FakeFcm(), InMemoryDeliveryLog()
    service = PushService(store, log, fcm, settings, ManualClock(NOW), profiles=profiles)
    return service, fcm, log


@pytest.mark.parametrize(("case", "user", "default", "expected"), CHAIN, ids=[c[0] for c in CHAIN])
def test_campaign_and_push_sender_resolve_the_same_zone(
    case: str, user: User, default: str | None, expected: str | None
) -> None:
    settings = config(default)
    # the campaign: a send window opening an hour from now in the expected zone
    window = window_after(expected or "UTC")
    runner = runner_for(store_of(user), settings, campaign(send_window=window))
    decided = runner.decide(profile_of(user), EPOCH, [browse()])
    (decision,) = decided.decisions
    # push_sender: quiet hours around now in the expected zone
    service, fcm, _ = push_service(
        store_of(user, quiet_around(expected or "UTC")), settings, profile_of(user)
    )
    pushed = service.process(push_job())
    if expected is None:
        assert (decision.action, decision.reason) == ("suppress", "unknown_timezone")
        assert pushed.done and [d.reason for d in pushed.deliveries] == ["unknown_timezone"]
        assert fcm.sent == []
        return
    assert (decision.action, decision.reason) == ("wait", "send_window")
    assert decision.wait_until == EPOCH + 3600  # opens at its start in the expected zone
    assert not pushed.done and pushed.delay_s == 3600  # quiet hours end in the expected zone
    assert [d.outcome for d in pushed.deliveries] == ["deferred"]


def test_preference_zone_wins_over_profile_attributes_in_a_send_window() -> None:
    # 12:00 UTC: 21:00 in Tokyo (inside 09:00-22:00), 07:00 in New York (before it)
    user = User(preferred="America/New_York", profile_zone="Asia/Tokyo")
    window = {"start": "09:00", "end": "22:00"}
    runner = runner_for(store_of(user), config(), campaign(send_window=window))
    (decision,) = runner.decide(profile_of(user), EPOCH, [browse()]).decisions
    assert (decision.action, decision.reason) == ("wait", "send_window")
    opens = datetime.fromtimestamp(decision.wait_until or 0, tz=ZoneInfo("America/New_York"))
    assert (opens.date(), opens.hour, opens.minute) == (NOW.date(), 9, 0)


def test_unknown_zone_suppresses_a_marketing_send_window_and_counts_it() -> None:
    user = User(device_locale="en")
    window = {"start": "09:00", "end": "21:00"}
    runner = runner_for(store_of(user), config(), campaign(send_window=window))
    result = runner.decide(profile_of(user), EPOCH, [browse()])
    (decision,) = result.decisions
    assert (decision.action, decision.reason) == ("suppress", "unknown_timezone")
    assert decision.rules[-1].name == "unknown_timezone"
    (counter,) = result.counters.values()
    assert counter["suppressed.unknown_timezone"] == 1
    assert campaign_summary(dict(counter))["suppressed"] == {"unknown_timezone": 1}  # reported
    assert runner.pushes.bodies == []


def test_unknown_zone_suppresses_a_local_time_schedule() -> None:
    user = User(device_locale="en")
    weekly = Campaign.model_validate(
        {
            "id": "weekly",
            "name": "Weekly",
            "status": "active",
            "trigger": {"schedule": {"cron": "0 9 * * MON", "local_time": True}},
            "audience": {"lifecycle": ["new", "active"]},
            "variants": [{"id": "a", "title": "Hi", "body": "Hello"}],
        }
    )
    runner = runner_for(store_of(user), config(), weekly)
    profile = profile_of(user)
    profile.stage = "active"
    runner.decide(profile, EPOCH - 7 * 86_400)  # plans the next slot
    (slot,) = profile.messaging.schedule_next.values()
    result = runner.decide(profile, slot)
    (decision,) = result.decisions
    assert (decision.action, decision.reason) == ("suppress", "unknown_timezone")
    assert next(iter(result.counters.values()))["suppressed.unknown_timezone"] == 1


def test_unknown_zone_lets_a_transactional_campaign_through_its_window() -> None:
    user = User(device_locale="en")
    window = {"start": "09:00", "end": "21:00"}
    runner = runner_for(store_of(user), config(), campaign("transactional", send_window=window))
    (decision,) = runner.decide(profile_of(user), EPOCH, [browse()]).decisions
    assert decision.action == "send"


def test_quiet_hours_and_unknown_zone_withhold_marketing_but_not_transactional() -> None:
    user = User(device_locale="en")
    night = QuietHours(start=datetime(2026, 1, 1, 22).time(), end=datetime(2026, 1, 1, 8).time())
    service, fcm, log = push_service(store_of(user, night), config(), profile_of(user))
    marketing = service.process(push_job("marketing"))
    assert marketing.done
    assert [(d.outcome, d.reason) for d in marketing.deliveries] == [
        ("suppressed", "unknown_timezone")
    ]
    logged = [(d.outcome, d.reason) for d in log.for_user("ann")]
    assert logged == [("suppressed", "unknown_timezone")]  # the delivery log says why
    transactional = service.process(push_job("transactional"))
    assert [d.outcome for d in transactional.deliveries] == ["sent"]
    assert len(fcm.sent) == 1


def test_push_sender_reads_the_profile_only_when_preferences_and_devices_name_no_zone() -> None:
    user = User(device_zone="Europe/Amsterdam")
    night = QuietHours(start=datetime(2026, 1, 1, 22).time(), end=datetime(2026, 1, 1, 8).time())
    store = store_of(user, night)

    class Unreadable(InMemoryProfileStore):
        def get(self, user_id: str) -> Profile | None:
            raise AssertionError("the profile was read although a device names the zone")

    service = PushService(
        store, InMemoryDeliveryLog(), FakeFcm(), config(), ManualClock(NOW), profiles=Unreadable()
    )
    assert [d.outcome for d in service.process(push_job()).deliveries] == ["sent"]


def test_an_explicit_app_default_is_used_and_none_is_the_default() -> None:
    assert ConsentDefaults().default_timezone is None
    user = User(device_locale="en")
    window = {"start": "09:00", "end": "21:00"}  # 12:00 UTC = 01:00 in Auckland: waits
    runner = runner_for(store_of(user), config("Pacific/Auckland"), campaign(send_window=window))
    (decision,) = runner.decide(profile_of(user), EPOCH, [browse()]).decisions
    assert (decision.action, decision.reason) == ("wait", "send_window")
    opens = datetime.fromtimestamp(decision.wait_until or 0, tz=ZoneInfo("Pacific/Auckland"))
    assert (opens.hour, opens.minute) == (9, 0)


def test_preview_shows_the_zone_its_source_and_the_unknown_timezone_rule() -> None:
    user = User(device_locale="en")
    store = store_of(user)
    send_window = {"start": "09:00", "end": "21:00"}
    shown = engine.preview(
        campaign(send_window=send_window),
        profile_of(user),
        effective(store.preferences("ann"), ConsentDefaults()),
        store.devices("ann"),
        EPOCH,
        {},
        {},
        None,
        interest_half_life_days=14,
    )
    assert shown["verdict"] == "suppress:unknown_timezone"
    assert shown["zone"].startswith("unknown (")
    assert shown["rules"][-1]["rule"] == "unknown_timezone"
    located = User(location=SAO_PAULO)
    shown = engine.preview(
        campaign(send_window=send_window),
        profile_of(located),
        effective(store_of(located).preferences("ann"), ConsentDefaults()),
        store_of(located).devices("ann"),
        EPOCH,
        {},
        {},
        None,
        interest_half_life_days=14,
    )
    assert shown["zone"] == "America/Sao_Paulo (location)"
