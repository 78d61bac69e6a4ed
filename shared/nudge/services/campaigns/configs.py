"""Campaign and segment configs: validate, publish as versions, pause/resume/archive, restore.

A config is published whole: parsed (`load_config`, located errors), checked against the
current named segments (`check_campaign`), then stored as the next version. A new version
never touches sends already queued (push jobs carry their own rendered content). Uploads to
the configs bucket arrive through `load_object` / `object_removed` (config_loader); a bad file
is recorded as load errors on its object key, never retried.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from nudge.configfiles import ConfigError, ConfigProblem, load_config
from nudge.domain.stats import wilson
from nudge.models.campaign import Campaign
from nudge.models.configs import (
    ConfigHead,
    ConfigStatus,
    LoadError,
    Promotion,
    object_key,
    parse_key,
)
from nudge.models.segment import NamedSegments, Segment
from nudge.services.configs.loading import (
    LoadOutcome,
    load_config_object,
    locate_messages,
    never_loaded,
    problem_row,
)

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.profile import Profile
    from nudge.services.configs.store import ConfigStore, PublishResult

Checker = Callable[[Campaign, NamedSegments | None, frozenset[str] | None], list[str]]


def _default_checker() -> Checker:
    from nudge.domain.campaigns import check_campaign

    return check_campaign


def named(segments: Mapping[str, Segment]) -> NamedSegments:
    """The merged named segments as one model (may be empty: nothing published yet)."""
    return NamedSegments.model_construct(segments=dict(segments))


def check_campaign_text(
    text: str,
    source: str,
    segments: Mapping[str, Segment] | None,
    catalog: frozenset[str] | None = None,
    checker: Checker | None = None,
) -> Campaign:
    """Parse and check a campaign file; raises ConfigError with located problems.

    `segments=None` skips the named-segment check (offline validation without a segments file).
    """
    campaign = load_config(text, Campaign, source)
    check = checker or _default_checker()
    if segments is None:  # unknown here: take every name the campaign uses as defined
        segments = {name: Segment() for name in campaign.audience.segment_names()}
    messages = check(campaign, named(segments), catalog)
    if messages:
        raise ConfigError(locate_messages(messages, text, source))
    return campaign


class CampaignConfigService:
    def __init__(
        self,
        store: ConfigStore,
        clock: Clock,
        event_catalog: frozenset[str] | None = None,
        checker: Checker | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.event_catalog = event_catalog
        self._checker = checker

    @property
    def checker(self) -> Checker:
        return self._checker or _default_checker()

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # ---- campaigns ----
    def validate_campaign(self, text: str, source: str) -> Campaign:
        """Parse and check against the named segments published now (no write)."""
        segments = self.store.named_segments(fresh=True)
        return check_campaign_text(text, source, segments, self.event_catalog, self.checker)

    def publish_campaign(
        self,
        text: str,
        source: str,
        expected_id: str | None = None,
        stored_source: str | None = None,
        s3_version_id: str | None = None,
    ) -> PublishResult:
        campaign = self.validate_campaign(text, source)
        if expected_id is not None and campaign.id != expected_id:
            raise ConfigError(
                locate_messages(
                    [f"id: the file says {campaign.id!r}, but it is stored as {expected_id!r}"],
                    text,
                    source,
                )
            )
        return self.store.publish(
            "campaign",
            campaign.id,
            text,
            campaign.model_dump(mode="json", by_alias=True),
            campaign.status,
            stored_source or source,
            s3_version_id,
        )

    def set_status(
        self, campaign_id: str, status: ConfigStatus, reason: str | None = None
    ) -> ConfigHead | None:
        if status in ("active", "paused", "draft"):
            head = self.store.head("campaign", campaign_id)
            if head is not None and head.status == "archived":
                # bringing an archived campaign back: its segments must still exist
                campaign = Campaign.model_validate(head.model)
                self._require_segments(campaign, head.version)
        return self.store.set_status("campaign", campaign_id, status, reason=reason)

    def unpromote(self, campaign_id: str) -> ConfigHead | None:
        """A person ends auto_promote's promotion: traffic is split as configured again."""
        return self.store.end_promotion("campaign", campaign_id, "reverted by a person")

    def restore(self, campaign_id: str, version: int) -> PublishResult | None:
        old = self.store.get_version("campaign", campaign_id, version)
        if old is None:
            return None
        self._require_segments(Campaign.model_validate(old.model), version)
        return self.store.restore("campaign", campaign_id, version)

    def _require_segments(self, campaign: Campaign, version: int) -> None:
        missing = campaign.audience.segment_names() - set(self.store.named_segments(fresh=True))
        if missing:
            source = f"{object_key('campaign', campaign.id)} v{version}"
            raise ConfigError(
                [
                    ConfigProblem(source, None, "audience", f"unknown named segment {name!r}")
                    for name in sorted(missing)
                ]
            )

    def list_campaigns(self) -> list[dict[str, Any]]:
        errors = self.store.errors()
        rows = []
        seen = set()
        for head in self.store.list_current("campaign"):
            key = object_key("campaign", head.config_id)
            seen.add(key)
            rows.append(_summary(head, errors.get(key)))
        return rows + never_loaded("campaign", errors, seen)

    def describe(self, campaign_id: str) -> dict[str, Any] | None:
        head = self.store.head("campaign", campaign_id)
        error = self.store.errors().get(object_key("campaign", campaign_id))
        if head is None and error is None:
            return None
        versions = self.store.versions("campaign", campaign_id)
        current_text = next((v.text for v in versions if head and v.version == head.version), None)
        described: dict[str, Any] = (
            _summary(head, error) if head else {"id": campaign_id, "status": "not loaded"}
        )
        if error and not head:
            described.update(errors=error.problems, errors_sha256=error.sha256)
        described["text"] = current_text
        described["promotion"] = promotion_json(head.promotion) if head else None
        described["versions"] = [
            {
                "version": v.version,
                "sha256": v.sha256,
                "status": v.status,
                "source": v.source,
                "created_at": v.created_at,
            }
            for v in versions
        ]
        return described

    # ---- segments ----
    def publish_segments(
        self,
        name: str,
        text: str,
        source: str,
        stored_source: str | None = None,
        s3_version_id: str | None = None,
    ) -> PublishResult:
        model = load_config(text, NamedSegments, source)
        catalog = self.store.catalog("segments", fresh=True)
        problems: list[str] = []
        others: dict[str, Segment] = {}
        for other, entry in sorted(catalog.entries.items()):
            if other == name:
                continue
            for segment_name, raw in entry.model.get("segments", {}).items():
                others[segment_name] = Segment.model_validate(raw)
                if segment_name in model.segments:
                    problems.append(
                        f"segments.{segment_name}: already defined in "
                        f"{object_key('segments', other)}"
                    )
        problems += self._dangling({**others, **model.segments})
        if problems:
            raise ConfigError(locate_messages(problems, text, source))
        return self.store.publish(
            "segments",
            name,
            text,
            model.model_dump(mode="json", by_alias=True),
            "active",
            stored_source or source,
            s3_version_id,
        )

    def _dangling(self, segments: Mapping[str, Segment]) -> list[str]:
        """Campaigns and surveys (not archived) whose named segments would no longer resolve."""
        from nudge.models.survey import SurveyConfig

        problems = []
        for campaign_id, entry in sorted(
            self.store.catalog("campaign", fresh=True).entries.items()
        ):
            campaign = Campaign.model_validate(entry.model)
            for missing in sorted(campaign.audience.segment_names() - set(segments)):
                problems.append(
                    f"segments: campaign {campaign_id!r} ({entry.status}) uses segment "
                    f"{missing!r}, which would no longer be defined; change or archive the "
                    "campaign first"
                )
        for survey_id, entry in sorted(self.store.catalog("survey", fresh=True).entries.items()):
            try:
                survey = SurveyConfig.model_validate(entry.model)
            except ValueError:  # stored before a model change: not in use (see surveys())
                continue
            for missing in sorted(survey.eligibility.segment_names() - set(segments)):
                problems.append(
                    f"segments: survey {survey_id!r} ({entry.status}) uses segment "
                    f"{missing!r} in its eligibility, which would no longer be defined; change "
                    "or archive the survey first"
                )
        return problems

    def list_segments(self) -> list[dict[str, Any]]:
        errors = self.store.errors()
        rows = []
        for head in self.store.list_current("segments"):
            row = _summary(head, errors.get(object_key("segments", head.config_id)))
            row["segments"] = sorted(head.model.get("segments", {}))
            rows.append(row)
        return rows

    # ---- the configs bucket (config_loader) ----
    def load_object(self, key: str, body: bytes, s3_version_id: str | None) -> LoadOutcome:
        """A new or changed object: publish it, or record why it cannot be loaded."""
        parsed = parse_key(key)
        if parsed is None or parsed[0] not in ("campaign", "segments"):
            return LoadOutcome(key, "ignored")  # fence sets: FenceSetService
        kind, config_id = parsed

        def publish(text: str) -> Any:
            if kind == "campaign":
                return self.publish_campaign(text, key, config_id, key, s3_version_id)
            return self.publish_segments(config_id, text, key, key, s3_version_id)

        return load_config_object(self.store, key, body, s3_version_id, self._now(), publish)

    def object_removed(self, key: str) -> LoadOutcome:
        """A deleted campaign file archives the campaign (in-flight sends are unaffected).

        A deleted segments file is archived too, unless a campaign or a survey still uses its
        segments:
        then it stays current and the deletion is reported as a load error on the key.
        """
        parsed = parse_key(key)
        if parsed is None or parsed[0] not in ("campaign", "segments"):
            return LoadOutcome(key, "ignored")  # fence sets: FenceSetService
        kind, config_id = parsed
        if kind == "segments":
            others = {
                segment_name: Segment.model_validate(raw)
                for other, entry in self.store.catalog("segments", fresh=True).entries.items()
                if other != config_id
                for segment_name, raw in entry.model.get("segments", {}).items()
            }
            messages = self._dangling(others)
            if messages:
                problems = locate_messages(messages, "", key)
                self.store.record_error(
                    LoadError(
                        key=key,
                        sha256="",
                        problems=[
                            {**problem_row(p), "message": "deleted, but " + p.message}
                            for p in problems
                        ],
                        at=self._now(),
                    )
                )
                return LoadOutcome(key, "rejected", problems=problems)
        head = self.store.set_status(kind, config_id, "archived", deleted=True)
        self.store.clear_error(key)
        return LoadOutcome(key, "archived" if head else "ignored", head.version if head else None)


