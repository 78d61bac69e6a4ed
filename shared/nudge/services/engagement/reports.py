"""Admin reports, read from counters kept exactly with each profile write (no scans).

Campaign reports read the campaign day counters of the period (one BatchGetItem per 100
counter shards) and the domain judges them: rates, lift (domain/lift.py), guard rails and
sunset advice (domain/guardrails.py). Rates are None ("n/a") where nothing was delivered:
never NaN, never a ZeroDivisionError, for empty periods and campaigns without sends alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import NOT_CAMPAIGNS, OTHER_MESSAGES, Cell, unattributed
from nudge.domain.engagement.counters import cells_of, counter_name, fields_under, format_of, merge
from nudge.domain.engagement.guardrails import (
    GuardRail,
    guard_rails,
    open_rate,
    opt_out_rate,
    sunset_advice,
)
from nudge.domain.engagement.lift import Lift, campaign_lift
from nudge.domain.engagement.variants import (
    VariantComparison,
    campaign_variant_rates,
    compare_variants,
)
from nudge.domain.profiles.aggregates import day_of
from nudge.domain.stats import Rate
from nudge.models.campaign import Campaign
from nudge.models.profile import Stage
from nudge.services.campaigns.configs import promotion_json
from nudge.services.ports import CampaignCatalog, ProfileStore

DAY = 86_400


class UnknownCampaign(LookupError):
    pass


def rate_json(rate: Rate) -> dict[str, Any]:
    """A rate for JSON: pct rounded, None (never NaN) without a denominator."""
    pct = rate.pct
    interval = rate.interval_pct
    return {
        "count": rate.count,
        "n": rate.n,
        "pct": None if pct is None else round(pct, 2),
        "ci_pct": None if interval is None else [round(interval[0], 2), round(interval[1], 2)],
        "label": rate.label,
    }


def _pts(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def lift_json(result: Lift) -> dict[str, Any]:
    return {
        "variant": result.variant,
        "exposed": rate_json(result.exposed),
        "holdout": rate_json(result.holdout),
        "diff_pts": _pts(result.diff_pts),
        "ci_low_pts": _pts(result.ci_low_pts),
        "ci_high_pts": _pts(result.ci_high_pts),
        "verdict": result.verdict,
        "label": result.label,
    }


def variant_comparison_json(result: VariantComparison) -> dict[str, Any]:
    return {
        "method": result.method,
        "confidence": round(result.confidence, 4),
        "rates": {name: rate_json(rate) for name, rate in result.rates.items()},
        "pairs": [
            {
                "a": pair.a,
                "b": pair.b,
                "diff_pts": _pts(pair.diff_pts),
                "ci_low_pts": _pts(pair.ci_low_pts),
                "ci_high_pts": _pts(pair.ci_high_pts),
                "verdict": pair.verdict,
            }
            for pair in result.pairs
        ],
        "winner": result.winner,
        "label": result.label,
    }


def guard_rail_json(row: GuardRail | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "open_vs_baseline_pts": _pts(row.open_vs_baseline_pts),
        "opt_out_vs_baseline_pts": _pts(row.opt_out_vs_baseline_pts),
        "baseline_open": rate_json(row.baseline_open),
        "baseline_opt_out": rate_json(row.baseline_opt_out),
        "enough_sample": row.enough,
        "evidence": row.evidence,
    }


def _detail_totals(counters: Mapping[str, int], kind: str) -> dict[str, int]:
    """'failed.<variant>.<code>' summed per code (or per opt-out kind)."""
    result: Counter[str] = Counter()
    for key, value in fields_under(counters, f"{kind}.").items():
        result[key.partition(".")[2] or "unknown"] += value
    return dict(sorted(result.items(), key=lambda item: (-item[1], item[0])))


def _per_variant(counters: Mapping[str, int], kind: str) -> dict[str, int]:
    result: Counter[str] = Counter()
    for key, value in fields_under(counters, f"{kind}.").items():
        result[key.partition(".")[0]] += value
    return dict(result)


def campaign_summary(counters: dict[str, int]) -> dict[str, Any]:
    """One campaign's counters (summed over days) as a marketer reads them."""
    sent = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("sent.")}
    converted = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("converted.")}
    suppressed = {
        k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("suppressed.") and v
    }
    holdout = counters.get("holdout", 0)
    delivered = {k: v for k, v in counters.items() if k.startswith("delivered.")}
    delivered_by = {k.split(".", 1)[1]: v for k, v in delivered.items()}
    opened_by = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("opened.")}
    failed_by = _per_variant(counters, "failed")
    opt_out_by = _per_variant(counters, "opt_out")
    names = sorted(set(sent) | set(delivered_by) | set(opened_by) | set(opt_out_by))
    variants = {}
    for variant in names:
        count = sent.get(variant, 0)
        base = {"opened": opened_by.get(variant, 0), "delivered": delivered_by.get(variant, 0)}
        variants[variant] = {
            "sent": count,
            "converted": converted.get(variant, 0),
            "conversion_pct": round(100 * converted.get(variant, 0) / count, 1) if count else None,
            "delivered": base["delivered"],
            "failed": failed_by.get(variant, 0),
            "opened": base["opened"],
            "opt_outs": opt_out_by.get(variant, 0),
            "open_rate": rate_json(open_rate(base)),
            "opt_out_rate": rate_json(
                opt_out_rate({"opt_out": opt_out_by.get(variant, 0), **base})
            ),
        }
    totals = {
        "delivered": sum(delivered_by.values()),
        "opened": sum(opened_by.values()),
        "opt_out": sum(opt_out_by.values()),
    }
    return {
        "targeted": counters.get("targeted", 0),
        "sent": sum(sent.values()),
        "delivered": totals["delivered"],
        "failed": sum(failed_by.values()),
        "opened": totals["opened"],
        "converted": sum(v for k, v in converted.items() if k != "holdout"),
        "holdout": holdout,
        "holdout_converted": converted.get("holdout", 0),
        "holdout_conversion_pct": (
            round(100 * converted.get("holdout", 0) / holdout, 1) if holdout else None
        ),
        "suppressed": dict(sorted(suppressed.items(), key=lambda item: (-item[1], item[0]))),
        "failures": _detail_totals(counters, "failed"),
        "opt_outs": totals["opt_out"],
        "opt_outs_by_kind": _detail_totals(counters, "opt_out"),
        "open_rate": rate_json(open_rate(totals)),
        "opt_out_rate": rate_json(opt_out_rate(totals)),
        "waiting": counters.get("waiting", 0),
        "variants": variants,
    }


