"""Marketer config files (campaigns, surveys, fence sets): YAML → pydantic, errors located.

Every problem is reported as `file:line: field.path: message`, so a marketer can jump
straight to it. PyYAML's node tree keeps the line of every key; we walk it once to map
each field path to its line, then let pydantic validate the plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

MAX_CONFIG_BYTES = 512 * 1024  # a config is hand-written; anything larger is a mistake


@dataclass(frozen=True)
class ConfigProblem:
    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


class ConfigError(ValueError):
    """One or more located problems in a config file."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@lru_cache(maxsize=1)
def _loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: `on`, `yes`, `no` stay strings.

    (In YAML 1.1, `on: enter` in a geofence trigger would silently become `True: enter`.)
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


def _line_map(node: Any, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    import yaml

    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _line_map(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, str(index)), lines)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Plain data plus a map from field path to line; syntax errors are located."""
    import yaml

    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigProblem(source, None, "", "file is larger than 512 KB")])
    try:
        loader = _loader()
        node = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            [ConfigProblem(source, line, "", f"not valid YAML: {error.problem}")]
        ) from error
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem(source, None, "", f"not valid YAML: {error}")]) from error
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


def locate(error: ValidationError, source: str, lines: dict[tuple[str, ...], int]) -> ConfigError:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        path = tuple(str(part) for part in item["loc"])
        # The deepest path that exists in the file: a missing field points at its parent.
        line = None
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                line = lines[path[:end]]
                break
        problems.append(ConfigProblem(source, line, ".".join(path), item["msg"]))
    return ConfigError(problems)


def load_config(text: str, model: type[Model], source: str) -> Model:
    """Validate one YAML document against `model`; raises ConfigError with located problems."""
    data, lines = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, 1, "", "expected a mapping of fields at the top")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise locate(error, source, lines) from error


def load_config_file(path: str, model: type[Model]) -> Model:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ConfigError([ConfigProblem(path, None, "", error.strerror or str(error))]) from error
    except UnicodeDecodeError as error:
        raise ConfigError([ConfigProblem(path, None, "", "file is not UTF-8 text")]) from error
    return load_config(text, model, path)
