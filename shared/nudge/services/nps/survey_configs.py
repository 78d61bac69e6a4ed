"""NPS survey configs: validate, publish as versions, pause/resume/archive, list.

Surveys reuse the campaign config storage (`ConfigStore`, kind "survey"): every upload is a
version, the current pointer carries the status, and the "survey" catalog item is what the
event processor and surveys_api read (one cached GetItem per 30 s, parsed once per revision).
Uploads arrive from `surveys/<id>.yaml` in the configs bucket (config_loader), the admin API
(PUT /admin/v1/surveys/{id}) or the CLI (`nudge survey push`).

Named segments an eligibility refers to (`segment_name`, or `segment:` references inside an
inline segment) must be published when the survey is (as for campaigns). One deleted later
is not an error at run time: nobody is eligible until it is back (see `decide_prompt`).

A survey with an `on_detractor.webhook` is refused unless the deployment has a webhook signing
secret (the DetractorWebhookSecretArn parameter): detractor_router never sends a ticket
unsigned, so without it every ticket would only end in the DLQ. The check is here, at publish
time, and not in the model: stored configs are re-validated by functions that do not know the
secret, and a model error there would silently skip the survey.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nudge.configfiles import ConfigError, ConfigProblem, load_config
from nudge.models.configs import ConfigHead, ConfigStatus, LoadError, object_key, parse_key
from nudge.models.survey import SurveyConfig, SurveyStatus
from nudge.services.configs.loading import (
    LoadOutcome,
    load_config_object,
    locate_messages,
    never_loaded,
)

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.segment import Segment
    from nudge.services.configs.store import ConfigStore, PublishResult

KIND = "survey"
SECRET_PARAMETER = "DetractorWebhookSecretArn"  # noqa: S105 - a parameter name
NO_SIGNING_SECRET = (
    f"on_detractor.webhook: this deployment has no webhook signing secret, and detractor "
    f"tickets are never sent unsigned: set the {SECRET_PARAMETER} parameter to a Secrets "
    "Manager secret and redeploy, or route detractors to an sns_topic_arn only"
)
NEEDS_SIGNING_SECRET = (
    f"on_detractor.webhook: the deployment needs the {SECRET_PARAMETER} parameter (the webhook "
    "signing secret); without it publishing this survey is refused"
)


def check_survey_text(
    text: str, source: str, segments: Mapping[str, Segment] | None = None
) -> SurveyConfig:
    """Parse a survey file; raises ConfigError with located problems (file:line: field).

    `segments`: the published named segments; None skips that check (offline validation).
    """
    survey = load_config(text, SurveyConfig, source)
    if segments is not None:
        messages = unknown_segments(survey, segments)
        if messages:
            raise ConfigError(locate_messages(messages, text, source))
    return survey


def has_webhook(survey: SurveyConfig) -> bool:
    return survey.on_detractor is not None and survey.on_detractor.webhook is not None


def signing_secret_warnings(survey: SurveyConfig, text: str, source: str) -> list[ConfigProblem]:
    """For the offline check, which cannot know the deployment: a webhook needs its secret."""
    return locate_messages([NEEDS_SIGNING_SECRET], text, source) if has_webhook(survey) else []


def unknown_segments(survey: SurveyConfig, segments: Mapping[str, Segment]) -> list[str]:
    """'field: message' for each named segment the eligibility uses that is not published."""
    rules = survey.eligibility
    messages = []
    for name in sorted(rules.segment_names() - set(segments)):
        where = "segment_name" if name == rules.segment_name else "segment"
        messages.append(
            f"eligibility.{where}: unknown named segment {name!r} (publish a segments file "
            "defining it first)"
        )
    return messages


class SurveyConfigService:
    def __init__(
        self, store: ConfigStore, clock: Clock, webhook_secret_configured: bool = False
    ) -> None:
        self.store = store
        self.clock = clock
        # whether detractor tickets can be signed here (see the module's docstring)
        self.webhook_secret_configured = webhook_secret_configured
        self._parsed: tuple[int, dict[str, SurveyConfig]] | None = None

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # ---- the SurveyCatalog port ----
    def surveys(self, fresh: bool = False) -> dict[str, SurveyConfig]:
        """Every non-archived survey with its current status (cached; parsed per revision)."""
        catalog = self.store.catalog(KIND, fresh)
        if self._parsed is not None and self._parsed[0] == catalog.revision and not fresh:
            return self._parsed[1]
        parsed: dict[str, SurveyConfig] = {}
        for survey_id, entry in sorted(catalog.entries.items()):
            try:
                config = SurveyConfig.model_validate(entry.model)
            except ValueError:  # stored before a model change: skip it
                continue
            parsed[survey_id] = config.model_copy(update={"status": SurveyStatus(entry.status)})
        self._parsed = (catalog.revision, parsed)
        return parsed

    # ---- writes ----
    def publish(
        self,
        text: str,
        source: str,
        expected_id: str | None = None,
        stored_source: str | None = None,
        s3_version_id: str | None = None,
    ) -> PublishResult:
        survey = check_survey_text(text, source)
        problems = self._missing_segments(survey)
        if has_webhook(survey) and not self.webhook_secret_configured:
            problems.append(NO_SIGNING_SECRET)
        if problems:
            raise ConfigError(locate_messages(problems, text, source))
        if expected_id is not None and survey.id != expected_id:
            raise ConfigError(
                locate_messages(
                    [f"id: the file says {survey.id!r}, but it is stored as {expected_id!r}"],
                    text,
                    source,
                )
            )
        return self.store.publish(
            KIND,
            survey.id,
            text,
            survey.model_dump(mode="json", by_alias=True),
            survey.status.value,
            stored_source or source,
            s3_version_id,
        )

    def set_status(self, survey_id: str, status: ConfigStatus) -> ConfigHead | None:
        """Pause, resume or archive (None: no such survey). Pending prompts stop showing."""
        if status != "archived":
            head = self.store.head(KIND, survey_id)
            if head is not None and head.status == "archived":
                # bringing an archived survey back: its named segments must still exist
                survey = SurveyConfig.model_validate(head.model)
                self._require_segments(survey, head.version)
        return self.store.set_status(KIND, survey_id, status)

    def _missing_segments(self, survey: SurveyConfig) -> list[str]:
        """Named segments the survey uses that are not published (read only if it uses any)."""
        if not survey.eligibility.segment_names():
            return []
        return unknown_segments(survey, self.store.named_segments(fresh=True))

    def _require_segments(self, survey: SurveyConfig, version: int) -> None:
        missing = self._missing_segments(survey)
        if missing:
            source = f"{object_key(KIND, survey.id)} v{version}"
            problems = []
            for message in missing:
                field_path, _, detail = message.partition(": ")
                problems.append(ConfigProblem(source, None, field_path, detail))
            raise ConfigError(problems)

    # ---- reads ----
    def list_surveys(self) -> list[dict[str, Any]]:
        errors = self.store.errors()
        rows = []
        seen = set()
        for head in self.store.list_current(KIND):
            key = object_key(KIND, head.config_id)
            seen.add(key)
            rows.append(_summary(head, errors.get(key)))
        return rows + never_loaded(KIND, errors, seen)

    def describe(self, survey_id: str) -> dict[str, Any] | None:
        head = self.store.head(KIND, survey_id)
        error = self.store.errors().get(object_key(KIND, survey_id))
        if head is None and error is None:
            return None
        described: dict[str, Any] = (
            _summary(head, error)
            if head
            else {
                "id": survey_id,
                "status": "not loaded",
                "version": None,
                "sha256": None,
                "errors": error.problems if error else [],
                "errors_sha256": error.sha256 if error else None,
            }
        )
        versions = self.store.versions(KIND, survey_id)
        described["text"] = next(
            (v.text for v in versions if head and v.version == head.version), None
        )
        described["versions"] = [
            {"version": v.version, "sha256": v.sha256, "source": v.source, "at": v.created_at}
            for v in versions
        ]
        return described

    # ---- the configs bucket (config_loader) ----
    def load_object(self, key: str, body: bytes, s3_version_id: str | None) -> LoadOutcome:
        parsed = parse_key(key)
        if parsed is None or parsed[0] != KIND:
            return LoadOutcome(key, "ignored")
        survey_id = parsed[1]
        return load_config_object(
            self.store,
            key,
            body,
            s3_version_id,
            self._now(),
            lambda text: self.publish(text, key, survey_id, key, s3_version_id),
        )

    def object_removed(self, key: str) -> LoadOutcome:
        """A deleted survey file archives the survey (answers and reports are kept)."""
        parsed = parse_key(key)
        if parsed is None or parsed[0] != KIND:
            return LoadOutcome(key, "ignored")
        head = self.store.set_status(KIND, parsed[1], "archived", deleted=True)
        self.store.clear_error(key)
        return LoadOutcome(key, "archived" if head else "ignored", head.version if head else None)


def _summary(head: ConfigHead, error: LoadError | None) -> dict[str, Any]:
    model = head.model
    triggers = model.get("trigger") or []
    return {
        "id": head.config_id,
        "name": model.get("name"),
        "trigger": ", ".join(t.get("event", "?") for t in triggers) or None,
        "sample_pct": model.get("sample_pct"),
        "status": head.status,
        "version": head.version,
        "sha256": head.sha256,
        "updated_at": head.updated_at,
        "deleted": head.deleted,
        "errors": error.problems if error else [],
        "errors_at": error.at if error else None,
        "errors_sha256": error.sha256 if error else None,
    }
