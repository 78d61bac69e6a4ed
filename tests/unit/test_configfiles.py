"""Config files: YAML errors and validation errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from nudge.configfiles import ConfigError, load_config, load_config_file


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cooldown_hours: int = Field(ge=0)


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    delivery: Delivery
    tags: list[str] = []


def test_valid_file_loads() -> None:
    loaded = load_config("id: x\ndelivery:\n  cooldown_hours: 3\n", Sample, "c.yaml")
    assert loaded.delivery.cooldown_hours == 3


def test_nested_error_names_file_line_and_field() -> None:
    text = "id: x\ntags: [a]\ndelivery:\n  cooldown_hours: -1\n"
    with pytest.raises(ConfigError) as caught:
        load_config(text, Sample, "c.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (4, "delivery.cooldown_hours")
    assert str(problem).startswith("c.yaml:4: delivery.cooldown_hours: ")


def test_unknown_field_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("id: x\ndelivery:\n  cooldown_hours: 1\n  colldown: 2\n", Sample, "c.yaml")
    assert [(p.line, p.field) for p in caught.value.problems] == [(4, "delivery.colldown")]


def test_missing_field_points_at_its_parent() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("id: x\ndelivery: {}\n", Sample, "c.yaml")
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "delivery.cooldown_hours")]


def test_yaml_syntax_error_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("id: x\ndelivery: [unclosed\n", Sample, "c.yaml")
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in str(caught.value)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config("- a\n- b\n", Sample, "c.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_config_file(str(tmp_path / "nope.yaml"), Sample)


class Trigger(BaseModel):
    on: str
    enabled: bool


def test_yaml_12_booleans_keep_on_and_yes_as_strings() -> None:
    loaded = load_config("on: enter\nenabled: true\n", Trigger, "t.yaml")
    assert (loaded.on, loaded.enabled) == ("enter", True)
    assert load_config("on: yes\nenabled: false\n", Trigger, "t.yaml").on == "yes"
