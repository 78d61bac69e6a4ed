"""SurveyService, NPS reports and the detractor router over in-memory fakes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.configfiles import ConfigError
from nudge.domain.config import EngagementConfig
from nudge.domain.nps.eligibility import SurveyFatigue
from nudge.domain.nps.score import aggregate
from nudge.models.campaign import CampaignSet
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.nps_store import DetractorJob
from nudge.models.profile import Attribute, Profile, Stage
from nudge.models.segment import Segment
from nudge.models.survey import SurveyConfig, survey_json_schema
from nudge.models.survey_responses import ResponseSubmission
from nudge.services.nps.detractors import DeliveryFailed, DetractorRouter, signature
from nudge.services.nps.reports import NpsReportService
from nudge.services.nps.surveys import (
    PromptNotFound,
    ResponseConflict,
    SurveyNotFound,
    SurveyPaused,
    SurveyService,
)
from nudge.services.pipeline.processing import EventProcessingService
from tests.conftest import START, make_event
from tests.fakes.memory import (
    InMemoryCampaignCatalog,
    InMemoryConfigTable,
    InMemoryHistoryStore,
    InMemoryProfileStore,
    InMemoryPublisher,
    InMemoryQueue,
    InMemorySurveyCatalog,
    InMemorySurveyStore,
)


def survey(**changes: Any) -> SurveyConfig:
    fields: dict[str, Any] = {
        "id": "nps-after-trip",
        "status": "active",
        "trigger": {"event": "trip_completed"},
        "sample_pct": 100,
        "questions": {
            "score": "How likely are you to recommend us?",
            "reason": {"promoter": "Love?", "passive": "A 10?", "detractor": "What went wrong?"},
            "follow_up": "One thing to improve?",
        },
        "localization": {"nl": {"score": "Hoe waarschijnlijk?"}},
        "on_detractor": {"webhook": "https://tickets.example.com/hook"},
        "on_promoter": {"emit_event": "nps_promoter"},
    }
    return SurveyConfig.model_validate(fields | changes)


class Env:
    def __init__(self, clock: ManualClock, *surveys: SurveyConfig) -> None:
        self.clock = clock
        self.store = InMemorySurveyStore()
        self.catalog = InMemorySurveyCatalog({s.id: s for s in surveys or (survey(),)})
        self.jobs = InMemoryQueue()
        self.events = InMemoryPublisher()
        self.profiles = InMemoryProfileStore()
        self.segments = InMemoryCampaignCatalog()  # the published campaign set: named segments
        self.service = SurveyService(
            self.store,
            self.catalog,
            clock,
            SurveyFatigue(min_days_between_surveys=30),
            self.jobs,
            self.events,
            self.profiles,
            self.segments,
        )

    def now(self) -> int:
        return to_epoch(self.clock.now())

    def processor(self) -> EventProcessingService:
        """The event processor with this survey service (its own profiles and history)."""
        return EventProcessingService(
            InMemoryProfileStore(),
            InMemoryHistoryStore(),
            EngagementConfig(),
            self.clock,
            surveys=self.service,
        )

    def prompt(self, user: str = "ann", event: IncomingEvent | None = None) -> str:
        created = self.service.on_events(
            Profile(user_id=user, first_seen=self.now() - 86_400, stage=Stage.ACTIVE),
            [event or make_event("trip_completed", at=self.clock.now())],
            self.now(),
        )
        assert len(created) == 1
        return created[0].prompt_id

    def answer(self, prompt_id: str, user: str = "ann", **fields: Any) -> Any:
        survey_id = fields.pop("survey_id", "nps-after-trip")
        body = {
            "response_id": fields.pop("response_id", "r-" + "-".join(sorted(fields))),
            "prompt_id": prompt_id,
            "answered_at": fields.pop("answered_at", self.clock.now().isoformat()),
            **fields,
        }
        submission = ResponseSubmission.model_validate(body)
        return self.service.respond(user, survey_id, submission)


@pytest.fixture
def env(clock: ManualClock) -> Env:
    return Env(clock)


def test_a_trigger_event_creates_one_prompt_even_when_redelivered(env: Env) -> None:
    trip = make_event("trip_completed", at=START)
    prompt_id = env.prompt(event=trip)
    profile = Profile(user_id="ann", first_seen=env.now() - 86_400)
    assert env.service.on_events(profile, [trip], env.now()) == []  # redelivery: same prompt
    stored = env.store.user_surveys("ann").states["nps-after-trip"]
    assert stored.version == 1 and stored.state.prompts == 1
    assert stored.state.pending is not None and stored.state.pending.prompt_id == prompt_id
    assert env.store.last_prompt["ann"] == env.now()


def test_events_that_trigger_nothing_read_nothing(env: Env) -> None:
    class Exploding(InMemorySurveyStore):
        def user_surveys(self, user_id: str) -> Any:
            raise AssertionError("no survey triggered: no read")

    env.service.store = Exploding()
    profile = Profile(user_id="ann")
    assert env.service.on_events(profile, [make_event("session_start")], env.now()) == []


def test_global_fatigue_asks_one_survey_at_a_time(clock: ManualClock) -> None:
    env = Env(clock, survey(), survey(id="nps-after-order", trigger={"event": "trip_completed"}))
    profile = Profile(user_id="ann", first_seen=env.now() - 86_400)
    created = env.service.on_events(profile, [make_event("trip_completed")], env.now())
    assert [p.survey_id for p in created] == ["nps-after-order"]


def test_next_survey_is_localised_and_hidden_when_paused(env: Env) -> None:
    prompt_id = env.prompt()
    shown = env.service.next_for("ann", "nl-BE")
    assert shown is not None
    assert shown["prompt_id"] == prompt_id
    assert shown["questions"]["score"] == "Hoe waarschijnlijk?"
    assert shown["questions"]["reason"]["detractor"] == "What went wrong?"
    assert env.service.next_for("bob", None) is None
    env.catalog.published["nps-after-trip"] = survey(status="paused")
    assert env.service.next_for("ann", "nl") is None
    with pytest.raises(SurveyPaused, match="paused"):
        env.answer(prompt_id, score=9)


def test_parts_merge_and_counters_equal_a_recount(env: Env) -> None:
    prompt_id = env.prompt()
    first = env.answer(prompt_id, response_id="r1", score=3, platform="ios", country="NL")
    assert not first.duplicate and first.routed
    second = env.answer(prompt_id, response_id="r2", reason="Trains were late")
    assert not second.duplicate and not second.routed
    retry = env.answer(prompt_id, response_id="r2", reason="Trains were late")
    assert retry.duplicate
    stored = env.store.get_response("ann", "nps-after-trip", prompt_id)
    assert stored is not None
    assert (stored.state.score, stored.state.reason) == (3, "Trains were late")
    assert env.store.counters.nonzero() == aggregate([stored.state], ("day",)).nonzero()
    state = env.store.user_surveys("ann").states["nps-after-trip"].state
    assert state.pending is None and state.last_answered_at is not None
    assert env.service.next_for("ann", None) is None


def test_a_different_submission_changing_the_answer_is_a_conflict(env: Env) -> None:
    prompt_id = env.prompt()
    env.answer(prompt_id, response_id="r1", score=3)
    with pytest.raises(ResponseConflict, match="score"):
        env.answer(prompt_id, response_id="r9", score=10)
    same = env.answer(prompt_id, response_id="r9", score=3, follow_up="Faster refunds")
    assert not same.duplicate  # the same score again with a comment is fine


def test_wrong_prompt_or_survey_is_not_found(env: Env) -> None:
    prompt_id = env.prompt()
    with pytest.raises(PromptNotFound, match="prompt_id"):
        env.answer(prompt_id, user="mallory", score=0)
    with pytest.raises(PromptNotFound):
        env.answer("p_unknown", score=1)
    with pytest.raises(SurveyNotFound, match="survey_id"):
        env.service.respond(
            "ann",
            "nope",
            ResponseSubmission(response_id="r", prompt_id=prompt_id, answered_at=START, score=1),
        )


def test_detractor_routed_once_and_promoter_event_once(clock: ManualClock) -> None:
    env = Env(clock)
    prompt_id = env.prompt()
    env.answer(prompt_id, response_id="r1", score=2)
    env.answer(prompt_id, response_id="r1", score=2)
    env.answer(prompt_id, response_id="r2", follow_up="Refunds")
    (job,) = [DetractorJob.model_validate_json(b) for b in env.jobs.bodies]
    assert job.prompt_id == prompt_id and job.webhook == "https://tickets.example.com/hook"
    assert env.events.sent == []

    bob = env.prompt("bob")
    env.answer(bob, user="bob", response_id="b1", score=10)
    env.answer(bob, user="bob", response_id="b1", score=10)
    (batch,) = env.events.sent
    (event,) = batch.events
    assert batch.user_id == "bob" and event.name == "nps_promoter"
    assert event.event_id == f"nps.{bob}.promoter"
    assert len(env.jobs.bodies) == 1


def test_an_interrupted_follow_up_is_finished_by_the_retry(env: Env) -> None:
    class Flaky(InMemoryQueue):
        fail = True

        def enqueue(self, body: str) -> None:
            if self.fail:
                self.fail = False
                raise ConnectionError("SQS down")
            super().enqueue(body)

    env.service.detractors = flaky = Flaky()
    prompt_id = env.prompt()
    with pytest.raises(ConnectionError):
        env.answer(prompt_id, response_id="r1", score=1)
    assert flaky.bodies == []
    assert env.answer(prompt_id, response_id="r1", score=1).duplicate
    assert len(flaky.bodies) == 1
    env.answer(prompt_id, response_id="r1", score=1)
    assert len(flaky.bodies) == 1


def test_dismissal_clears_the_prompt_and_is_idempotent(env: Env) -> None:
    prompt_id = env.prompt()
    assert env.service.dismiss("ann", "nps-after-trip", prompt_id) is True
    assert env.service.dismiss("ann", "nps-after-trip", prompt_id) is False
    assert env.service.next_for("ann", None) is None
    with pytest.raises(PromptNotFound):
        env.service.dismiss("bob", "nps-after-trip", prompt_id)


def test_the_processor_creates_prompts_after_saving_the_profile(clock: ManualClock) -> None:
    env = Env(clock, survey(eligibility={"min_events": 2}))
    processing = env.processor()
    body = QueuedBatch(
        user_id="ann",
        received_at=START,
        events=[make_event("session_start"), make_event("trip_completed")],
    ).model_dump_json()
    assert processing.process([("m1", body)]).failures == {}
    assert env.service.next_for("ann", None) is not None
    processing.process([("m1-again", body)])  # redelivery
    assert env.store.user_surveys("ann").states["nps-after-trip"].state.prompts == 1


# --- eligibility segments ------------------------------------------------------------------


def with_plan(user: str, plan: str, env: Env) -> Profile:
    attributes = {"plan": Attribute(value=plan, at=env.now())}
    return Profile(user_id=user, first_seen=env.now() - 86_400, attributes=attributes)


def test_named_segment_comes_from_the_published_campaign_set(clock: ManualClock) -> None:
    env = Env(clock, survey(eligibility={"segment_name": "paying"}))
    paying = Segment.model_validate({"attributes": {"plan": ["pro"]}})
    env.segments.published = CampaignSet(segments={"paying": paying})
    trip = make_event("trip_completed", at=START)
    (asked,) = env.service.on_events(with_plan("ann", "pro", env), [trip], env.now())
    assert asked.survey_id == "nps-after-trip"
    assert env.service.on_events(with_plan("bob", "free", env), [trip], env.now()) == []
    assert "nps-after-trip" not in env.store.user_surveys("bob").states


def test_a_missing_named_segment_asks_nobody_and_logs_why(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nudge.services.nps import surveys as module

    warnings: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def warning(self, message: str, **fields: Any) -> None:
            warnings.append((message, fields))

        def info(self, message: str, **fields: Any) -> None:
            pass

    monkeypatch.setattr(module, "logger", Recorder())
    env = Env(clock, survey(eligibility={"segment_name": "paying"}))  # nothing published
    trip = make_event("trip_completed", at=START)
    assert env.service.on_events(with_plan("ann", "pro", env), [trip], env.now()) == []
    assert warnings == [
        (
            "survey not asked: its segment is not published",
            {
                "survey_id": "nps-after-trip",
                "reason": "unknown_segment",
                "detail": "named segment 'paying' is not published",
            },
        )
    ]
    env.segments.published = CampaignSet(segments={"paying": Segment()})  # published later
    assert len(env.service.on_events(with_plan("ann", "pro", env), [trip], env.now())) == 1


def test_the_segments_are_read_only_for_a_survey_that_has_one(clock: ManualClock) -> None:
    class Exploding(InMemoryCampaignCatalog):
        def current(self) -> CampaignSet:
            raise AssertionError("no survey with a segment: no read")

    env = Env(clock)
    env.service.segments = Exploding()
    assert (
        len(
            env.service.on_events(
                with_plan("ann", "pro", env), [make_event("trip_completed")], env.now()
            )
        )
        == 1
    )


def test_an_inline_segment_sees_the_profile_the_processor_saved(clock: ManualClock) -> None:
    twice = {"behavior": {"event": "trip_completed", "count_gte": 2, "within_days": 7}}
    env = Env(clock, survey(eligibility={"segment": twice}))
    processing = env.processor()

    def trip(message: str) -> None:
        batch = QueuedBatch(
            user_id="ann",
            received_at=clock.now(),
            events=[make_event("trip_completed", at=clock.now())],
        )
        assert processing.process([(message, batch.model_dump_json())]).failures == {}

    trip("m1")
    assert env.service.next_for("ann", None) is None  # one trip so far: outside the segment
    clock.advance(timedelta(hours=1))
    trip("m2")
    assert env.service.next_for("ann", None) is not None


SEGMENTS_YAML = """segments:
  paying: { attributes: { plan: [pro, team] } }
