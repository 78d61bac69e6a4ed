"""Survey config files: the full example loads; mistakes are reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from nudge.configfiles import ConfigError, load_config, load_config_file
from nudge.models.survey import Category, SurveyConfig, SurveyStatus, survey_json_schema

GOOD = """\
id: nps-after-trip
name: NPS after a trip
status: active
trigger:
  - event: trip_completed
  - event: ticket_purchased
    properties: { channel: [app, web], first: false }
eligibility: { min_tenure_days: 7, min_events: 3, lifecycle: [active, loyal] }
sample_pct: 20
recontact_after_days: 90
dismiss_cooldown_days: 14
max_prompts_per_user: 3
prompt_ttl: 3d
questions:
  score: "How likely are you to recommend us to a friend?"
  reason:
    promoter: "What do you love most?"
    passive: "What would make it a 10?"
    detractor: "What disappointed you?"
  follow_up: "What one thing could we improve?"
localisation:
  nl:
    score: "Hoe waarschijnlijk is het dat je ons aanbeveelt?"
    reason: { detractor: "Wat viel tegen?" }
  nl_BE:
    follow_up: "Wat kunnen we verbeteren?"
on_detractor:
  webhook: https://hooks.example.com/nps
  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:nps-detractors
on_promoter: { emit_event: store_review_prompt }
themes:
  pin:
    - { name: Pricing, keywords: [price, expensive, fare] }
  rename: { "crashes, booking": Stability }
"""


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(text, SurveyConfig, "s.yaml")
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_full_example_loads() -> None:
    config = load_config(GOOD, SurveyConfig, "s.yaml")
    assert config.status is SurveyStatus.ACTIVE
    assert config.prompt_ttl_seconds == 3 * 86_400
    assert config.triggered_by("trip_completed", {})
    assert config.triggered_by("ticket_purchased", {"channel": "web", "first": False})
    assert not config.triggered_by("ticket_purchased", {"channel": "kiosk", "first": False})
    assert not config.triggered_by("ticket_purchased", {"channel": "app"})  # filter missing
    assert not config.triggered_by("ticket_purchased", {"channel": "app", "first": 0})
    assert config.on_promoter is not None
    assert config.on_promoter.emit_event == "store_review_prompt"


def test_design_example_with_a_single_trigger_loads(tmp_path: Path) -> None:
    path = tmp_path / "nps.yaml"
    path.write_text(
        "id: nps-after-trip\ntrigger: { event: trip_completed }\n"
        "questions: { score: 'How likely?' }\n"
    )
    config = load_config_file(str(path), SurveyConfig)
    assert [t.event for t in config.trigger] == ["trip_completed"]
    assert config.status is SurveyStatus.DRAFT  # nothing is asked until activated
    assert config.sample_pct == 100


def test_localisation_falls_back_field_by_field() -> None:
    config = load_config(GOOD, SurveyConfig, "s.yaml")
    be = config.questions_for("nl-BE")
    assert be.score.startswith("Hoe waarschijnlijk")  # from nl
    assert be.follow_up == "Wat kunnen we verbeteren?"  # nl-be's own
    assert be.reason is not None
    assert be.reason[Category.DETRACTOR] == "Wat viel tegen?"
    assert be.reason[Category.PROMOTER] == "What do you love most?"  # default
    nl = config.questions_for("nl_NL")
    assert nl.follow_up == "What one thing could we improve?"
    fr = config.questions_for("fr")
    assert fr.score == config.questions.score
    assert config.questions_for(None).score == config.questions.score


def test_single_reason_text_is_shared_by_categories() -> None:
    config = load_config(
        "id: s\ntrigger: {event: x}\nquestions: {score: 'S?', reason: 'Why?'}\n", SurveyConfig, "s"
    )
    reason = config.questions_for("en").reason
    assert reason is not None
    assert set(reason.values()) == {"Why?"}


def test_missing_score_text_is_located() -> None:
    text = GOOD.replace('  score: "How likely are you to recommend us to a friend?"\n', "")
    expected = [(line_of(text, "questions:"), "questions.score")]
    assert [(line, field) for line, field, _ in problems(text)] == expected


def test_sample_pct_over_100_is_located() -> None:
    found = problems(GOOD.replace("sample_pct: 20", "sample_pct: 150"))
    assert [(line, field) for line, field, _ in found] == [
        (line_of(GOOD, "sample_pct"), "sample_pct")
    ]
    assert "less than or equal to 100" in found[0][2]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/nps",
        "ftp://hooks.example.com/nps",
        "hooks.example.com/nps",
        "https://user:secret@hooks.example.com/nps",
        "http://127.0.0.2/nps",
    ],
)
def test_bad_webhook_is_located(url: str) -> None:
    found = problems(GOOD.replace("https://hooks.example.com/nps", url))
    line = line_of(GOOD, "webhook:")
    assert [(line, field) for line, field, _ in found] == [(line, "on_detractor.webhook")]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook"])
def test_local_http_webhook_is_allowed(url: str) -> None:
    config = load_config(GOOD.replace("https://hooks.example.com/nps", url), SurveyConfig, "s")
    assert config.on_detractor is not None
    assert config.on_detractor.webhook == url


def test_bad_topic_arn_and_empty_routing() -> None:
    found = problems(GOOD.replace("arn:aws:sns:eu-west-1:123456789012:nps-detractors", "topic"))
    line = line_of(GOOD, "sns_topic_arn:")
    assert [(line, field) for line, field, _ in found] == [(line, "on_detractor.sns_topic_arn")]
    text = GOOD.replace("on_detractor:\n  webhook: https://hooks.example.com/nps\n", "x:\n")
    text = text.replace(
        "x:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:nps-detractors\n",
        "on_detractor: {}\n",
    )
    assert [(line, field) for line, field, _ in problems(text)] == [
        (line_of(text, "on_detractor"), "on_detractor")
    ]


def test_unknown_field_is_located() -> None:
    text = GOOD.replace(" min_events", " min_event").replace(
        "sample_pct: 20", "sample_pct: 20\nsampel: 5"
    )
    found = {(line, field) for line, field, _ in problems(text)}
    assert found == {
        (line_of(text, "sampel"), "sampel"),
        (line_of(text, "eligibility"), "eligibility.min_event"),
    }


def test_bad_status_ttl_and_lifecycle() -> None:
    text = (
        GOOD.replace("status: active", "status: live")
        .replace("prompt_ttl: 3d", "prompt_ttl: soon")
        .replace("[active, loyal]", "[active, sleepy]")
    )
    fields = [(line, field) for line, field, _ in problems(text)]
    assert (3, "status") in fields
    assert (line_of(text, "prompt_ttl"), "prompt_ttl") in fields
    assert any(field.startswith("eligibility.lifecycle") for _, field in fields)


def test_json_schema_describes_the_config() -> None:
    schema = survey_json_schema()
    assert schema["title"] == "Nudge survey config (NPS, CSAT, CES)"
    assert {"id", "trigger", "questions"} <= set(schema["required"])
    assert schema["properties"]["sample_pct"]["maximum"] == 100
    eligibility = schema["$defs"]["Eligibility"]["properties"]
    assert eligibility["segment"]["anyOf"][0] == {"$ref": "#/$defs/Segment"}  # the campaigns'
    assert "pattern" in eligibility["segment_name"]["anyOf"][0]


SEGMENTED = """\
id: nps-paying
trigger: { event: trip_completed }
eligibility:
  min_events: 3
  segment_name: commuters
  segment:
    attributes: { plan: [pro, team] }
    not: { segment: past-buyers }
