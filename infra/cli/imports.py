"""`nudge import ...`: data from other tools (Amazon Pinpoint). One line per importer below."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    from nudge_cli.pinpoint_campaigns import add_import_command as pinpoint_campaign
    from nudge_cli.pinpoint_endpoints import add_import_command as pinpoint_endpoints

    group = sub.add_parser("import", help="data from Amazon Pinpoint")
    imports = group.add_subparsers(dest="import_kind", required=True)
    pinpoint_endpoints(imports)
    pinpoint_campaign(imports)