"""
SEGMENTED_SURVEY_YAML = """id: nps-paying
status: active
trigger: { event: trip_completed }
eligibility:
  min_events: 2
  segment_name: paying
questions: { score: "How likely are you to recommend us?" }
"""


def test_survey_publish_checks_its_named_segments_exist(clock: ManualClock) -> None:
    from nudge.services.campaigns.configs import CampaignConfigService
    from nudge.services.configs.store import ConfigStore
    from nudge.services.nps.survey_configs import SurveyConfigService, check_survey_text

    store = ConfigStore(InMemoryConfigTable(), clock, 0)
    surveys = SurveyConfigService(store, clock)
    with pytest.raises(ConfigError) as caught:
        surveys.publish(SEGMENTED_SURVEY_YAML, "surveys/nps-paying.yaml")
    ((problem),) = caught.value.problems
    assert (problem.line, problem.field) == (6, "eligibility.segment_name")
    assert problem.message.startswith("unknown named segment 'paying'")
    check_survey_text(SEGMENTED_SURVEY_YAML, "offline.yaml")  # offline: no segments to check

    campaigns = CampaignConfigService(store, clock)
    campaigns.publish_segments("main", SEGMENTS_YAML, "segments/main.yaml")
    assert surveys.publish(SEGMENTED_SURVEY_YAML, "surveys/nps-paying.yaml").created
    assert surveys.surveys()["nps-paying"].eligibility.segment_name == "paying"

    # a segments file cannot drop a segment a live survey uses...
    without = "segments:\n  other: {}\n"
    with pytest.raises(ConfigError, match="survey 'nps-paying' \\(active\\) uses segment"):
        campaigns.publish_segments("main", without, "segments/main.yaml")
    removed = campaigns.object_removed("segments/main.yaml")
    assert removed.result == "rejected" and "nps-paying" in removed.problems[0].message
    # ...once archived it can; then the survey cannot come back until the segment does
    surveys.set_status("nps-paying", "archived")
    campaigns.publish_segments("main", without, "segments/main.yaml")
    with pytest.raises(ConfigError, match=r"eligibility\.segment_name: unknown named segment"):
        surveys.set_status("nps-paying", "active")
    campaigns.publish_segments("main", SEGMENTS_YAML, "segments/main.yaml")
    head = surveys.set_status("nps-paying", "active")
    assert head is not None and head.status == "active"


# --- erasure -------------------------------------------------------------------------------


def test_erasing_a_user_removes_their_survey_items_and_keeps_the_counters(env: Env) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    ann = env.prompt("ann")
    env.answer(ann, response_id="a1", score=3, reason="Late again")
    bob = env.prompt("bob")
    env.answer(bob, user="bob", response_id="b1", score=10)
    env.clock.advance(timedelta(days=91))  # past the recontact wait: a second, pending prompt
    second = env.prompt("ann", make_event("trip_completed", at=env.clock.now()))
    counters = env.store.counters.nonzero()
    bob_before = (
        env.store.user_surveys("bob"),
        env.store.get_response("bob", "nps-after-trip", bob),
    )

    privacy = PrivacyService(
        env.profiles, InMemoryHistoryStore(), EngagementConfig(), env.clock, surveys=env.store
    )
    erased = privacy.erase("ann")
    assert erased["survey_records_erased"] == 3  # survey state, last-prompt record, response
    assert env.store.user_surveys("ann").states == {}
    assert env.store.user_surveys("ann").last_prompt_at is None
    assert env.store.get_response("ann", "nps-after-trip", ann) is None
    assert env.service.next_for("ann", None) is None  # the pending prompt went too
    with pytest.raises(PromptNotFound):
        env.answer(second, response_id="a2", score=9)  # a late answer writes nothing
    assert env.store.counters.nonzero() == counters  # anonymous counts stay
    assert (
        env.store.user_surveys("bob"),
        env.store.get_response("bob", "nps-after-trip", bob),
    ) == bob_before
    assert privacy.erase("ann")["survey_records_erased"] == 0  # idempotent


def test_the_export_lists_survey_states_and_answers_with_comments_and_erasure_empties_it(
    env: Env,
) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    ann = env.prompt("ann")
    env.answer(ann, response_id="a1", score=3, reason="Late again")
    env.answer(ann, response_id="a2", follow_up="Announce delays")  # a later part, merged
    env.answer(env.prompt("bob"), user="bob", response_id="b1", score=10)
    env.clock.advance(timedelta(days=91))
    pending = env.prompt("ann", make_event("trip_completed", at=env.clock.now()))
    privacy = PrivacyService(
        env.profiles, InMemoryHistoryStore(), EngagementConfig(), env.clock, surveys=env.store
    )

    surveys = privacy.export("ann")["surveys"]

    [state] = surveys["states"]
    assert state["survey_id"] == "nps-after-trip" and state["prompts"] == 2
    assert state["pending"]["prompt_id"] == pending and state["last_answered_at"] is not None
    assert "user_id" not in state
    [answer] = surveys["responses"]  # bob's answer is not in ann's export
    assert answer["prompt_id"] == ann and answer["score"] == 3
    assert (answer["reason"], answer["follow_up"]) == ("Late again", "Announce delays")
    assert answer["answered_at"] == state["last_answered_at"] and "score_set" not in answer
    privacy.erase("ann")
    assert privacy.export("ann")["surveys"] == {"states": [], "responses": []}
    assert len(privacy.export("bob")["surveys"]["responses"]) == 1


# --- reports -------------------------------------------------------------------------------


def test_report_trend_breakdown_themes_and_csv(clock: ManualClock) -> None:
    env = Env(clock)
    comments = ["Trains always late", "Late trains again", "Great live departures", None]
    for i in range(12):
        clock.set(START + timedelta(days=i))
        user = f"u{i}"
        prompt_id = env.prompt(user)
        reason = comments[i % 4]
        env.answer(
            prompt_id,
            user=user,
            response_id=f"r{i}",
            score=i % 11,
            platform="ios",
            **({"reason": reason} if reason else {}),
        )
    reports = NpsReportService(env.store, clock)
    report = reports.report(survey(), "weekly", "platform", 30, min_responses=5)
    assert report["overall"]["n"] == 12
    assert sum(p["n"] for p in report["trend"]) == 12
    assert report["breakdown"][0]["value"] == "ios" and report["breakdown"][0]["n"] == 12
    assert report["trend"][0]["not_enough_responses"] in (True, False)
    assert report["themes"]["comments"] == 9
    assert any("late" in t["name"] or "train" in t["name"] for t in report["themes"]["themes"])
    daily = reports.report(survey(), "daily", None, 7, with_themes=False)
    assert len(daily["trend"]) == 7 and "themes" not in daily
    with pytest.raises(ValueError, match="by:"):
        reports.report(survey(), "weekly", "shoe_size")
    csv_text = reports.export_csv("nps-after-trip", 30)
    assert csv_text.count("\r\n") == 13 and "user_id" not in csv_text.splitlines()[0]


# --- detractor router ------------------------------------------------------------------------


class Poster:
    def __init__(self, statuses: list[int | Exception]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.calls.append((url, body, headers))
        outcome = self.statuses.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_router_signs_retries_by_raising_and_carries_the_latest_answer(env: Env) -> None:
    prompt_id = env.prompt()
    env.answer(prompt_id, response_id="r1", score=4, app_version="5.1.0")
    env.answer(prompt_id, response_id="r2", reason="Too many ads")
    poster = Poster([503, TimeoutError("timed out"), 200])
    router = DetractorRouter(env.store, poster, env.clock, lambda: "s3cret")
    (job,) = env.jobs.bodies
    with pytest.raises(DeliveryFailed, match="503"):
        router.deliver(job)
    with pytest.raises(DeliveryFailed, match="unreachable"):
        router.deliver(job)
    assert router.deliver(job) == "delivered"
    url, body, headers = poster.calls[-1]
    payload = json.loads(body)
    assert url == "https://tickets.example.com/hook"
    assert payload["idempotency_key"] == prompt_id == headers["X-Nudge-Idempotency-Key"]
    assert (payload["score"], payload["reason"], payload["app_version"]) == (
        4,
        "Too many ads",
        "5.1.0",
    )
    assert payload["lifecycle_stage"] is None and payload["user_id"] == "ann"
    assert headers["X-Nudge-Signature"] == signature("s3cret", headers["X-Nudge-Timestamp"], body)
    erased = DetractorJob(
        user_id="gone", survey_id="s", prompt_id="p", webhook="https://x.io", queued_at=0
    )
    assert router.deliver(erased.model_dump_json()) == "gone"


# --- configs -------------------------------------------------------------------------------

SURVEY_YAML = """\
id: nps-after-trip
status: active
trigger: { event: trip_completed }
questions:
  score: How likely are you to recommend us?
