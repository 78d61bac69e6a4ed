"""Marketer config files (campaigns, surveys, fence sets): YAML → pydantic, errors located.

Every problem is reported as `file:line: field.path: message`, so a marketer can jump
straight to it. PyYAML's node tree keeps the line of every key; we walk it once to map
each field path to its line, then let pydantic validate the plain data.

Hostile files are bounded before anything is built: at most MAX_CONFIG_BYTES (files are
sized before they are read), no anchors or aliases, at most MAX_CONFIG_DEPTH levels deep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

MAX_CONFIG_BYTES = 512 * 1024  # a config is hand-written; anything larger is a mistake
MAX_FENCE_SET_BYTES = 50 * 1024 * 1024  # GeoJSON or CSV, often exported from a GIS


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


MAX_CONFIG_DEPTH = 64  # nested mappings and lists; real configs stay under 15
TOO_DEEP = f"nested more than {MAX_CONFIG_DEPTH} levels deep"
ALIASES_REFUSED = "anchors and aliases (& and *) are not allowed in config files: write it out"


@lru_cache(maxsize=1)
def _loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: `on`, `yes`, `no` stay strings.

    (In YAML 1.1, `on: enter` in a geofence trigger would silently become `True: enter`.)

    It refuses, while composing (before anything is expanded or built): anchors and aliases
    (a 369-byte "billion laughs" expands to 9**9 strings) and nesting deeper than
    MAX_CONFIG_DEPTH (a 4 KB `[[[[...` would exhaust Python's stack). A scalar the
    constructor cannot build (a 13th month, an int of 5,000 digits) becomes a located error.
    """
    import re

    import yaml

    class Refused(yaml.MarkedYAMLError):
        """Refused on purpose: reported as is, not as "not valid YAML"."""

        def __init__(self, problem: str, mark: Any) -> None:
            super().__init__(problem=problem, problem_mark=mark)

    class Loader(yaml.SafeLoader):
        refused = Refused
        _depth = 0

        def fetch_flow_collection_start(self, token_class: Any) -> None:
            # the scanner looks ahead across open `[`/`{` (quadratically): bound it here
            if self.flow_level >= MAX_CONFIG_DEPTH:
                raise Refused(TOO_DEEP, self.get_mark())
            super().fetch_flow_collection_start(token_class)

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise Refused(ALIASES_REFUSED, event.start_mark)
            if isinstance(event, yaml.CollectionStartEvent) and self._depth >= MAX_CONFIG_DEPTH:
                raise Refused(TOO_DEEP, event.start_mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, OverflowError) as error:
                raise Refused(f"not a valid value ({str(error)[:120]})", node.start_mark) from error

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


def too_large(source: str, max_bytes: int) -> ConfigError:
    size = f"{max_bytes >> 20} MB" if max_bytes % (1 << 20) == 0 else f"{max_bytes >> 10} KB"
    return ConfigError([ConfigProblem(source, None, "", f"file is larger than {size}")])


def read_config_file(path: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """A file's text; its size is checked before reading, and no more than the cap is read."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > max_bytes:
                raise too_large(path, max_bytes)
            raw = handle.read(max_bytes + 1)  # a pipe or a growing file has no size to trust
    except OSError as error:
        raise ConfigError([ConfigProblem(path, None, "", error.strerror or str(error))]) from error
    if len(raw) > max_bytes:
        raise too_large(path, max_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([ConfigProblem(path, None, "", "file is not UTF-8 text")]) from error


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Plain data plus a map from field path to line; syntax errors are located."""
    import yaml

    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise too_large(source, MAX_CONFIG_BYTES)
    loader_class = _loader()
    try:  # the reader checks every character up front: a control character fails here
        loader = loader_class(text)
    except yaml.reader.ReaderError as error:
        at_line = text.count("\n", 0, error.position) + 1
        message = f"not valid YAML: character #x{error.character:04x} is not allowed"
        raise ConfigError([ConfigProblem(source, at_line, "", message)]) from error
    try:
        node = loader.get_single_node()  # composed once: the data and the lines come from it
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        refused = isinstance(error, loader_class.refused)
        message = str(error.problem) if refused else f"not valid YAML: {error.problem}"
        raise ConfigError([ConfigProblem(source, line, "", message)]) from error
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem(source, None, "", f"not valid YAML: {error}")]) from error
    finally:
        loader.dispose()
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
    return load_config(read_config_file(path), model, path)
