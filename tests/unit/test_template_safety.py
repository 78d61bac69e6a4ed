"""Message templates may only fill in values: anything that can grow (calls, loops, `%`,
`format`, unbounded filter arguments) is refused where a template is validated, with the line
and the construct; rendering stops at the size FCM could ever deliver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from nudge.clock import ManualClock
from nudge.domain.campaigns import campaign_template, check_campaign
from nudge.domain.messaging.templates import render
from nudge.models.campaign import Campaign
from nudge.models.template import MessageTemplate
from nudge.templating import RENDERED_TEXT_LIMIT, TemplateError, compile_template, render_text
from nudge_cli.main import main
from tests.unit.test_campaign_pipeline import WELCOME, Pipeline
from tests.unit.test_campaign_pipeline import campaign as pipeline_campaign

EVENTS = Path(__file__).resolve().parents[2] / "events"


def template(title: str, body: str = "b") -> MessageTemplate:
    return MessageTemplate.model_validate(
        {"id": "t", "category": "internal", "text": {"en": {"title": title, "body": body}}}
    )


@pytest.mark.parametrize(
    ("source", "construct"),
    [
        ("{{ 'a'.ljust(300000000) }}", "calling .ljust()"),
        ("{{ '%0300000000d'|format(1) }}", "the filter 'format'"),
        ("{{ '%0300000000d' % 1 }}", "the '%' operator"),
        ("{% for i in x %}{% for j in x %}a{% endfor %}{% endfor %}", "{% for %} loops"),
        ("{{ range(100000) }}", "calling range()"),
        ("{% macro m() %}a{% endmacro %}{{ x }}", "{% macro %}"),
        ("{% set y = x %}{{ y }}", "{% set %}"),
        ("{% include 'other' %}", "{% include %}"),
        ("{{ x | center(300000000) }}", "the filter 'center'"),
        ("{{ x | truncate(300000000) }}", "length must be a whole number from 1 to 4096"),
        ("{{ x | truncate(n) }}", "length must be a whole number"),
        ("{{ 1 | round(100000000, 'ceil') }}", "precision must be a whole number from 0 to 10"),
        ("{{ x | upper(1) }}", "'upper' takes at most 0 argument(s)"),
        ("{{ x | default(*y) }}", "no *args"),
        ("{{ ''.__class__ }}", "private name '__class__'"),
        ("{{ x['__class__'] }}", "private name '__class__'"),
        ("{{ 'a' * 400000000 }}", "the '*' operator"),
        ("{{ 2 ** 4096 }}", "the '**' operator"),
        ("{{ x is divisibleby(3) }}", "the test 'is divisibleby'"),
        ("{{ [x] }}", "list literals"),
    ],
)
def test_constructs_outside_the_allow_list_are_refused_at_load(source: str, construct: str) -> None:
    with pytest.raises(ValidationError) as raised:
        template(source)
    (error,) = raised.value.errors()
    assert error["loc"] == ("text", "en", "title")
    assert error["msg"].startswith("Value error, line 1: ") and construct in error["msg"]


def test_the_error_names_the_line_of_the_construct() -> None:
    body = "Hi {{ name }},\nyour code is\n{{ code.ljust(300000000) }}"
    with pytest.raises(ValidationError) as raised:
        template("t", body)
    (error,) = raised.value.errors()
    assert error["loc"] == ("text", "en", "body")
    assert "line 3: calling .ljust() is not allowed" in error["msg"]


def test_what_message_templates_need_is_allowed_and_renders() -> None:
    source = (
        "{% if user.first_name is defined and not quiet %}Hi {{ user.first_name | title }}"
        "{% elif user['nick'] %}Hey {{ user['nick'][:3] | upper }}{% else %}Hello{% endif %}, "
        "{{ items + 1 }} item{{ '' if items == 0 else 's' }} at {{ price | round(2) }} "
        "({{ note | default('none') | truncate(12, end='…', leeway=0) | trim }}) "
        "{{ code | string ~ '!' }}"
        "{{ ' ' ~ (tag | lower | capitalize) }} app://s?q={{ q | urlencode }}"
    )
    data = {
        "user": {"first_name": "ann", "nick": "annie"},
        "quiet": False,
        "items": 2,
        "price": 9.456,
        "note": "a rather long note",
        "code": 7,
        "tag": "NEW",
        "q": "a b",
    }
    rendered = render(template("t", source), "en", data).body
    assert rendered == "Hi Ann, 3 items at 9.46 (a rather…) 7! New app://s?q=a%20b"


def test_every_shipped_template_and_campaign_text_still_compiles() -> None:
    for path in sorted((EVENTS / "templates").glob("*.yaml")):
        MessageTemplate.model_validate(yaml.safe_load(path.read_text()))
    sources = []
    for path in sorted((EVENTS / "campaigns").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        for variant in raw.get("variants", []):
            sources += [variant.get(k) for k in ("title", "body", "deep_link")]
        for overrides in raw.get("localization", {}).values():
            for text in overrides.get("variants", {}).values():
                sources += [text.get(k) for k in ("title", "body", "deep_link")]
    assert len([s for s in sources if s and "{{" in s]) >= 5
    for source in filter(None, sources):
        compile_template(source)


def test_rendering_stops_at_the_cap_without_building_the_rest() -> None:
    produced: list[int] = []

    class Chunk:
        def __str__(self) -> str:
            produced.append(1)
            return "x" * 1000

    source = "{{ c }}" * 1000  # 1 MB if it ran to the end
    with pytest.raises(TemplateError, match=f"longer than {RENDERED_TEXT_LIMIT} characters"):
        render_text(source, {"c": Chunk()})
    assert len(produced) == RENDERED_TEXT_LIMIT // 1000 + 1
    assert render_text("{{ c }}" * 4, {"c": Chunk()}) == "x" * 4000


def test_a_huge_value_in_the_data_fails_the_render_with_the_field_named() -> None:
    with pytest.raises(TemplateError, match="body: rendered text is longer than 4096"):
        render(template("t", "{{ blob }}"), "en", {"blob": "y" * 100_000})


def campaign(title: str) -> Campaign:
    raw: dict[str, Any] = yaml.safe_load((EVENTS / "campaigns/onboarding.yaml").read_text())
    raw["variants"][0]["title"] = title
    return Campaign.model_validate(raw)


def test_campaign_checks_refuse_an_unsafe_variant_text() -> None:
    assert not [
        p for p in check_campaign(campaign("Hi {{ user.first_name }}"), None) if "variants.0:" in p
    ]
    problems = check_campaign(campaign("{{ user.first_name.ljust(300000000) }}"), None)
    assert any(
        p.startswith("variants.0: line 1: calling .ljust() is not allowed") for p in problems
    ), problems


def test_cli_validate_names_the_file_the_line_and_the_construct(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        "id: hostile\ncategory: marketing\ntext:\n  en:\n    title: Hello\n"
        "    body: \"{{ 'a'.ljust(300000000) }}\"\n"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["template", "validate", str(path)])
    message = str(exit_.value.code)
    assert message.startswith(f"{path}:6: text.en.body: ")
    assert "line 1: calling .ljust() is not allowed" in message
    good = EVENTS / "templates/order_shipped.yaml"
    assert main(["template", "validate", str(good)]) == 0
    assert "template 'order_shipped' is valid" in capsys.readouterr().out


def test_a_campaign_published_before_the_allow_list_fails_alone(clock: ManualClock) -> None:
    """Its text is refused when the push is built: nothing queued for it, the event batch
    does not fail (no endless redelivery), and the other campaign still sends."""
    hostile = pipeline_campaign(
        WELCOME.replace("id: welcome", "id: hostile"),
        variants=[{"id": "a", "title": "Hi", "body": "{{ 'a'.ljust(300000000) }}"}],
    )
    p = Pipeline(clock, hostile, pipeline_campaign(WELCOME))
    p.consent("ann")
    p.act("ann", "signup_completed")  # asserts the batch had no failed record
    assert [job.template.id for job in p.jobs("ann")] == ["welcome.a"]
    with pytest.raises(TemplateError, match=r"'hostile' variant 'a': text\.en\.body: .*ljust"):
        campaign_template(hostile, "a")