questions: { score: "How likely?" }
"""


def test_eligibility_segments_load_and_survive_the_stored_form() -> None:
    config = load_config(SEGMENTED, SurveyConfig, "s.yaml")
    rules = config.eligibility
    assert rules.segment_name == "commuters"
    assert rules.segment is not None and rules.segment.not_ is not None
    assert rules.segment_names() == {"commuters", "past-buyers"}
    stored = config.model_dump(mode="json", by_alias=True)  # what the config store keeps
    assert stored["eligibility"]["segment"]["not"]["segment"] == "past-buyers"
    assert SurveyConfig.model_validate(stored) == config


def test_a_name_under_segment_means_segment_name() -> None:
    text = SEGMENTED.replace("  segment_name: commuters\n", "").replace(
        "  segment:\n    attributes: { plan: [pro, team] }\n    not: { segment: past-buyers }\n",
        "  segment: commuters\n",
    )
    rules = load_config(text, SurveyConfig, "s.yaml").eligibility
    assert (rules.segment_name, rules.segment) == ("commuters", None)
    both = text.replace("  segment: commuters\n", "  segment: commuters\n  segment_name: x\n")
    ((line, field, message),) = problems(both)
    assert (line, field) == (line_of(both, "eligibility"), "eligibility")
    assert "segment: a name here is short for segment_name, which is given too" in message


def test_bad_segments_are_located() -> None:
    text = SEGMENTED.replace("plan: [pro, team]", "plan: [pro, team], colour: {gte: x}").replace(
        "segment_name: commuters", "segment_name: Commuters!"
    )
    found = {(line, field) for line, field, _ in problems(text)}
    assert (line_of(text, "segment_name"), "eligibility.segment_name") in found
    assert any(
        line == line_of(text, "attributes") and field.startswith("eligibility.segment.attributes")
        for line, field in found
    )
    typo = problems(SEGMENTED.replace("    not:", "    nott:"))
    assert [(line, field) for line, field, _ in typo] == [
        (line_of(SEGMENTED, "not:"), "eligibility.segment.nott")
    ]


def test_example_surveys_load_against_the_example_segments() -> None:
    from nudge.models.segment import NamedSegments
    from nudge.services.nps.survey_configs import check_survey_text

    events = Path(__file__).parents[2] / "events"
    named = load_config_file(str(events / "campaigns" / "segments.yml"), NamedSegments)
    examples = sorted((events / "surveys").glob("*.yaml"))
    assert examples
    for path in examples:
        survey = check_survey_text(path.read_text(), str(path), named.segments)
        if survey.eligibility.segment_names():
            with pytest.raises(ConfigError, match="unknown named segment"):
                check_survey_text(path.read_text(), str(path), {})
