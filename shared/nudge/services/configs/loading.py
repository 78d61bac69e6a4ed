"""What every kind of config upload shares: located problems, the load outcome, the rows of
objects that never loaded, and loading one uploaded object into the ConfigStore."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nudge.configfiles import ConfigError, ConfigProblem, parse_yaml
from nudge.models.configs import LoadError, parse_key

log = logging.getLogger("nudge.configs")


def locate_messages(messages: Iterable[str], text: str, source: str) -> list[ConfigProblem]:
    """'field.path: message' strings (domain checks) -> problems with the file's lines."""
    try:
        _, lines = parse_yaml(text, source)
    except ConfigError:
        lines = {}
    problems = []
    for message in messages:
        field_path, sep, detail = message.partition(": ")
        if not sep or " " in field_path:
            field_path, detail = "", message
        path = tuple(field_path.split(".")) if field_path else ()
        line = None
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                line = lines[path[:end]]
                break
        problems.append(ConfigProblem(source, line, field_path, detail))
    return problems


@dataclass(frozen=True)
class LoadOutcome:
    key: str
    result: str  # loaded | unchanged | rejected | archived | ignored | superseded
    version: int | None = None
    problems: list[ConfigProblem] = field(default_factory=list)


def never_loaded(kind: str, errors: Mapping[str, Any], seen: set[str]) -> list[dict[str, Any]]:
    """Rows for files of `kind` that failed to load and have no live version to list."""
    rows = []
    for key, error in sorted(errors.items()):
        parsed = parse_key(key)
        if key not in seen and parsed and parsed[0] == kind:
            rows.append(
                {
                    "id": parsed[1],
                    "name": None,
                    "status": "not loaded",
                    "version": None,
                    "errors": error.problems,
                    "errors_at": error.at,
                    "errors_sha256": error.sha256,
                }
            )
    return rows


def load_config_object(
    store: Any,
    key: str,
    body: bytes,
    s3_version_id: str | None,
    now: int,
    publish: Callable[[str], Any],
) -> LoadOutcome:
    """Any config kind's S3 object: decode and publish it, or record on its key why not
    (the previous version stays live); a good load clears the key's old errors."""
    from nudge.services.configs.store import sha256

    digest = sha256(body.decode("utf-8", "replace"))
    try:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(
                [ConfigProblem(key, None, "", f"file is not UTF-8 text (byte {error.start})")]
            ) from error
        result = publish(text)
    except ConfigError as error:
        return reject(store, key, error.problems, digest, now, s3_version_id)
    except (ValueError, RecursionError) as error:
        # the content broke something past the parsers: a retry would fail the same way
        log.exception("%s could not be loaded", key)
        problem = ConfigProblem(key, None, "", f"could not be loaded: {str(error)[:200]}")
        return reject(store, key, [problem], digest, now, s3_version_id)
    store.clear_error(key)
    return LoadOutcome(key, "loaded" if result.created else "unchanged", result.version)


def reject(
    store: Any,
    key: str,
    problems: list[ConfigProblem],
    digest: str,
    now: int,
    s3_version_id: str | None,
) -> LoadOutcome:
    """Record on the key why its object was not loaded (the previous version stays live)."""
    store.record_error(
        LoadError(
            key=key,
            sha256=digest,
            problems=[problem_row(p) for p in problems],
            at=now,
            s3_version_id=s3_version_id,
        )
    )
    return LoadOutcome(key, "rejected", problems=list(problems))


def problem_row(problem: ConfigProblem) -> dict[str, Any]:
    return {
        "source": problem.source,
        "line": problem.line,
        "field": problem.field,
        "message": problem.message,
    }