@dataclass
class Period:
    """Days first..last (UTC day numbers, inclusive) with their counters read once."""

    first: int
    last: int
    raw: dict[str, dict[str, int]]  # campaign id -> fields summed over the period
    cells: dict[Cell, Counter[str]] = field(default_factory=dict)

    @property
    def start(self) -> str:
        return day_key(self.first * DAY)

    @property
    def end(self) -> str:
        return day_key(self.last * DAY)


@dataclass
class ReportsService:
    profiles: ProfileStore
    clock: Clock
    catalog: CampaignCatalog | None = None
    config: AnalyticsConfig = field(default_factory=AnalyticsConfig)

    def published_campaigns(self) -> dict[str, Campaign]:
        return dict(self.catalog.current().campaigns) if self.catalog else {}

    def period(self, days: int, published: Mapping[str, Campaign] | None = None) -> Period:
        """The counters of the last `days` days (today included) of every published campaign
        and of the opt-outs blamed on no campaign, as raw totals and as domain cells."""
        published = self.published_campaigns() if published is None else published
        today = day_of(to_epoch(self.clock.now()))
        first = today - days + 1
        ids = [*sorted(published), *sorted(NOT_CAMPAIGNS)]
        names = {
            counter_name(cid, day * DAY): (cid, day)
            for cid in ids
            for day in range(first, today + 1)
        }
        period = Period(first, today, {cid: {} for cid in ids})
        for name, counts in self.profiles.counters(list(names)).items():
            cid, day = names[name]
            raw = Counter(period.raw[cid])
            raw.update(counts)
            period.raw[cid] = dict(raw)
            campaign = published.get(cid)
            formats = {v.id: format_of(v.image) for v in campaign.variants} if campaign else {}
            category = campaign.category if campaign else ""
            merge(period.cells, cells_of(cid, day_key(day * DAY), counts, formats, category))
        return period

    def campaigns(self, days: int) -> dict[str, Any]:
        """Per campaign over the last `days` days: the funnel per variant, suppressions by
        reason, holdout and conversions, open and opt-out rates against the app's baseline,
        and lift (from counters kept with each profile write and each delivery; no scans)."""
        now = to_epoch(self.clock.now())
        published = self.published_campaigns()
        period = self.period(days, published)
        rails = {(row.kind, row.key): row for row in guard_rails(period.cells, self.config)}
        formats = {
            key: {
                "open_rate": rate_json(row.open_rate),
                "opt_out_rate": rate_json(row.opt_out_rate),
                **(guard_rail_json(row) or {}),
            }
            for (kind, key), row in sorted(rails.items())
            if kind == "format"
        }
        campaigns = {}
        daily = self._daily_by_campaign(period)
        for cid in sorted(published):
            lift = campaign_lift(period.cells, cid, self.config)
            campaigns[cid] = {
                "name": published[cid].name,
                "status": published[cid].status,
                "category": published[cid].category,
                **campaign_summary(period.raw[cid]),
                "lift": lift_json(lift),
                "variant_comparison": variant_comparison_json(
                    self._comparison(period, published[cid])
                ),
                "promotion": promotion_json(published[cid].promotion),
                "guard_rail": guard_rail_json(rails.get(("campaign", cid))),
                "daily": daily.get(cid) or self._day_rows(period, {}),
            }
        return {
            "as_of": now,
            "days": days,
            "since": period.start,
            "until": period.end,
            "campaigns": campaigns,
            "formats": formats,
            "unattributed_opt_outs": dict(unattributed(period.cells)),
            # blamed on a broadcast, a transactional or an API message
            "other_message_opt_outs": dict(unattributed(period.cells, pool=OTHER_MESSAGES)),
        }

    def campaign(self, campaign_id: str, days: int) -> dict[str, Any]:
        """One campaign: funnel, suppressions by reason, failures by code, lift (pooled and
        per variant) with its interval and verdict, opt-outs by kind, guard rails."""
        published = self.published_campaigns()
        campaign = published.get(campaign_id)
        if campaign is None:
            raise UnknownCampaign(f"campaign_id: no published campaign {campaign_id!r}")
        period = self.period(days, published)
        summary = campaign_summary(period.raw[campaign_id])
        rails = {(r.kind, r.key): r for r in guard_rails(period.cells, self.config)}
        funnel = [
            {"step": step, "count": summary[step]}
            for step in ("targeted", "sent", "delivered", "opened", "converted")
        ]
        variant_lifts = {
            v.id: lift_json(campaign_lift(period.cells, campaign_id, self.config, v.id))
            for v in campaign.variants
        }
        comparison = self._comparison(period, campaign)
        return {
            "as_of": to_epoch(self.clock.now()),
            "days": days,
            "since": period.start,
            "until": period.end,
            "id": campaign_id,
            "name": campaign.name,
            "status": campaign.status,
            "category": campaign.category,
            "formats": {v.id: format_of(v.image) for v in campaign.variants},
            "funnel": funnel,
            **summary,
            "lift": lift_json(campaign_lift(period.cells, campaign_id, self.config)),
            "variant_lift": variant_lifts,
            "variant_comparison": variant_comparison_json(comparison),
            "promotion": promotion_json(campaign.promotion),  # auto_promote's, if any
            "guard_rail": guard_rail_json(rails.get(("campaign", campaign_id))),
            "daily": self._daily(period, campaign_id),
        }

    def _comparison(self, period: Period, campaign: Campaign) -> VariantComparison:
        variants = [v.id for v in campaign.variants]
        rates = campaign_variant_rates(period.cells, campaign.id, variants)
        return compare_variants(rates, self.config.min_lift_group)

    def _daily(self, period: Period, campaign_id: str | None) -> list[dict[str, Any]]:
        """Sent, delivered, opened and opt-outs per day (every day of the period, zeros kept)."""
        by_day: dict[str, Counter[str]] = {}
        for cell, counts in period.cells.items():
            if campaign_id is not None and cell.campaign != campaign_id:
                continue
            if campaign_id is None and cell.campaign in NOT_CAMPAIGNS:
                continue
            by_day.setdefault(cell.day, Counter()).update(counts)
        return self._day_rows(period, by_day)

    def _daily_by_campaign(self, period: Period) -> dict[str, list[dict[str, Any]]]:
        """_daily for every campaign at once: one pass over the period's cells."""
        by_campaign: dict[str, dict[str, Counter[str]]] = {}
        for cell, counts in period.cells.items():
            by_day = by_campaign.setdefault(cell.campaign, {})
            by_day.setdefault(cell.day, Counter()).update(counts)
        return {cid: self._day_rows(period, by_day) for cid, by_day in by_campaign.items()}

    @staticmethod
    def _day_rows(period: Period, by_day: dict[str, Counter[str]]) -> list[dict[str, Any]]:
        rows = []
        for day in range(period.first, period.last + 1):
            key = day_key(day * DAY)
            counts = by_day.get(key, Counter())
            rows.append(
                {
                    "day": key,
                    **{k: counts.get(k, 0) for k in ("sent", "delivered", "opened", "opt_out")},
                }
            )
        return rows

    def engagement_daily(self, days: int) -> dict[str, Any]:
        """Every published campaign pooled, per day: the trend behind the HTML report."""
        period = self.period(days)
        return {"since": period.start, "until": period.end, "daily": self._daily(period, None)}

    def sunset(self, days: int) -> dict[str, Any]:
        """Campaigns and formats weak on opens and strong on opt-outs, worst first."""
        period = self.period(days)
        advice = sunset_advice(period.cells, self.config)
        return {
            "as_of": to_epoch(self.clock.now()),
            "days": days,
            "since": period.start,
            "until": period.end,
            "summary": advice.summary,
            "min_sample": self.config.min_sample,
            "candidates": [
                {
                    "kind": c.kind,
                    "key": c.key,
                    "open_rate": rate_json(c.open_rate),
                    "opt_out_rate": rate_json(c.opt_out_rate),
                    "baseline_open": rate_json(c.baseline_open),
                    "baseline_opt_out": rate_json(c.baseline_opt_out),
                    "open_shortfall_pts": round(c.open_shortfall_pts, 2),
                    "opt_out_excess_pts": round(c.opt_out_excess_pts, 2),
                    "evidence": c.evidence,
                }
                for c in advice.ranked
            ],
            "not_judged": [
                {"kind": kind, "key": key, "delivered": n} for kind, key, n in advice.too_small
            ],
        }

    def lifecycle(self, days: int) -> dict[str, Any]:
        """Users per stage now, and the stage moves of the last `days` days (today included)."""
        now = to_epoch(self.clock.now())
        today = day_of(now)
        counts = self.profiles.lifecycle_counts(today - days + 1, today)
        stages = {stage.value: max(0, counts.stages.get(stage.value, 0)) for stage in Stage}
        total = sum(stages.values())
        moves = {
            key.replace(">", "->"): count
            for key, count in sorted(counts.moves.items(), key=lambda item: (-item[1], item[0]))
            if count
        }
        return {
            "as_of": now,
            "users": total,
            "stages": stages,
            "share_pct": {
                stage: round(100 * count / total, 1) if total else 0.0
                for stage, count in stages.items()
            },
            "transitions": moves,
            "transitions_window_days": days,
        }
