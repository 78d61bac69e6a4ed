"""The `nudge` command line for marketers and ops.

    nudge local up|down|status|token|clock|drain   the embedded local stack (dev install)
    nudge report lifecycle [--days 30]             users per stage and recent transitions
    nudge user export|erase USER_ID                a user's data (admin API, SigV4-signed)
    nudge template validate|put FILE.yaml          message templates
    nudge send --user U --template ID --data k=v   one message, once per dedupe key
    nudge message JOB_ID                           what happened to it, device by device
    nudge broadcast --template ID --users a,b|--everyone|--where team=ops|--segment NAME
                    --dedupe-key K
    nudge broadcast-status ID [--cancel]           progress, or stop it

Admin commands call the admin API with SigV4: against AWS with your usual AWS credentials
(`--api-url` or NUDGE_API_URL), or against the local stack with its local admin credential.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def _local_commands(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="the embedded local stack (needs the dev extra)")
    try:
        from nudge_local.cli import add_commands
    except ImportError:
        local.set_defaults(local_missing=True)
        return
    add_commands(local.add_subparsers(dest="local_command", required=True))


def _admin_target(args: argparse.Namespace) -> tuple[str, Any, str]:
    """(api_url, credentials, region) — the local stack's when no API URL is given."""
    api_url = args.api_url or os.environ.get("NUDGE_API_URL")
    if api_url:
        import boto3

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials found for signing admin requests")
        return api_url.rstrip("/"), credentials, session.region_name or "us-east-1"
    state_file = Path(args.state_dir) / "local.json"
    if not state_file.exists():
        raise SystemExit("give --api-url (or NUDGE_API_URL), or start the local stack: make up")
    from botocore.credentials import Credentials

    state = json.loads(state_file.read_text())
    admin = state["admin"]
    return state["api_url"], Credentials(admin["access_key"], admin["secret_key"]), state["region"]