"""


def test_survey_configs_publish_pause_and_catalog(clock: ManualClock) -> None:
    from nudge.services.configs.store import ConfigStore
    from nudge.services.nps.survey_configs import SurveyConfigService

    service = SurveyConfigService(ConfigStore(InMemoryConfigTable(), clock, 0), clock)
    result = service.publish(SURVEY_YAML, "surveys/nps-after-trip.yaml")
    assert result.created and result.version == 1
    assert service.surveys()["nps-after-trip"].status.value == "active"
    service.set_status("nps-after-trip", "paused")
    assert service.surveys()["nps-after-trip"].status.value == "paused"
    (row,) = service.list_surveys()
    assert (row["id"], row["status"], row["trigger"]) == (
        "nps-after-trip",
        "paused",
        "trip_completed",
    )
    bad = service.load_object("surveys/other.yaml", b"id: other\nsample_pct: 300\n", None)
    assert bad.result == "rejected"
    assert any(p.field == "sample_pct" and p.line == 2 for p in bad.problems)
    assert service.object_removed("surveys/nps-after-trip.yaml").result == "archived"
    assert service.surveys() == {}


def test_published_survey_schema_is_current() -> None:
    path = Path(__file__).parents[2] / "schemas" / "survey.schema.json"
    assert json.loads(path.read_text()) == survey_json_schema(), "run: make schemas"