def promotion_json(promotion: Promotion | None) -> dict[str, Any] | None:
    """The last promotion of a campaign as the admin API shows it (None: never promoted)."""
    if promotion is None:
        return None
    return {**promotion.model_dump(mode="json"), "in_effect": promotion.in_effect}


def _summary(head: ConfigHead, error: LoadError | None) -> dict[str, Any]:
    model = head.model
    trigger = model.get("trigger") or {}
    return {
        "id": head.config_id,
        "name": model.get("name"),
        "category": model.get("category"),
        "trigger": next((k for k, v in trigger.items() if v is not None), None),
        "status": head.status,
        "version": head.version,
        "sha256": head.sha256,
        "updated_at": head.updated_at,
        "deleted": head.deleted,
        "status_reason": head.status_reason,
        "errors": error.problems if error else [],
        "errors_at": error.at if error else None,
        "errors_sha256": error.sha256 if error else None,
    }


# --- preview and estimate -------------------------------------------------------------------


class ProfileSampler(Protocol):
    def user_count(self) -> int:
        """Users with a profile now (exact: the lifecycle counters)."""
        ...

    def scan_segment(self, segment: int, total_segments: int) -> list[Profile]:
        """Every profile in one segment of a parallel Scan (system items left out)."""
        ...


SCAN_ALL_BELOW = 5_000  # users: read them all
USERS_PER_SEGMENT = 1_000  # otherwise: segments of about this many users...
SAMPLED_SEGMENTS = 8  # ...of which this many are read (in parallel)


