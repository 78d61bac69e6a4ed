"""`nudge local ...` (and `python -m nudge_local ...`): run and steer the embedded stack."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nudge_local.stack import DEFAULT_STATE_DIR


def add_commands(sub: argparse._SubParsersAction) -> None:
    def state_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)

    for name, purpose in (
        ("serve", "run the stack in the foreground"),
        ("up", "start the stack in the background"),
    ):
        p = sub.add_parser(name, help=purpose)
        state_dir(p)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--start", help="virtual clock start (ISO 8601 with offset)")
        p.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a template.yaml parameter, e.g. EngagementConfig='{...}' (repeatable)",
        )
        p.add_argument(
            "--faults",
            type=Path,
            metavar="FILE",
            help="a fault plan (JSON): throttle DynamoDB, fail SQS sends and FCM on purpose",
        )
    p = sub.add_parser("down", help="stop the background stack")
    state_dir(p)
    p = sub.add_parser("status", help="queues, function counters and the virtual time")
    state_dir(p)
    p = sub.add_parser("token", help="print a JWT for a user, signed by the local dev key")
    state_dir(p)
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    p = sub.add_parser("clock", help="show or move the virtual clock")
    state_dir(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--advance", help="e.g. 90m, 6h, 7d")
    group.add_argument("--set", dest="set_to", help="ISO 8601 time with offset (forward only)")
    p = sub.add_parser("drain", help="wait until the queues are empty")
    state_dir(p)


def run(args: argparse.Namespace) -> int:
    from nudge_local import process

    if args.local_command in ("serve", "up"):
        parameters = {}
        for pair in args.parameter:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise SystemExit(f"--parameter {pair!r}: use NAME=VALUE")
            parameters[name] = value
        if args.faults is not None:  # the stack reads it from its environment
            from nudge_local.faults import ENV, Plan

            try:  # refused here, with its reason, rather than in the background
                plan = json.loads(args.faults.read_text())
                Plan.parse(plan)
            except (OSError, ValueError) as error:
                raise SystemExit(f"--faults {args.faults}: {error}") from error
            os.environ[ENV] = json.dumps(plan)
    if args.local_command == "serve":
        process.serve(args.state_dir, args.port, args.start, parameters)
        return 0
    if args.local_command == "up":
        state = process.up(args.state_dir, args.port, args.start, parameters)
        print(f"local stack running at {state['api_url']} (pid {state['pid']})")
        print(f"console: {state['api_url']}/console (dev sign-in: pick a role)")
        print(f"state: {args.state_dir / 'local.json'}")
        return 0
    if args.local_command == "down":
        print("stopped" if process.down(args.state_dir) else "not running")
        return 0

    from nudge_local.client import LocalClient

    try:
        client = LocalClient.from_state_dir(args.state_dir)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    if args.local_command == "token":
        print(client.token(args.user, ttl_s=args.ttl))
    elif args.local_command == "clock":
        if args.advance or args.set_to:
            payload = {"advance": args.advance} if args.advance else {"set": args.set_to}
            response = client.session.post(
                f"{client.api_url}/_local/clock", json=payload, timeout=600
            )
            if not response.ok:
                print(response.json().get("message", response.text), file=sys.stderr)
                return 2
            print(json.dumps(response.json()))
        else:
            print(client.now())
    elif args.local_command == "drain":
        print(json.dumps(client.drain()))
    elif args.local_command == "status":
        stats = client.session.get(f"{client.api_url}/_local/stats", timeout=10).json()
        print(json.dumps({"now": client.now(), "queues": client.queues(), **stats}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nudge_local")
    sub = parser.add_subparsers(dest="local_command", required=True)
    add_commands(sub)
    return run(parser.parse_args(argv))