def _admin_call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    api_url, credentials, region = _admin_target(args)
    url = f"{api_url}{path}"
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"host": url.split("/")[2]}
    if body is not None:
        headers["content-type"] = "application/json"
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    http_request = urllib.request.Request(  # noqa: S310 - the API URL the operator chose
        url, data=data or None, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(http_request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SystemExit(f"{method} {path} failed: {error.code} {detail}") from error


def _print_lifecycle(report: dict[str, Any]) -> None:
    print(f"Users: {report['users']}")
    print(f"{'stage':<12} {'users':>7} {'share':>7}")
    for stage, count in report["stages"].items():
        print(f"{stage:<12} {count:>7} {report['share_pct'][stage]:>6.1f}%")
    print(f"\nTransitions in the last {report['transitions_window_days']} days:")
    for move, count in report["transitions"].items() or {"(none)": 0}.items():
        print(f"  {move:<28} {count:>6}")


def _load_template(path: str) -> dict[str, Any]:
    """Parse and validate a template file; errors name the file and the field."""
    import yaml
    from pydantic import ValidationError

    from nudge.domain.ingest import describe_validation_error
    from nudge.domain.templates import MessageTemplate

    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
        return MessageTemplate.model_validate(raw).model_dump(mode="json")
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise SystemExit(f"{path}: not valid YAML: {error}") from error
    except ValidationError as error:
        raise SystemExit(f"{path}: {describe_validation_error(error)}") from error


def _pairs(pairs: list[str], flag: str = "--data") -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} {pair!r}: use KEY=VALUE")
        data[key] = value
    return data


def _broadcast(args: argparse.Namespace) -> int:
    target: dict[str, Any] = {"all_users": True}
    if args.users:
        if args.users.startswith("@"):
            with open(args.users[1:], encoding="utf-8") as handle:
                users = [line.strip() for line in handle if line.strip()]
        else:
            users = [u.strip() for u in args.users.split(",") if u.strip()]
        target = {"user_ids": users}
    elif args.where:
        wanted: dict[str, list[str]] = {}
        for key, value in _pairs(args.where, "--where").items():
            wanted.setdefault(key, []).extend(v.strip() for v in value.split(","))
        target = {"attributes": wanted}
    elif args.segment:
        target = {"segment_name": args.segment}
    body = {
        "template_id": args.template,
        "data": _pairs(args.data),
        "target": target,
        "dedupe_key": args.dedupe_key,
        "rate_per_minute": args.rate,
    }
    created = _admin_call(args, "POST", "/admin/v1/broadcasts", body)
    print(f"broadcast {created['broadcast_id']} started; plan: {json.dumps(created['plan'])}")
    print(f"progress: nudge broadcast-status {created['broadcast_id']}  (add --cancel to stop)")
    return 0


def _send(args: argparse.Namespace) -> int:
    import hashlib
    from urllib.parse import quote

    from nudge.clock import parse_duration

    data = _pairs(args.data)
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
    queued = _admin_call(
        args, "POST", f"/admin/v1/users/{quote(args.user, safe='')}/messages", body
    )
    print(f"queued message {queued['job_id']} (dedupe key {queued['dedupe_key']})")
    print(f"outcome: nudge message {queued['job_id']}  (or GET /admin/v1/messages/<job_id>)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nudge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", help="admin API base URL (default: the local stack)")
    parser.add_argument("--state-dir", default=".nudge", help="local stack state directory")
    sub = parser.add_subparsers(dest="command", required=True)
    _local_commands(sub)
    report = sub.add_parser("report", help="reports").add_subparsers(dest="report", required=True)
    lifecycle = report.add_parser("lifecycle", help="users per lifecycle stage")
    lifecycle.add_argument("--days", type=int, default=30)
    lifecycle.add_argument("--json", action="store_true")
    user = sub.add_parser("user", help="a user's data").add_subparsers(dest="action", required=True)
    for action in ("export", "erase"):
        user.add_parser(action).add_argument("user_id")
    template = sub.add_parser("template", help="message templates").add_subparsers(
        dest="template_action", required=True
    )
    for action in ("validate", "put"):
        template.add_parser(action, help=f"{action} a template YAML file").add_argument("file")
    send = sub.add_parser("send", help="send a message to one user (once per dedupe key)")
    send.add_argument("--user", required=True)
    send.add_argument("--template", required=True, help="a saved template id")
    send.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    send.add_argument("--dedupe-key", help="default: the same user, template and data send once")
    send.add_argument("--ttl", default="1d", help="drop it if not delivered within, e.g. 15m")
    sub.add_parser("message", help="a queued message's outcomes").add_argument("job_id")
    broadcast = sub.add_parser("broadcast", help="one message to many users, paced")
    broadcast.add_argument("--template", required=True, help="a saved template id")
    who = broadcast.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="comma-separated user ids, or @file with one per line")
    who.add_argument("--everyone", action="store_true", help="everyone with a device")
    who.add_argument(
        "--where",
        action="append",
        metavar="ATTR=V1,V2",
        help="users whose attribute has one of the values (e.g. team=payments); repeatable",
    )
    who.add_argument("--segment", help="a named segment (see nudge segments push)")
    broadcast.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    broadcast.add_argument("--dedupe-key", required=True, help="one push per user for this key")
    broadcast.add_argument("--rate", type=int, default=500_000, help="pushes per minute")
    progress = sub.add_parser("broadcast-status", help="a broadcast's progress (or --cancel)")
    progress.add_argument("broadcast_id")
    progress.add_argument("--cancel", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "local":
        if getattr(args, "local_missing", False):
            print("the local stack is dev tooling: pip install -e '.[dev]'", file=sys.stderr)
            return 2
        from nudge_local.cli import run

        return run(args)
    if args.command == "report":
        data = _admin_call(args, "GET", f"/admin/v1/reports/lifecycle?days={args.days}")
        print(json.dumps(data, indent=2)) if args.json else _print_lifecycle(data)
        return 0
    from urllib.parse import quote

    if args.command == "template":
        loaded = _load_template(args.file)
        if args.template_action == "validate":
            print(f"{args.file}: template {loaded['id']!r} is valid")
            return 0
        saved = _admin_call(args, "PUT", f"/admin/v1/templates/{quote(loaded['id'])}", loaded)
        print(f"saved template {saved['id']!r}")
        return 0
    if args.command == "send":
        return _send(args)
    if args.command == "broadcast":
        return _broadcast(args)
    if args.command == "broadcast-status":
        method = "DELETE" if args.cancel else "GET"
        path = f"/admin/v1/broadcasts/{quote(args.broadcast_id, safe='')}"
        print(json.dumps(_admin_call(args, method, path), indent=2))
        return 0
    if args.command == "message":
        outcome = _admin_call(args, "GET", f"/admin/v1/messages/{quote(args.job_id, safe='')}")
        print(json.dumps(outcome, indent=2))
        return 0
    method = "GET" if args.action == "export" else "DELETE"
    print(
        json.dumps(
            _admin_call(args, method, f"/admin/v1/users/{quote(args.user_id, safe='')}"), indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
