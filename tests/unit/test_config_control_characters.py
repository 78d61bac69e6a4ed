"""A config whose text holds a control character (found by `make fuzz`: PUT /admin/v1/campaigns
answered 500) is a located ConfigError, as any other invalid YAML: never an uncaught
yaml.ReaderError."""

from __future__ import annotations

import pytest

from nudge.configfiles import ConfigError, parse_yaml


@pytest.mark.parametrize("character", ["\x03", "\x1e", "\x9c", "\ufffe"])
def test_a_control_character_is_a_located_config_error(character: str) -> None:
    text = f"id: spring\nname: Spring sale\nsegment: new{character}users\n"
    with pytest.raises(ConfigError) as raised:
        parse_yaml(text, "campaign.yaml")
    (problem,) = raised.value.problems
    assert problem.source == "campaign.yaml"
    assert problem.line == 3
    assert f"#x{ord(character):04x}" in problem.message
    assert "not valid YAML" in problem.message
