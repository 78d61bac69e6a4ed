"""Auto-pause: a campaign whose opt-out rate crosses the limit is paused, and ops are told.

Run on the scheduler tick. For every active campaign the counters of the last
`pause_window_days` days - and only from the day of its last status change or publish on,
so a campaign a person resumed is judged on fresh evidence - go through the domain's
`pause_decision` (a minimum sample of delivered messages, the limit compared exactly). A
campaign to pause is paused through the same path as `nudge campaign pause` (the config
store), with the decision as its recorded reason; then an alert goes to the SNS topic and/or
the webhook. A paused campaign is no longer active, so it is paused (and alerted) once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import totals
from nudge.domain.engagement.guardrails import PauseDecision, pause_decision
from nudge.domain.profiles.aggregates import day_of
from nudge.services.campaigns.configs import CampaignConfigService
from nudge.services.engagement.reports import DAY, ReportsService, rate_json
from nudge.services.ports import Alerts


@dataclass
class AutoPauseOutcome:
    decisions: list[PauseDecision] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    alert_failures: list[str] = field(default_factory=list)


@dataclass
class AutoPauseService:
    reports: ReportsService
    campaigns: CampaignConfigService
    alerts: Alerts | None
    config: AnalyticsConfig
    clock: Clock

    def run(self) -> AutoPauseOutcome:
        outcome = AutoPauseOutcome()
        if not self.config.auto_pause:
            return outcome
        published = self.reports.published_campaigns()
        active = {cid: c for cid, c in published.items() if c.status == "active"}
        if not active:
            return outcome
        now = to_epoch(self.clock.now())
        period = self.reports.period(self.config.pause_window_days, active)
        for cid in sorted(active):
            head = self.campaigns.store.head("campaign", cid)
            since = max(period.first, day_of(head.updated_at) if head else period.first)
            start = day_key(since * DAY)
            counts = totals(period.cells, "campaign", start, period.end).get(cid, {})
            decision = pause_decision(cid, counts, self.config)
            outcome.decisions.append(decision)
            if not decision.pause:
                continue
            stamp = datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds")
            reason = (
                f"auto-paused {stamp}: {decision.reason} "
                f"(days {start} to {period.end}, at least {decision.min_sample} delivered)"
            )
            moved = self.campaigns.set_status(cid, "paused", reason=reason)
            if moved is None or moved.status != "paused":
                continue
            outcome.paused.append(cid)
            if self.alerts is not None:
                failed = self.alerts.send(
                    f"Nudge: campaign {cid} auto-paused", self._alert(decision, reason, start)
                )
                outcome.alert_failures += [f"{cid}: {where}" for where in failed]
        return outcome

    def _alert(self, decision: PauseDecision, reason: str, start: str) -> dict[str, Any]:
        return {
            "type": "campaign_auto_paused",
            "campaign_id": decision.campaign,
            "reason": reason,
            "opt_out_rate": rate_json(decision.opt_out_rate),
            "threshold_pct": decision.threshold_pct,
            "min_sample": decision.min_sample,
            "since": start,
            "resume_with": f"nudge campaign resume {decision.campaign}",
        }
