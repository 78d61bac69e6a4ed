"""`nudge local ...`: the embedded local stack's commands (nudge_local, the dev extra)."""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="the embedded local stack (needs the dev extra)")
    local.set_defaults(func=run)
    try:
        from nudge_local.cli import add_commands as add_local_commands
    except ImportError:
        local.set_defaults(local_missing=True)
        return
    add_local_commands(local.add_subparsers(dest="local_command", required=True))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "local_missing", False):
        print("the local stack is dev tooling: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    from nudge_local.cli import run as run_local

    return run_local(args)
