"""Auto-pause on the scheduler tick: over the limit with enough sample pauses (once, through
the config store, reason recorded) and alerts; too small a sample or a fresh resume does not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from nudge.adapters.webhooks import OpsAlerts
from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.counters import counter_name
from nudge.services.campaigns.configs import CampaignConfigService
from nudge.services.configs.store import ConfigStore
from nudge.services.engagement.auto_pause import AutoPauseService
from nudge.services.engagement.reports import ReportsService
from tests.fakes.memory import InMemoryConfigTable, InMemoryProfileStore
from tests.unit.test_campaign_configs import campaign_yaml

CONFIG = AnalyticsConfig(min_sample=200, pause_opt_out_pct=2.0, pause_window_days=7)


class RecordingAlerts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, subject: str, message: dict[str, Any]) -> list[str]:
        self.sent.append((subject, message))
        return []


class Harness:
    def __init__(self, clock: ManualClock, config: AnalyticsConfig = CONFIG) -> None:
        self.clock = clock
        self.store = ConfigStore(InMemoryConfigTable(), clock, cache_ttl_s=0)
        self.configs = CampaignConfigService(self.store, clock)
        for cid in ("welcome", "tips"):
            loaded = self.configs.load_object(
                f"campaigns/{cid}.yaml", campaign_yaml(cid).encode(), None
            )
            assert loaded.result == "loaded"
        self.profiles = InMemoryProfileStore()
        self.reports = ReportsService(self.profiles, clock, self.store, config)
        self.alerts = RecordingAlerts()
        self.service = AutoPauseService(self.reports, self.configs, self.alerts, config, clock)

    def count(self, cid: str, days_ago: int = 0, **fields: int) -> None:
        at = to_epoch(self.clock.now()) - days_ago * 86_400
        self.profiles.named_counters[counter_name(cid, at)].update(
            {k.replace("__", "."): v for k, v in fields.items()}
        )

    def status(self, cid: str) -> tuple[str, str | None]:
        head = self.store.head("campaign", cid)
        assert head is not None
        return head.status, head.status_reason


@pytest.fixture
def harness(clock: ManualClock) -> Harness:
    h = Harness(clock)
    clock.advance(timedelta(days=1))  # counters from the days after the publish
    return h


def test_over_the_limit_with_enough_sample_pauses_records_why_and_alerts(harness: Harness) -> None:
    harness.count("welcome", delivered__a=120, opt_out__a__category=3)
    harness.count("welcome", days_ago=1, delivered__a=80, opt_out__a__permission=2)  # 5 of 200
    harness.count("tips", delivered__a=200, opt_out__a__category=4)  # exactly 2 %: tolerated
    outcome = harness.service.run()
    assert outcome.paused == ["welcome"]
    status, reason = harness.status("welcome")
    assert status == "paused" and reason is not None
    assert "auto-paused" in reason and "above the 2% limit" in reason and "5 of 200" in reason
    assert harness.status("tips") == ("active", None)
    ((subject, message),) = harness.alerts.sent
    assert "welcome" in subject and message["opt_out_rate"]["count"] == 5
    assert message["resume_with"] == "nudge campaign resume welcome"
    # paused campaigns are not judged again: one pause, one alert
    assert harness.service.run().paused == [] and len(harness.alerts.sent) == 1
    # the campaign left the published active set: no further sends are decided for it
    assert harness.store.current().campaigns["welcome"].status == "paused"


def test_too_small_a_sample_never_pauses(harness: Harness) -> None:
    harness.count("welcome", delivered__a=199, opt_out__a__category=100)
    outcome = harness.service.run()
    assert outcome.paused == [] and harness.alerts.sent == []
    decision = next(d for d in outcome.decisions if d.campaign == "welcome")
    assert decision.reason.startswith("not enough data: 199 delivered, 200 needed")


def test_no_counters_at_all_is_not_enough_data(harness: Harness) -> None:
    outcome = harness.service.run()
    assert [d.pause for d in outcome.decisions] == [False, False]


def test_a_resumed_campaign_is_judged_on_evidence_since_the_resume(harness: Harness) -> None:
    harness.count("welcome", delivered__a=300, opt_out__a__category=30)
    assert harness.service.run().paused == ["welcome"]
    harness.clock.advance(timedelta(days=1))
    harness.configs.set_status("welcome", "active")  # a person resumes it: reason cleared
    assert harness.status("welcome") == ("active", None)
    assert harness.service.run().paused == []  # yesterday's opt-outs are not held against it
    harness.count("welcome", delivered__a=250, opt_out__a__category=10)
    assert harness.service.run().paused == ["welcome"]


def test_evidence_older_than_the_window_is_left_out(clock: ManualClock) -> None:
    h = Harness(clock)
    clock.advance(timedelta(days=10))
    h.count("welcome", days_ago=8, delivered__a=300, opt_out__a__category=30)
    assert h.service.run().paused == []


def test_auto_pause_can_be_switched_off(clock: ManualClock) -> None:
    h = Harness(clock, AnalyticsConfig(min_sample=10, auto_pause=False))
    clock.advance(timedelta(days=1))
    h.count("welcome", delivered__a=300, opt_out__a__category=30)
    assert h.service.run().paused == []


# --- alerts ---------------------------------------------------------------------------------


class FakeSns:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = fail

    def publish(self, **kwargs: Any) -> None:
        if self.fail:
            raise ConnectionError("sns down")
        self.published.append(kwargs)


class FakePoster:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, bytes]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.posts.append((url, body))
        return self.status


def test_alerts_go_to_sns_and_the_webhook_and_report_failures() -> None:
    sns, poster = FakeSns(), FakePoster()
    alerts = OpsAlerts("arn:aws:sns:us-east-1:1:alarms", "https://hooks.test/x", sns, poster)
    assert alerts.send("subject", {"campaign_id": "welcome"}) == []
    assert sns.published[0]["TopicArn"].endswith(":alarms")
    assert b'"campaign_id": "welcome"' in poster.posts[0][1]
    failing = OpsAlerts("arn:aws:sns:us-east-1:1:alarms", "https://hooks.test/x", FakeSns(True))
    failing._poster = FakePoster(500)
    failures = failing.send("subject", {})
    assert [f.split(":")[0] for f in failures] == ["sns", "webhook"]
    plain_http = OpsAlerts("", "http://hooks.test/x", poster=FakePoster())
    assert plain_http.send("s", {}) == ["webhook: the URL must be https (http only on loopback)"]
