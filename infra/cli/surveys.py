"""`nudge survey ...`: NPS survey configs (surveys/<id>.yaml)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from nudge_cli.admin import admin_call, admin_call_optional
from nudge_cli.configs import (
    Checked,
    ConfigKind,
    add_validate_push,
    checked_text,
    move_status,
    read_text,
    validate_files,
)
from nudge_cli.printers import print_json, print_survey_list, show


class SurveyKind(ConfigKind):
    """surveys/<id>.yaml; named segments are checked offline only with --segments."""

    list_command = "nudge survey list"
    keeps_previous = False

    def parse(
        self, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
    ) -> Checked:
        from nudge.services.nps.survey_configs import check_survey_text

        text = read_text(path)
        survey = check_survey_text(text, path, segments)
        return checked_text(path, survey, f"surveys/{survey.id}.yaml", text)

    def status_row(self, args: argparse.Namespace, item: Checked) -> dict[str, Any] | None:
        return admin_call_optional(args, "GET", f"/admin/v1/surveys/{quote(item.config.id)}")

    def validate_command(self, args: argparse.Namespace) -> int:
        """Valid files may still be refused by a deployment lacking what they need: warn."""
        from nudge.services.nps.survey_configs import signing_secret_warnings

        for item in validate_files(self, args.files, args, announce=True):
            for problem in signing_secret_warnings(item.config, item.text, item.path):
                print(f"  ! {problem}", file=sys.stderr)
        return 0

    def valid_line(self, item: Checked) -> str:
        return f"✓ {item.path}: survey {item.config.id!r} is valid"

    def live_line(self, item: Checked, version: int | None) -> str:
        survey = item.config
        return f"{item.path}: survey {survey.id!r} is live as version {version} ({survey.status})"


SURVEYS = SurveyKind()


def list_surveys(args: argparse.Namespace) -> int:
    rows = admin_call(args, "GET", "/admin/v1/surveys")["surveys"]
    show(rows, args.json, print_survey_list)
    return 0


def show_survey(args: argparse.Namespace) -> int:
    print_json(admin_call(args, "GET", f"/admin/v1/surveys/{quote(args.id)}"))
    return 0


def set_status(args: argparse.Namespace) -> int:
    return move_status(args, "survey", "surveys", args.survey_action)


def add_commands(sub: argparse._SubParsersAction) -> None:
    survey = sub.add_parser("survey", help="NPS survey configs").add_subparsers(
        dest="survey_action", required=True
    )
    add_validate_push(survey, SURVEYS)
    p = survey.add_parser("list", help="every survey")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=list_surveys)
    p = survey.add_parser("show", help="one survey, every version")
    p.add_argument("id")
    p.set_defaults(func=show_survey)
    for action in ("pause", "resume", "archive"):
        p = survey.add_parser(action, help=f"{action} a survey")
        p.add_argument("id")
        p.set_defaults(func=set_status)
