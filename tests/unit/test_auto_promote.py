"""auto_promote on the scheduler tick: a clear winner takes all non-holdout traffic, recorded
with its evidence on the campaign's pointer (so every Lambda reads it from the catalog); no
winner, too little data or the flag off promotes nothing; a person's revert restores the split
and only evidence gathered after it can promote again; a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nudge.clock import ManualClock, day_key, to_epoch
from nudge.domain.campaigns.rules import in_holdout, pick_variant
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.counters import counter_name
from nudge.models.campaign import Campaign
from nudge.services.campaigns.configs import CampaignConfigService
from nudge.services.configs.store import ConfigStore
from nudge.services.engagement.auto_promote import AutoPromoteService
from nudge.services.engagement.reports import ReportsService
from tests.fakes.memory import InMemoryConfigTable, InMemoryProfileStore

CONFIG = AnalyticsConfig(min_lift_group=100)
USERS = [f"user-{i}" for i in range(400)]


def campaign_yaml(cid: str = "promo", auto_promote: bool = True, body: str = "Come back") -> str:
    return f"""\
id: {cid}
name: Promo
category: transactional
status: active
holdout_pct: 10
auto_promote: {str(auto_promote).lower()}
trigger:
  event: {{ name: signed_up }}
variants:
  - id: a
    title: Hello
    body: {body}
  - id: b
    title: Hello again
    body: {body}
