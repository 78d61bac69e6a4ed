"""One fatigue budget: local days and weeks, booking once, and every path that interrupts a
user (push_sender's jobs, campaign decisions, survey prompts) counted against the same caps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nudge.clock import DAY, ManualClock
from nudge.domain import campaigns as engine
from nudge.domain.config import CategoryCaps, EngagementConfig
from nudge.domain.messaging.fatigue import book, counted
from nudge.domain.nps.eligibility import SurveyFatigue
from nudge.models.campaign import Campaign
from nudge.models.device import Device, Preferences
from nudge.models.fatigue import Interruption
from nudge.models.profile import Profile, SendRecord
from nudge.models.push import PushJob
from nudge.models.survey import SurveyConfig
from nudge.services.messaging.push import PushService
from nudge.services.nps.surveys import SurveyService
from tests.conftest import make_event
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.fatigue import InMemoryFatigueLedger
from tests.fakes.memory import InMemoryProfileStore, InMemorySurveyCatalog, InMemorySurveyStore

NOW_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 18:00 in Tokyo, 10:00 in Amsterdam
NOW = int(NOW_AT.timestamp())
TOKYO = "Asia/Tokyo"
# Sunday 23:30 in Tokyo: 18.5 hours ago, so inside a rolling 24 h but on yesterday's date
LATE_SUNDAY_TOKYO = int(datetime(2026, 3, 1, 14, 30, tzinfo=UTC).timestamp())
TWO_A_DAY = CategoryCaps(per_day=2, per_week=5)


def entry(key: str, at: int, category: str = "product_updates", **fields: Any) -> Interruption:
    return Interruption(key, at, category, fields.pop("source", "admin"), **fields)


# --- the pure rules -------------------------------------------------------------------------


def test_a_day_is_the_users_local_calendar_day() -> None:
    yesterday = [entry("a", LATE_SUNDAY_TOKYO), entry("b", LATE_SUNDAY_TOKYO + 60)]
    booking, kept = book(yesterday, entry("c", NOW), TWO_A_DAY, NOW, TOKYO)
    assert booking.status == "booked" and [e.key for e in kept] == ["a", "b", "c"]
    booking, kept = book(kept, entry("d", NOW + 60), TWO_A_DAY, NOW + 60, TOKYO)
    assert booking.status == "booked"
    booking, _ = book(kept, entry("e", NOW + 120), TWO_A_DAY, NOW + 120, TOKYO)
    assert booking.status == "refused"  # today in Tokyo is full
    assert booking.detail == "2 product_updates interruptions today (cap 2)"


def test_an_unknown_zone_falls_back_to_rolling_windows() -> None:
    yesterday = [entry("a", LATE_SUNDAY_TOKYO), entry("b", LATE_SUNDAY_TOKYO + 60)]
    booking, kept = book(yesterday, entry("c", NOW), TWO_A_DAY, NOW, None)
    assert booking.detail == "2 product_updates interruptions in 24h (cap 2)"
    assert kept == yesterday  # a refusal stores nothing
    later = LATE_SUNDAY_TOKYO + 60 + DAY  # both are older than 24 h by then
    assert book(yesterday, entry("c", later), TWO_A_DAY, later, None)[0].status == "booked"


def test_a_week_is_today_and_the_six_local_days_before() -> None:
    tokyo_midnight = int(datetime(2026, 2, 23, 15, 0, tzinfo=UTC).timestamp())  # Tue 00:00 JST
    five = [entry(f"w{i}", tokyo_midnight + i * DAY) for i in range(5)]  # Tue..Sat
    assert book(five, entry("x", NOW), TWO_A_DAY, NOW, TOKYO)[0].detail == (
        "5 product_updates interruptions in the last 7 days (cap 5)"
    )
    # a second earlier, the first was on Monday a week ago: outside the 7 local days
    shifted = [entry(f"w{i}", tokyo_midnight - 1 + i * DAY) for i in range(5)]
    assert book(shifted, entry("x", NOW), TWO_A_DAY, NOW, TOKYO)[0].status == "booked"


def test_booking_is_idempotent_per_key_and_prunes_old_entries() -> None:
    old = entry("old", NOW - 9 * DAY)
    booking, kept = book([old], entry("k", NOW), TWO_A_DAY, NOW, TOKYO)
    assert booking.status == "booked" and [e.key for e in kept] == ["k"]
    again, same = book(kept, entry("k", NOW + 5), TWO_A_DAY, NOW + 5, TOKYO)
    assert again.status == "already_booked" and same == kept


def test_transactional_never_counts_and_internal_broadcasts_are_exemptable() -> None:
    caps = {"internal": CategoryCaps(per_day=1), "transactional": CategoryCaps(per_day=1)}
    assert counted("transactional", "admin", caps, exempt_internal=False) is None
    assert counted("internal", "broadcast:b1", caps, exempt_internal=True) is None
    assert counted("internal", "broadcast:b1", caps, exempt_internal=False) == caps["internal"]
    assert counted("internal", "admin", caps, exempt_internal=True) == caps["internal"]
    assert counted("marketing", "admin", caps, exempt_internal=True) is None  # no caps set


# --- push_sender: broadcasts and API messages book before any claim ---------------------------


def push_job(key: str, category: str = "marketing", source: str = "admin", **fields: Any) -> str:
    data: dict[str, Any] = {
        "job_id": fields.pop("job_id", f"job-{key}"),
        "user_id": "ann",
        "dedupe_key": key,
        "created_at": NOW_AT.isoformat(),
        "template": {"id": "t", "category": category, "text": {"en": {"title": "T", "body": "B"}}},
        "source": source,
    }
    return PushJob.model_validate(data | fields).model_dump_json()


class Sender:
    def __init__(self, config: EngagementConfig | None = None) -> None:
        self.counters = InMemoryProfileStore()
        self.log = InMemoryDeliveryLog(self.counters)
        self.ledger = InMemoryFatigueLedger(self.log)
        self.devices, self.fcm = InMemoryDeviceStore(), FakeFcm()
        self.devices.put_device(
            Device(
                user_id="ann",
                device_id="phone",
                token="tok",
                platform="android",
                locale="nl-NL",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=NOW,
            )
        )
        categories = {"marketing": True, "product_updates": True, "internal": True}
        self.devices.save_preferences(Preferences(user_id="ann", categories=categories), None)
        self.service = PushService(
            self.devices,
            self.log,
            self.fcm,
            config or EngagementConfig(),
            ManualClock(NOW_AT),
            fatigue=self.ledger,
        )

    def outcomes(self, *bodies: str) -> list[str]:
        result = []
        for body in bodies:
            [delivery] = self.service.process(body).deliveries
            result.append(f"{delivery.outcome}:{delivery.reason}" if delivery.reason else "sent")
        return result


def test_api_messages_and_broadcasts_share_the_users_daily_cap() -> None:
    sender = Sender()  # marketing: 3 a day
    assert sender.outcomes(
        push_job("api-1"),
        push_job("b1-ann", source="broadcast:b1"),
        push_job("api-2"),
        push_job("b2-ann", source="broadcast:b2"),
        push_job("receipt", category="transactional"),  # never counted, never refused
    ) == ["sent", "sent", "sent", "suppressed:fatigue_cap", "sent"]
    assert len(sender.fcm.sent) == 4
    # counted like every other suppression, in the broadcast's outcomes
    assert sender.counters.counters(["broadcast#b2"]) == {
        "broadcast#b2": {"suppressed.fatigue_cap": 1}
    }
    assert [e.key for e in sender.ledger.interruptions("ann")] == ["api-1", "b1-ann", "api-2"]


def test_a_redelivered_job_is_booked_once() -> None:
    sender = Sender()
    sender.service.process(push_job("api-1"))
    again = sender.service.process(push_job("api-1"), receive_count=2)
    assert again.done and again.deliveries == []  # the device has it already
    assert sender.ledger.booked == 1 and len(sender.fcm.sent) == 1
    assert sender.outcomes(push_job("api-2"), push_job("api-3")) == ["sent", "sent"]


def test_internal_broadcasts_are_exempt_unless_config_says_otherwise() -> None:
    caps = {"internal": CategoryCaps(per_day=1)}
    exempt = Sender(EngagementConfig(caps=caps))
    assert exempt.outcomes(
        push_job("i1", "internal", "broadcast:b1"), push_job("i2", "internal", "broadcast:b2")
    ) == ["sent", "sent"]
    strict = Sender(EngagementConfig(caps=caps, fatigue_exempt_internal=False))
    assert strict.outcomes(
        push_job("i1", "internal", "broadcast:b1"), push_job("i2", "internal", "broadcast:b2")
    ) == ["sent", "suppressed:fatigue_cap"]


# --- campaign decisions: the profile's sends and the ledger, in local days -------------------


def marketing_campaign() -> Campaign:
    return Campaign.model_validate(
        {
            "id": "promo",
            "name": "Promo",
            "status": "active",
            "category": "marketing",
            "trigger": {"event": {"name": "search"}},
            "variants": [{"id": "a", "title": "Hi", "body": "B"}],
            "holdout_pct": 0,
        }
    )


def context(reads: list[int], ledger: list[Interruption], zone: str = TOKYO) -> engine.Context:
    def interruptions() -> list[Interruption]:
        reads.append(1)
        return ledger

    return engine.Context(
        now=NOW,
        zone=zone,
        named={},
        caps={"marketing": CategoryCaps(per_day=3, per_week=8)},
        consent=lambda: {"marketing": True},
        interruptions=interruptions,
    )


def test_a_campaign_counts_the_other_paths_interruptions_read_only_when_needed() -> None:
    reads: list[int] = []
    today = [entry(f"b{i}", NOW - 3600 * i, "marketing", source=f"broadcast:b{i}") for i in (1, 2)]
    today.append(entry("prompt", NOW - 600, "marketing", source="survey:nps"))
    decision = engine.decide(
        engine.Candidate(marketing_campaign(), "e:1", NOW),
        Profile(user_id="ann"),
        context(reads, today),
    )
    assert (decision.outcome, decision.rules[-1].detail) == (
        "suppress:global_cap",
        "3 marketing interruptions today (cap 3)",
    )
    assert reads == [1]
    outside = Campaign.model_validate(
        marketing_campaign().model_dump() | {"audience": {"lifecycle": ["dormant"]}}
    )
    reads.clear()
    engine.decide(
        engine.Candidate(outside, "e:2", NOW), Profile(user_id="ann"), context(reads, today)
    )
    assert reads == []  # stopped at the audience: the ledger is never read


def test_a_campaign_counts_local_days_and_a_job_in_both_places_once() -> None:
    profile = Profile(user_id="ann")
    profile.messaging.sends = [  # late last night in Tokyo: yesterday, though within 24 h
        SendRecord(at=LATE_SUNDAY_TOKYO + i, campaign=f"c{i}", category="marketing", job=f"j{i}")
        for i in range(3)
    ]
    # push_sender booked the same three jobs in the ledger, a little later
    ledger = [entry(f"k{i}", LATE_SUNDAY_TOKYO + 60, "marketing", job=f"j{i}") for i in range(3)]
    decision = engine.decide(
        engine.Candidate(marketing_campaign(), "e:1", NOW), profile, context([], ledger)
    )
    assert decision.outcome == "send"
    assert ("global_cap", True, "0/day, 3/week") in decision.rules


# --- survey prompts ---------------------------------------------------------------------------


def nps(category: str = "marketing") -> SurveyConfig:
    return SurveyConfig.model_validate(
        {
            "id": "nps",
            "status": "active",
            "trigger": {"event": "trip_completed"},
            "category": category,
            "questions": {"score": "How likely are you to recommend us?"},
        }
    )


def surveys(ledger: InMemoryFatigueLedger, survey: SurveyConfig) -> SurveyService:
    return SurveyService(
        InMemorySurveyStore(),
        InMemorySurveyCatalog({survey.id: survey}),
        ManualClock(NOW_AT),
        SurveyFatigue(min_days_between_surveys=0),
        budget=ledger,
        caps={"marketing": CategoryCaps(per_day=1, per_week=8)},
        zone_of=lambda profile: TOKYO,
    )


def test_a_survey_prompt_books_in_the_budget_and_is_skipped_when_it_is_full() -> None:
    ledger = InMemoryFatigueLedger()
    service = surveys(ledger, nps())
    trip = make_event("trip_completed", at=NOW_AT)
    [prompt] = service.on_events(Profile(user_id="ann"), [trip], NOW)
    assert service.on_events(Profile(user_id="ann"), [trip], NOW) == []  # redelivered
    assert [(e.key, e.source) for e in ledger.interruptions("ann")] == [
        (prompt.prompt_id, "survey:nps")
    ]
    # bob got a marketing push today: his prompt is over the budget, nothing is created
    caps = CategoryCaps(per_day=1)
    ledger.book("bob", entry("push", NOW - 60, "marketing"), caps, TOKYO, NOW - 60)
    assert service.on_events(Profile(user_id="bob"), [trip], NOW) == []
    assert [e.key for e in ledger.interruptions("bob")] == ["push"]


def test_a_survey_in_a_category_without_caps_books_nothing() -> None:
    ledger = InMemoryFatigueLedger()
    trip = make_event("trip_completed", at=NOW_AT)
    assert surveys(ledger, nps("product_updates")).on_events(Profile(user_id="ann"), [trip], NOW)
    assert ledger.interruptions("ann") == []  # the caps given name marketing only
    unset = nps().model_dump(exclude={"category"})
    assert SurveyConfig.model_validate(unset).category == "product_updates"  # the default
