"""The `nudge` command line for marketers and ops.

    nudge local up|down|status|token|clock|drain   the embedded local stack (dev install)
    nudge report lifecycle [--days 30]             users per stage and recent transitions
    nudge user export|erase USER_ID                a user's data (admin API, SigV4-signed)

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


def _admin_call(args: argparse.Namespace, method: str, path: str) -> Any:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    api_url, credentials, region = _admin_target(args)
    url = f"{api_url}{path}"
    request = AWSRequest(method=method, url=url, data=b"", headers={"host": url.split("/")[2]})
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    http_request = urllib.request.Request(  # noqa: S310 - the API URL the operator chose
        url, method=method, headers=dict(request.headers.items())
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

    method = "GET" if args.action == "export" else "DELETE"
    print(
        json.dumps(
            _admin_call(args, method, f"/admin/v1/users/{quote(args.user_id, safe='')}"), indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