def estimate_audience(
    campaign: Campaign,
    sampler: ProfileSampler,
    matches: Callable[[Segment, Profile, int, Mapping[str, Segment]], bool],
    segments: Mapping[str, Segment],
    now: int,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Audience size without sending: a sampled parallel Scan evaluating the segment."""
    found = estimate_segment(campaign.audience, sampler, matches, segments, now, rng)
    return {"campaign": campaign.id, **found}


def estimate_segment(
    audience: Segment,
    sampler: ProfileSampler,
    matches: Callable[[Segment, Profile, int, Mapping[str, Segment]], bool],
    segments: Mapping[str, Segment],
    now: int,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The users of any audience (a campaign's, a broadcast's), estimated as above."""
    return estimate_segments({"": audience}, sampler, matches, segments, now, rng)[""]


def estimate_segments(
    audiences: Mapping[str, Segment],
    sampler: ProfileSampler,
    matches: Callable[[Segment, Profile, int, Mapping[str, Segment]], bool],
    segments: Mapping[str, Segment],
    now: int,
    rng: random.Random | None = None,
) -> dict[str, dict[str, Any]]:
    """Several audiences estimated from one sample (segment health: every named segment)."""
    users = sampler.user_count()
    if users <= SCAN_ALL_BELOW:
        total, chosen = 4, [0, 1, 2, 3]
    else:
        total = math.ceil(users / USERS_PER_SEGMENT)
        chosen = sorted((rng or random.SystemRandom()).sample(range(total), SAMPLED_SEGMENTS))
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        pages = list(pool.map(lambda s: sampler.scan_segment(s, total), chosen))
    profiles = [profile for page in pages for profile in page]
    sample = {"users": max(users, len(profiles)), "chosen": len(chosen), "total": total}
    return {
        name: _estimate(audience, profiles, sample, matches, segments, now)
        for name, audience in audiences.items()
    }


def _estimate(
    audience: Segment,
    profiles: list[Profile],
    sample: Mapping[str, int],
    matches: Callable[[Segment, Profile, int, Mapping[str, Segment]], bool],
    segments: Mapping[str, Segment],
    now: int,
) -> dict[str, Any]:
    scanned = len(profiles)
    matched = 0
    stages: Counter[str] = Counter()
    for profile in profiles:
        if matches(audience, profile, now, segments):
            matched += 1
            stages[profile.stage.value if profile.stage else "unknown"] += 1
    complete = sample["chosen"] == sample["total"]
    population = sample["users"]
    if complete:
        estimate, low, high = matched, matched, matched
    else:
        share_low, share_high = wilson(matched, scanned)
        estimate = round(matched / scanned * population) if scanned else 0
        low, high = math.floor(share_low * population), math.ceil(share_high * population)
    factor = (estimate / matched) if matched else 0.0
    return {
        "users": population,
        "scanned": scanned,
        "matched": matched,
        "sampled_segments": sample["chosen"],
        "total_segments": sample["total"],
        "complete": complete,
        "estimate": estimate,
        "interval_95": [low, high],
        "by_stage": {
            stage: {"matched": count, "estimate": round(count * factor)}
            for stage, count in sorted(stages.items())
        },
    }
