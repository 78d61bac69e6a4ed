"""Templates and sending: `nudge template`, `send`, `message`, `broadcast`, `broadcast-status`."""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
from typing import Any
from urllib.parse import quote

from nudge_cli.admin import admin_call
from nudge_cli.printers import (
    broadcast_audience,
    broadcast_start,
    print_broadcast,
    print_json,
    show,
)


def load_template(path: str) -> dict[str, Any]:
    """Parse and validate a template file; errors name the file, its line and the field (and,
    for a refused template construct, the template's own line and the construct)."""
    from nudge.configfiles import ConfigError, load_config_file
    from nudge.models.template import MessageTemplate

    try:
        return load_config_file(path, MessageTemplate).model_dump(mode="json")
    except ConfigError as error:
        raise SystemExit("\n".join(str(problem) for problem in error.problems)) from error


def pairs(items: list[str], flag: str = "--data") -> dict[str, str]:
    """KEY=VALUE options as a dict; a usage error naming the flag otherwise."""
    data: dict[str, str] = {}
    for pair in items:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} {pair!r}: use KEY=VALUE")
        data[key] = value
    return data


def validate_template(args: argparse.Namespace) -> int:
    loaded = load_template(args.file)
    print(f"{args.file}: template {loaded['id']!r} is valid")
    return 0


def put_template(args: argparse.Namespace) -> int:
    loaded = load_template(args.file)
    saved = admin_call(args, "PUT", f"/admin/v1/templates/{quote(loaded['id'])}", loaded)
    print(f"saved template {saved['id']!r}")
    return 0


def send(args: argparse.Namespace) -> int:
    from nudge.clock import parse_duration

    data = pairs(args.data)
    fingerprint = json.dumps([args.user, args.template, data], sort_keys=True).encode()
    dedupe_key = args.dedupe_key or "cli-" + hashlib.sha256(fingerprint).hexdigest()[:24]
    try:
        ttl = int(parse_duration(args.ttl).total_seconds())
    except ValueError as error:
        raise SystemExit(f"--ttl: {error}") from error
    body = {
        "template_id": args.template,
        "data": data,
        "dedupe_key": dedupe_key,
        "ttl_seconds": ttl,
    }
    queued = admin_call(args, "POST", f"/admin/v1/users/{quote(args.user, safe='')}/messages", body)
    print(f"queued message {queued['job_id']} (dedupe key {queued['dedupe_key']})")
    print(
        f"outcome: nudge message {shlex.quote(queued['job_id'])} --user {shlex.quote(args.user)}  "
        f"(or GET {queued.get('outcome_url', '/admin/v1/messages/<job_id>?user_id=<user>')})"
    )
    return 0


def message(args: argparse.Namespace) -> int:
    path = f"/admin/v1/messages/{quote(args.job_id, safe='')}"
    if args.user:  # needed when the id does not name its user (a campaign's, an older one)
        path += f"?user_id={quote(args.user, safe='')}"
    print_json(admin_call(args, "GET", path))
    return 0


def broadcast_target(args: argparse.Namespace) -> dict[str, Any]:
    """Who a broadcast goes to: --users, --where, --segment, or (--everyone) all users."""
    if args.users:
        if args.users.startswith("@"):
            with open(args.users[1:], encoding="utf-8") as handle:
                users = [line.strip() for line in handle if line.strip()]
        else:
            users = [u.strip() for u in args.users.split(",") if u.strip()]
        return {"user_ids": users}
    if args.where:
        wanted: dict[str, list[str]] = {}
        for key, value in pairs(args.where, "--where").items():
            wanted.setdefault(key, []).extend(v.strip() for v in value.split(","))
        return {"attributes": wanted}
    if args.segment:
        return {"segment_name": args.segment}
    return {"all_users": True}


def broadcast(args: argparse.Namespace) -> int:
    target = broadcast_target(args)
    body = {
        "template_id": args.template,
        "data": pairs(args.data),
        "target": target,
        "dedupe_key": args.dedupe_key,
        "rate_per_minute": args.rate,
    }
    if args.at:
        body["start_at"] = args.at
    if args.local_time or args.date:
        body.update(local_time=args.local_time, local_date=args.date)  # the API names a gap
    created = admin_call(args, "POST", "/admin/v1/broadcasts", body)
    print(f"broadcast {created['broadcast_id']} {broadcast_start(created)}; "
          f"plan: {json.dumps(created['plan'])}")  # fmt: skip
    if created.get("estimate"):
        print(f"audience: {broadcast_audience(created['estimate'])}")
    print(f"progress: nudge broadcast-status {created['broadcast_id']}  (add --cancel to stop)")
    return 0


def broadcast_status(args: argparse.Namespace) -> int:
    method = "DELETE" if args.cancel else "GET"
    path = f"/admin/v1/broadcasts/{quote(args.broadcast_id, safe='')}"
    show(admin_call(args, method, path), args.json, print_broadcast)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    template = sub.add_parser("template", help="message templates").add_subparsers(
        dest="template_action", required=True
    )
    for action, func in (("validate", validate_template), ("put", put_template)):
        p = template.add_parser(action, help=f"{action} a template YAML file")
        p.add_argument("file")
        p.set_defaults(func=func)
    p = sub.add_parser("send", help="send a message to one user (once per dedupe key)")
    p.add_argument("--user", required=True)
    p.add_argument("--template", required=True, help="a saved template id")
    p.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dedupe-key", help="default: the same user, template and data send once")
    p.add_argument("--ttl", default="1d", help="drop it if not delivered within, e.g. 15m")
    p.set_defaults(func=send)
    p = sub.add_parser("message", help="a queued message's outcomes")
    p.add_argument("job_id")
    p.add_argument("--user", help="its user: needed when the job id does not name it")
    p.set_defaults(func=message)
    _add_broadcast(sub)
    p = sub.add_parser("broadcast-status", help="a broadcast's progress (or --cancel)")
    p.add_argument("broadcast_id")
    p.add_argument("--cancel", action="store_true")
    p.add_argument("--json", action="store_true", help="the admin API's answer as is")
    p.set_defaults(func=broadcast_status)


def _add_broadcast(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broadcast", help="one message to many users, paced")
    p.add_argument("--template", required=True, help="a saved template id")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="comma-separated user ids, or @file with one per line")
    who.add_argument("--everyone", action="store_true", help="everyone with a device")
    who.add_argument(
        "--where",
        action="append",
        metavar="ATTR=V1,V2",
        help="users whose attribute has one of the values (e.g. team=payments); repeatable",
    )
    who.add_argument("--segment", help="a named segment (see nudge segments push)")
    p.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dedupe-key", required=True, help="one push per user for this key")
    p.add_argument("--rate", type=int, default=500_000, help="pushes per minute")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="INSTANT", help="start then, e.g. 2026-12-24T09:00:00Z")
    when.add_argument(
        "--local-time",
        metavar="HH:MM",
        help="at this time in each user's zone, in waves around the globe (with --date)",
    )
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the day of --local-time")
    p.set_defaults(func=broadcast)
