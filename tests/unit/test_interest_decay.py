"""Segments read interest scores with the configured half-life, the same decay ingest uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nudge.clock import DAY, ManualClock
from nudge.domain import campaigns as engine
from nudge.domain.config import EngagementConfig, InterestRule
from nudge.domain.profiles.aggregates import apply_events, top_interests
from nudge.domain.profiles.segments import explain, interest_scores, matches
from nudge.models.broadcast import BroadcastRequest
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.events import IncomingEvent
from nudge.models.profile import InterestScore, Profile
from nudge.models.segment import Segment
from nudge.services.messaging.broadcasts import BroadcastService
from tests.fakes.broadcasts import InMemoryBroadcasts
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryProfileStore

NOW = 1_772_442_000
JAZZ = Segment.model_validate({"interests": {"all": ["jazz"], "min_score": 0.5}})


def fan(age_days: float = 14) -> Profile:
    """Scored 1.0 `age_days` ago: 0.25 now at a 7-day half-life, 0.71 at a 28-day one."""
    as_of = NOW - int(age_days * DAY)
    return Profile(user_id="ann", interests={"jazz": InterestScore(score=1.0, as_of=as_of)})


def test_the_configured_half_life_decides_membership() -> None:
    profile = fan()
    assert not matches(JAZZ, profile, NOW, {}, half_life_days=7)
    assert matches(JAZZ, profile, NOW, {}, half_life_days=28)
    assert explain(JAZZ, profile, NOW, {}, half_life_days=7) == "interests jazz missing"
    # nested and named segments are evaluated with the same half-life
    named = {"jazz-fans": JAZZ}
    wrapped = Segment.model_validate({"all": [{"segment": "jazz-fans"}]})
    assert not matches(wrapped, profile, NOW, named, half_life_days=7)
    assert matches(wrapped, profile, NOW, named, half_life_days=28)


def test_segments_decay_exactly_as_ingest_does() -> None:
    rule = InterestRule(event="play", interest="jazz", weight=1.0)
    for half_life in (7.0, 28.0):
        config = EngagementConfig(interests=(rule,), interest_half_life_days=half_life)
        played = [
            IncomingEvent.model_validate(
                {
                    "event_id": f"e{i}",
                    "name": "play",
                    "timestamp": datetime.fromtimestamp(NOW - i * 5 * DAY, UTC).isoformat(),
                }
            )
            for i in range(4)
        ]
        profile = apply_events(Profile(user_id="ann"), played, config, NOW)
        later = NOW + 10 * DAY
        assert interest_scores(profile, later, half_life) == dict(
            top_interests(profile, later, config)
        )


@pytest.mark.parametrize(("half_life", "expected"), [(7.0, "suppress"), (28.0, "send")])
def test_campaign_audience_uses_the_context_half_life(half_life: float, expected: str) -> None:
    campaign = Campaign.model_validate(
        {
            "id": "jazz-night",
            "name": "Jazz",
            "category": "marketing",
            "status": "active",
            "trigger": {"event": {"name": "browse"}},
            "variants": [{"id": "a", "title": "T", "body": "B"}],
            "audience": {"interests": {"all": ["jazz"], "min_score": 0.5}},
        }
    )
    ctx = engine.Context(
        now=NOW,
        zone="UTC",
        named={},
        caps={},
        consent=lambda: {"marketing": True},
        interest_half_life_days=half_life,
    )
    decision = engine.decide(engine.Candidate(campaign, "e:1", NOW), fan(), ctx)
    assert decision.action == expected
    if expected == "suppress":
        assert decision.reason == "audience"


@pytest.mark.parametrize(("half_life", "reached"), [(7.0, []), (28.0, ["ann"])])
def test_broadcast_segment_target_uses_the_configured_half_life(
    half_life: float, reached: list[str]
) -> None:
    fake = InMemoryBroadcasts(["ann"])
    profiles = InMemoryProfileStore()
    assert profiles.save(fan(), None, 1)
    svc = BroadcastService(
        fake,
        fake,
        fake,
        fake,
        ManualClock(datetime.fromtimestamp(NOW, UTC)),
        profiles=profiles,
        catalog=InMemoryCampaignCatalog(CampaignSet()),
        interest_half_life_days=half_life,
    )
    svc.create(
        BroadcastRequest.model_validate(
            {
                "template": {
                    "id": "t",
                    "category": "internal",
                    "text": {"en": {"title": "T", "body": "B"}},
                },
                "target": {"segment": {"interests": {"all": ["jazz"], "min_score": 0.5}}},
                "dedupe_key": "jazz-1",
                "rate_per_minute": 600,
            }
        )
    )
    while fake.scheduled:
        step, _ = fake.scheduled.pop(0)
        svc.run_step(step)
    assert [json.loads(job)["user_id"] for job in fake.jobs] == reached