"""


class Harness:
    def __init__(self, clock: ManualClock, auto_promote: bool = True) -> None:
        self.clock = clock
        self.store = ConfigStore(InMemoryConfigTable(), clock, cache_ttl_s=0)
        self.configs = CampaignConfigService(self.store, clock)
        self.publish(campaign_yaml(auto_promote=auto_promote))
        self.profiles = InMemoryProfileStore()
        self.reports = ReportsService(self.profiles, clock, self.store, CONFIG)
        self.service = AutoPromoteService(self.reports, self.configs, CONFIG, clock)

    def publish(self, text: str) -> None:
        loaded = self.configs.load_object("campaigns/promo.yaml", text.encode(), None)
        assert loaded.result == "loaded", loaded

    def count(self, days_ago: int = 0, **fields: int) -> None:
        at = to_epoch(self.clock.now()) - days_ago * 86_400
        self.profiles.named_counters[counter_name("promo", at)].update(
            {k.replace("__", "."): v for k, v in fields.items()}
        )

    def live(self) -> Campaign:
        return self.store.current().campaigns["promo"]


@pytest.fixture
def harness(clock: ManualClock) -> Harness:
    h = Harness(clock)
    clock.advance(timedelta(days=1))  # counters from the days after the publish
    return h


def clear_b_win(harness: Harness, days_ago: int = 0) -> None:
    harness.count(days_ago, sent__a=400, converted__a=40, sent__b=400, converted__b=100)


def test_a_clear_winner_takes_all_traffic_but_the_holdout(harness: Harness) -> None:
    before = [pick_variant(harness.live(), user) for user in USERS]
    assert set(before) == {"a", "b"}  # split as configured
    clear_b_win(harness)
    outcome = harness.service.run()
    assert outcome.promoted == ["promo"]
    live = harness.live()
    assert live.promoted_variant == "b"
    assert {pick_variant(live, user) for user in USERS} == {"b"}
    # the holdout is decided before the variant and does not move
    assert [in_holdout(live, u) for u in USERS] == [in_holdout(harness.live(), u) for u in USERS]


def test_the_promotion_is_recorded_with_its_evidence(harness: Harness) -> None:
    clear_b_win(harness)
    harness.count(days_ago=1, sent__a=10, converted__a=1)  # the publish day counts too
    harness.service.run()
    head = harness.store.head("campaign", "promo")
    assert head is not None and head.promotion is not None
    record = head.promotion
    assert (record.variant, record.version, record.at) == ("b", 1, to_epoch(harness.clock.now()))
    assert record.ended_at is None and record.in_effect
    assert record.until == day_key(to_epoch(harness.clock.now()))
    rates = record.evidence["rates"]
    assert (rates["a"]["count"], rates["a"]["n"]) == (41, 410)
    assert (rates["b"]["count"], rates["b"]["n"]) == (100, 400)
    (pair,) = record.evidence["pairs"]
    assert (pair["a"], pair["b"], pair["verdict"]) == ("a", "b", "b_better")
    assert pair["ci_high_pts"] < 0  # a minus b: the adjusted interval lies below 0
    report = harness.reports.campaign("promo", 7)
    assert report["promotion"]["variant"] == "b" and report["promotion"]["in_effect"]
    assert report["promotion"]["evidence"]["pairs"][0]["ci_high_pts"] == pair["ci_high_pts"]


@pytest.mark.parametrize(
    "counts",
    [
        {"sent__a": 400, "converted__a": 40, "sent__b": 400, "converted__b": 48},  # not clear
        {"sent__a": 60, "converted__a": 3, "sent__b": 60, "converted__b": 40},  # too few sends
    ],
    ids=["no-clear-winner", "not-enough-data"],
)
def test_no_clear_winner_promotes_nothing(harness: Harness, counts: dict[str, int]) -> None:
    harness.count(**counts)
    assert harness.service.run().promoted == []
    head = harness.store.head("campaign", "promo")
    assert head is not None and head.promotion is None
    assert harness.live().promoted_variant is None


def test_off_by_default(clock: ManualClock) -> None:
    harness = Harness(clock, auto_promote=False)
    assert Campaign.model_fields["auto_promote"].default is False
    clock.advance(timedelta(days=1))
    clear_b_win(harness)
    assert harness.service.run().promoted == []
    assert harness.live().promoted_variant is None


def test_running_twice_changes_nothing(harness: Harness) -> None:
    clear_b_win(harness)
    assert harness.service.run().promoted == ["promo"]
    first = harness.store.head("campaign", "promo")
    harness.clock.advance(timedelta(minutes=15))
    harness.count(sent__a=50, converted__a=5, sent__b=50, converted__b=12)
    assert harness.service.run().promoted == []
    assert harness.store.head("campaign", "promo") == first


def test_a_revert_restores_the_split_and_needs_new_evidence(harness: Harness) -> None:
    clear_b_win(harness)
    harness.service.run()
    harness.clock.advance(timedelta(hours=2))
    reverted = harness.configs.unpromote("promo")
    assert reverted is not None and reverted.promotion is not None
    assert reverted.promotion.ended_at == to_epoch(harness.clock.now())
    assert not reverted.promotion.in_effect
    assert {pick_variant(harness.live(), user) for user in USERS} == {"a", "b"}
    assert harness.configs.unpromote("promo") == reverted  # idempotent
    # the evidence that promoted b is still there, but it is not judged again...
    harness.clock.advance(timedelta(days=1))
    assert harness.service.run().promoted == []
    assert harness.live().promoted_variant is None
    # ...only what was counted after the revert day: here a clearly wins
    harness.count(sent__a=300, converted__a=90, sent__b=300, converted__b=30)
    assert harness.service.run().promoted == ["promo"]
    assert harness.live().promoted_variant == "a"


def test_a_new_version_ends_the_promotion_and_keeps_the_record(harness: Harness) -> None:
    clear_b_win(harness)
    harness.service.run()
    harness.publish(campaign_yaml(body="Come back soon"))
    head = harness.store.head("campaign", "promo")
    assert head is not None and head.version == 2
    assert head.promotion is not None and head.promotion.variant == "b"
    assert head.promotion.ended_at is not None and "version 2" in (head.promotion.ended_by or "")
    assert harness.live().promoted_variant is None
    # the old version's counters do not promote the new one on the same day
    assert harness.service.run().promoted == []


def test_unknown_campaign_cannot_be_unpromoted(harness: Harness) -> None:
    assert harness.configs.unpromote("nope") is None


def test_a_paused_campaign_keeps_its_promotion(harness: Harness) -> None:
    clear_b_win(harness)
    harness.service.run()
    harness.configs.set_status("promo", "paused")
    harness.configs.set_status("promo", "active")
    assert harness.live().promoted_variant == "b"


def test_the_file_cannot_set_a_promotion() -> None:
    from nudge.configfiles import ConfigError, load_config

    with pytest.raises(ConfigError, match="promoted"):
        load_config(campaign_yaml() + "promoted_variant: b\n", Campaign, "campaigns/promo.yaml")


def test_the_report_and_the_cli_show_the_promotion_and_how_to_revert(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    from nudge.api.admin_models import CampaignReport
    from nudge_cli import printers

    clear_b_win(harness)
    harness.service.run()
    report = harness.reports.campaign("promo", 7)
    CampaignReport.model_validate(report)  # the admin OpenAPI shape
    printers.print_campaign(report)
    out = capsys.readouterr().out
    assert "Auto-promoted b at" in out and "a 10.0% of 400, b 25.0% of 400" in out
    assert "adjusted CI" in out and "nudge campaign unpromote promo" in out
    harness.configs.unpromote("promo")
    printers.print_campaign(harness.reports.campaign("promo", 7))
    assert "ended" in capsys.readouterr().out
