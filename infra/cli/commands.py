"""The `nudge` command line for marketers and ops.

    nudge local up|down|status|token|clock|drain   the embedded local stack (dev install)
    nudge report lifecycle [--days 30]             users per stage and recent transitions
    nudge report campaigns [--since 30d]           funnel, rates, lift per campaign and variant
    nudge report campaign ID [--since 30d]         one campaign: funnel, suppressions, lift
    nudge report sunset [--since 7d]               what to retire: weak opens, many opt-outs
    nudge report html --out report.html [--since 30d]   charts (needs the `charts` extra)
    nudge user export|erase USER_ID                a user's data (admin API, SigV4-signed)
    nudge template validate|put FILE.yaml          message templates
    nudge send --user U --template ID --data k=v   one message, once per dedupe key
    nudge message JOB_ID                           what happened to it, device by device
    nudge broadcast --template ID --users a,b|--everyone|--where team=ops|--segment NAME
                    --dedupe-key K
    nudge broadcast-status ID [--cancel] [--json]  progress and outcomes, or stop it
    nudge campaign validate FILE... [--segments F] check campaign files offline (file:line)
    nudge campaign push FILE...                    validate, upload to the configs bucket, wait
    nudge campaign list | show ID                  status, version, load errors
    nudge campaign pause|resume|archive ID         in-flight sends are unaffected
    nudge campaign restore ID --version N          an earlier version, as a new version
    nudge campaign preview FILE --user U           what it would do for one user (no send)
    nudge campaign estimate FILE                   audience size (sampled; no send)
    nudge segments push FILE                       a named segments file (segments/<name>.yaml)
    nudge survey validate|push FILE... [--segments F]
                                                   NPS survey configs (surveys/<id>.yaml)
    nudge survey list | show ID | pause|resume|archive ID
    nudge nps report SURVEY [--period weekly|daily] [--by lifecycle] [--since 30d]
    nudge nps export SURVEY --out FILE.csv [--since 90d] [--include-user-id]
    nudge geofences validate FILE...               check fence sets offline (GeoJSON or CSV)
    nudge geofences push FILE [--set-id ID]        upload to geofences/<set_id>.geojson|.csv, wait
    nudge geofences list                           sets: status, version, fence count, errors
    nudge geofences archive|activate ID            take a set out of (or back into) use
    nudge geofences near --lat L --lng L [--limit N] [--platform ios|android]
                                                   what the app would be told to monitor there
    nudge smoke --api-url URL --token JWT          after a deploy: an event in, seen in
                                                   GET /v1/me, erased (the token's test user)

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
    return json.loads(_admin_raw(args, method, path, body) or b"null")


def _admin_raw(args: argparse.Namespace, method: str, path: str, body: Any = None) -> bytes:
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
            return bytes(response.read())
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


def print_campaigns(report: dict[str, Any]) -> None:
    """Campaigns as a marketer scans them: one line per variant, then why others were not sent."""
    print(f"Campaigns, last {report['days']} days")
    header = f"{'campaign':<28}{'variant':<10}{'sent':>7}{'conv.':>7}{'conv %':>8}"
    print(header + f"{'targeted':>10}  suppressed (top reasons)")
    for cid, row in report["campaigns"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in list(row["suppressed"].items())[:4]) or "-"
        lines = [
            (vid, v["sent"], v["converted"], v["conversion_pct"])
            for vid, v in row["variants"].items()
        ]
        if row["holdout"]:
            lines.append(
                ("holdout", row["holdout"], row["holdout_converted"], row["holdout_conversion_pct"])
            )
        for i, (variant, sent, converted, pct) in enumerate(lines or [("-", 0, 0, None)]):
            name = f"{cid} ({row['status']})" if i == 0 else ""
            rate = "-" if pct is None else f"{pct:.1f}"
            tail = f"{row['targeted']:>10}  {reasons}" if i == 0 else ""
            print(f"{name:<28}{variant:<10}{sent:>7}{converted:>7}{rate:>8}{tail}")


def broadcast_reach(progress: dict[str, Any]) -> str:
    """What a broadcast's messages did, in a line (from GET /admin/v1/broadcasts/ID)."""
    counted = progress["outcomes"]
    rate = f" ({counted['open_rate']:.0%})" if counted["open_rate"] is not None else ""
    opted_out = f", {counted['opt_outs']} opted out after it" if counted["opt_outs"] else ""
    return f"delivered to {counted['delivered']}, opened by {counted['opened']}{rate}{opted_out}"


def print_broadcast(progress: dict[str, Any]) -> None:
    counted = progress["outcomes"]
    total = progress["total"] if progress["total"] is not None else "everyone"
    print(f"Broadcast {progress['broadcast_id']} ({progress['status']})")
    print(f"  queued      {progress['enqueued']} (users looked at: {progress['scanned']}, "
          f"of {total})")  # fmt: skip
    print(f"  outcome     {broadcast_reach(progress)}")
    for label, kind, by in (("failed", "failed", "failed_by_code"),
                            ("held back", "suppressed", "suppressed_by_reason"),
                            ("opt-outs", "opt_outs", "opt_outs_by_kind")):  # fmt: skip
        details = ", ".join(f"{why} {n}" for why, n in counted[by].items())
        print(f"  {label:<11} {counted[kind]}" + (f": {details}" if details else ""))
    print(f"  started     {progress['created_at']}")
    if progress["finished_at"]:
        print(f"  finished    {progress['finished_at']}")


def parse_days(text: str, option: str = "--since") -> int:
    """'30d' (or '30') -> 30; anything else is a clear usage error naming the option."""
    value = text.strip().lower().removesuffix("d")
    if not value.isdigit() or not 1 <= int(value) <= 400:
        raise SystemExit(f"{option}: use a number of days from 1 to 400, e.g. 30d (got {text!r})")
    return int(value)


def _pct(rate: dict[str, Any] | None) -> str:
    if not rate or rate.get("pct") is None:
        return "n/a"
    return f"{rate['pct']:.1f}%"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def print_engagement(report: dict[str, Any]) -> None:
    """Opens, opt-outs against the baseline, and lift: one line per campaign, then formats."""
    print(f"\nEngagement, {report.get('since', '?')} to {report.get('until', '?')}")
    print(
        f"{'campaign':<28}{'deliv.':>8}{'opened':>8}{'open %':>8}{'vs base':>8}"
        f"{'opt-out':>8}{'opt %':>7}{'vs base':>8}  lift"
    )
    for cid, row in report["campaigns"].items():
        rail = row.get("guard_rail") or {}
        print(
            f"{cid:<28}{row.get('delivered', 0):>8}{row.get('opened', 0):>8}"
            f"{_pct(row.get('open_rate')):>8}{_signed(rail.get('open_vs_baseline_pts')):>8}"
            f"{row.get('opt_outs', 0):>8}{_pct(row.get('opt_out_rate')):>7}"
            f"{_signed(rail.get('opt_out_vs_baseline_pts')):>8}  "
            f"{(row.get('lift') or {}).get('label', '-')}"
        )
    for fmt, row in (report.get("formats") or {}).items():
        print(
            f"  format {fmt:<19} opens {_pct(row['open_rate'])}, "
            f"opt-outs {_pct(row['opt_out_rate'])}: {row['evidence']}"
        )
    loose = report.get("unattributed_opt_outs") or {}
    if loose.get("opt_out"):
        print(f"  opt-outs with no message before them: {loose['opt_out']}")
    other = report.get("other_message_opt_outs") or {}
    if other.get("opt_out"):
        print(f"  opt-outs after a broadcast or transactional message: {other['opt_out']}")


def print_campaign(report: dict[str, Any]) -> None:
    """One campaign: the funnel, why others were not sent, failures, opt-outs, lift."""
    print(
        f"Campaign {report['id']} ({report['status']}, {report['category']}), "
        f"{report['since']} to {report['until']}"
    )
    print("\nFunnel")
    top = report["funnel"][0]["count"] or 0
    for step in report["funnel"]:
        share = f"{100 * step['count'] / top:.1f}%" if top else "n/a"
        print(f"  {step['step']:<12}{step['count']:>8}  {share:>7}")
    print(f"  {'holdout':<12}{report['holdout']:>8}  (converted {report['holdout_converted']})")
    print(
        f"\nOpen rate {report['open_rate']['label']}; "
        f"opt-out rate {report['opt_out_rate']['label']}"
    )
    rail = report.get("guard_rail")
    if rail:
        print(f"  {rail['evidence']}")
    for title, values in (
        ("Suppressed by reason", report["suppressed"]),
        ("Failed by error", report["failures"]),
        ("Opt-outs by kind", report["opt_outs_by_kind"]),
    ):
        print(f"\n{title}")
        for key, count in values.items() or {"(none)": 0}.items():
            print(f"  {key:<24}{count:>8}")
    print("\nVariants")
    print(
        f"  {'variant':<12}{'format':<7}{'sent':>7}{'deliv.':>8}{'opened':>8}{'open %':>8}"
        f"{'opt-outs':>9}"
    )
    for vid, v in report["variants"].items():
        fmt = report["formats"].get(vid, "-")
        print(
            f"  {vid:<12}{fmt:<7}{v['sent']:>7}{v['delivered']:>8}{v['opened']:>8}"
            f"{_pct(v['open_rate']):>8}{v['opt_outs']:>9}"
        )
    lift = report["lift"]
    print(f"\nLift (conversion, exposed vs holdout): {lift['label']}")
    for vid, v in report["variant_lift"].items():
        print(f"  {vid:<12}{v['label']}")


def print_sunset(report: dict[str, Any]) -> None:
    print(f"Sunset advice, {report['since']} to {report['until']}: {report['summary']}")
    if report["candidates"]:
        print(
            f"\n{'kind':<10}{'name':<28}{'open %':>8}{'short':>7}{'opt %':>8}{'excess':>8}"
            "  evidence"
        )
        for c in report["candidates"]:
            print(
                f"{c['kind']:<10}{c['key']:<28}{_pct(c['open_rate']):>8}"
                f"{-c['open_shortfall_pts']:>+7.1f}{_pct(c['opt_out_rate']):>8}"
                f"{c['opt_out_excess_pts']:>+8.1f}  {c['evidence']}"
            )
    if report["not_judged"]:
        small = ", ".join(
            f"{r['kind']} {r['key']} ({r['delivered']})" for r in report["not_judged"]
        )
        print(f"\nNot judged (fewer than {report['min_sample']} delivered): {small}")


def _print_campaigns_and_engagement(report: dict[str, Any]) -> None:
    print_campaigns(report)
    print_engagement(report)


def _report(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    since = getattr(args, "since", None)
    days = parse_days(since) if since else args.days
    if args.report == "html":
        from nudge_cli.report_html import write_report

        path = write_report(lambda p: _admin_call(args, "GET", p), args.out, days)
        print(f"wrote {path}")
        return 0
    printer: Any
    if args.report == "campaign":
        path = f"/admin/v1/reports/campaigns/{quote(args.campaign_id, safe='')}?days={days}"
        printer = print_campaign
    else:
        path = f"/admin/v1/reports/{args.report}?days={days}"
        printer = {
            "lifecycle": _print_lifecycle,
            "campaigns": _print_campaigns_and_engagement,
            "sunset": print_sunset,
        }[args.report]
    data = _admin_call(args, "GET", path)
    print(json.dumps(data, indent=2)) if args.json else printer(data)
    return 0


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


# --- campaigns -------------------------------------------------------------------------------

PUSH_WAIT_S = 60.0  # a cold config_loader on a busy laptop can take a while


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise SystemExit(f"{path}: file is not UTF-8 text") from error


def _print_problems(problems: list[Any]) -> None:
    for problem in problems:
        print(f"  ✗ {problem}", file=sys.stderr)


def _segments_file(segments_file: str | None) -> dict[str, Any] | None:
    """The named segments of --segments (None: not given); exits 1 if the file is invalid."""
    from nudge.configfiles import ConfigError, load_config
    from nudge.models.campaign import NamedSegments

    if not segments_file:
        return None
    try:
        return dict(load_config(_read_text(segments_file), NamedSegments, segments_file).segments)
    except ConfigError as error:
        print(f"{segments_file}: not valid", file=sys.stderr)
        _print_problems(error.problems)
        raise SystemExit(1) from error


def _validate_files(files: list[str], segments_file: str | None) -> list[tuple[str, str, Any]]:
    """(path, text, campaign) per file; prints located problems and exits 1 on any."""
    from nudge.configfiles import ConfigError
    from nudge.services.campaign_configs import check_campaign_text

    segments = _segments_file(segments_file)
    checked, failed = [], False
    for path in files:
        text = _read_text(path)
        try:
            campaign = check_campaign_text(text, path, segments)
        except ConfigError as error:
            failed = True
            print(f"{path}: {len(error.problems)} problem(s)", file=sys.stderr)
            _print_problems(error.problems)
            continue
        checked.append((path, text, campaign))
    if failed:
        raise SystemExit(1)
    return checked


def _configs_bucket(args: argparse.Namespace) -> tuple[Any, str]:
    """(s3 client, bucket): the local stack's moto bucket, or --bucket / NUDGE_CONFIGS_BUCKET."""
    import boto3

    bucket = args.bucket or os.environ.get("NUDGE_CONFIGS_BUCKET")
    if args.api_url or os.environ.get("NUDGE_API_URL"):
        if not bucket:
            raise SystemExit(
                "give --bucket (or NUDGE_CONFIGS_BUCKET): the stack's ConfigsBucketName"
            )
        return boto3.session.Session().client("s3"), bucket
    state_file = Path(args.state_dir) / "local.json"
    if not state_file.exists():
        raise SystemExit("give --api-url and --bucket, or start the local stack: make up")
    state = json.loads(state_file.read_text())
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's, local only
        region_name=state["region"],
    )
    s3 = session.client("s3", endpoint_url=state["moto_url"])
    return s3, bucket or state["buckets"]["ConfigsBucket"]


def _wait_loaded(
    args: argparse.Namespace, path: str, digest: str, what: str
) -> tuple[int | None, list[Any]]:
    """Poll the admin API until this content is current (its version) or was rejected."""
    import time

    deadline = time.monotonic() + PUSH_WAIT_S
    while True:
        row = _admin_call_optional(args, "GET", path)
        if what == "segments":
            row = next((r for r in (row or {}).get("segments", []) if r["sha256"] == digest), row)
        if isinstance(row, dict):
            if row.get("sha256") == digest:
                return row["version"], []
            if row.get("errors_sha256") == digest and row.get("errors"):
                return None, row["errors"]
        if time.monotonic() > deadline:
            raise SystemExit(
                f"not loaded within {PUSH_WAIT_S:.0f}s; check `nudge campaign list` later"
            )
        time.sleep(0.3)


def _admin_call_optional(args: argparse.Namespace, method: str, path: str) -> Any:
    try:
        return _admin_call(args, method, path)
    except SystemExit as error:
        if " 404 " in str(error):
            return None
        raise


def _format_problem(problem: dict[str, Any]) -> str:
    where = f"{problem['source']}:{problem['line']}" if problem.get("line") else problem["source"]
    field = f"{problem['field']}: " if problem.get("field") else ""
    return f"{where}: {field}{problem['message']}"


def _campaign_push(args: argparse.Namespace) -> int:
    import hashlib
    from urllib.parse import quote

    checked = _validate_files(args.files, args.segments)
    s3, bucket = _configs_bucket(args)
    failed = False
    for path, text, campaign in checked:
        key = f"campaigns/{campaign.id}.yaml"
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        version, errors = _wait_loaded(
            args, f"/admin/v1/campaigns/{quote(campaign.id)}", digest, "campaign"
        )
        if errors:
            failed = True
            print(f"{path}: uploaded to s3://{bucket}/{key} but not loaded:", file=sys.stderr)
            for problem in errors:
                print(f"  ✗ {_format_problem(problem)}", file=sys.stderr)
            print("  the previous version stays current", file=sys.stderr)
        else:
            print(f"{path}: campaign {campaign.id!r} is live as version {version}")
    return 1 if failed else 0


def _segments_push(args: argparse.Namespace) -> int:
    import hashlib
    import re

    from nudge.configfiles import ConfigError, load_config
    from nudge.models.campaign import NamedSegments

    name = Path(args.file).stem
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,63}", name):
        raise SystemExit(f"{args.file}: name the file like segments-name.yaml (a-z, 0-9, - and _)")
    text = _read_text(args.file)
    try:
        load_config(text, NamedSegments, args.file)
    except ConfigError as error:
        print(f"{args.file}: {len(error.problems)} problem(s)", file=sys.stderr)
        _print_problems(error.problems)
        return 1
    s3, bucket = _configs_bucket(args)
    s3.put_object(Bucket=bucket, Key=f"segments/{name}.yaml", Body=text.encode("utf-8"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    version, errors = _wait_loaded(args, "/admin/v1/segments", digest, "segments")
    if errors:
        print(f"{args.file}: not loaded:", file=sys.stderr)
        for problem in errors:
            print(f"  ✗ {_format_problem(problem)}", file=sys.stderr)
        return 1
    print(f"{args.file}: segments {name!r} are live as version {version}")
    return 0


def _print_campaigns(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No campaigns yet: nudge campaign push FILE.yaml")
        return
    print(f"{'campaign':<28} {'status':<11} {'version':>7}  {'trigger':<10} name")
    for row in rows:
        version = row["version"] if row["version"] is not None else "-"
        print(
            f"{row['id']:<28} {row['status']:<11} {version!s:>7}  "
            f"{row.get('trigger') or '-':<10} {row.get('name') or ''}"
        )
        if row.get("status_reason"):
            print(f"    ! {row['status_reason']}")
        for problem in row.get("errors") or []:
            print(f"    ✗ {_format_problem(problem)}")


def _print_estimate(result: dict[str, Any]) -> None:
    low, high = result["interval_95"]
    exact = "exact" if result["complete"] else f"95% interval {low:,}-{high:,}"
    print(f"Audience of {result['campaign']!r}: about {result['estimate']:,} users ({exact})")
    print(
        f"  matched {result['matched']:,} of {result['scanned']:,} profiles read "
        f"({result['sampled_segments']} of {result['total_segments']} scan segments; "
        f"{result['users']:,} users in all)"
    )
    for stage, counts in result["by_stage"].items():
        print(f"  {stage:<12} {counts['estimate']:>9,}")


def _campaign(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    action = args.campaign_action
    if action == "validate":
        for path, _, campaign in _validate_files(args.files, args.segments):
            print(f"✓ {path}: campaign {campaign.id!r} is valid")
        return 0
    if action == "push":
        return _campaign_push(args)
    if action == "list":
        rows = _admin_call(args, "GET", "/admin/v1/campaigns")["campaigns"]
        print(json.dumps(rows, indent=2)) if args.json else _print_campaigns(rows)
        return 0
    if action == "show":
        print(
            json.dumps(_admin_call(args, "GET", f"/admin/v1/campaigns/{quote(args.id)}"), indent=2)
        )
        return 0
    if action in ("pause", "resume", "archive"):
        status = {"pause": "paused", "resume": "active", "archive": "archived"}[action]
        done = _admin_call(
            args, "POST", f"/admin/v1/campaigns/{quote(args.id)}/status", {"status": status}
        )
        print(f"campaign {done['id']!r} is {done['status']} (version {done['version']})")
        return 0
    if action == "restore":
        done = _admin_call(
            args, "POST", f"/admin/v1/campaigns/{quote(args.id)}/restore", {"version": args.version}
        )
        print(
            f"campaign {done['id']!r}: version {args.version} restored as version {done['version']}"
        )
        return 0
    text = _read_text(args.file)
    if action == "preview":
        result = _admin_call(
            args, "POST", "/admin/v1/campaigns/preview", {"yaml": text, "user_id": args.user}
        )
        print(json.dumps(result, indent=2))
        return 0
    result = _admin_call(args, "POST", "/admin/v1/campaigns/estimate", {"yaml": text})
    print(json.dumps(result, indent=2)) if args.json else _print_estimate(result)
    return 0


def _campaign_commands(sub: argparse._SubParsersAction) -> None:
    campaign = sub.add_parser("campaign", help="campaign configs").add_subparsers(
        dest="campaign_action", required=True
    )
    for action, text in (("validate", "check files offline"), ("push", "validate and publish")):
        p = campaign.add_parser(action, help=text)
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--segments", help="a named segments file to check references against")
        p.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
    campaign.add_parser("list", help="every campaign").add_argument("--json", action="store_true")
    campaign.add_parser("show", help="one campaign, every version").add_argument("id")
    for action in ("pause", "resume", "archive"):
        campaign.add_parser(action, help=f"{action} a campaign").add_argument("id")
    restore = campaign.add_parser("restore", help="make an earlier version current again")
    restore.add_argument("id")
    restore.add_argument("--version", type=int, required=True)
    preview = campaign.add_parser("preview", help="what it would do for one user now")
    preview.add_argument("file")
    preview.add_argument("--user", required=True)
    estimate = campaign.add_parser("estimate", help="audience size (sampled)")
    estimate.add_argument("file")
    estimate.add_argument("--json", action="store_true")
    segments = sub.add_parser("segments", help="named segments").add_subparsers(
        dest="segments_action", required=True
    )
    push = segments.add_parser("push", help="publish segments/<file name>.yaml")
    push.add_argument("file")
    push.add_argument("--bucket", help="the configs bucket (default: the local stack's)")


# --- surveys (NPS) ---------------------------------------------------------------------------


def _validate_surveys(files: list[str], segments_file: str | None) -> list[tuple[str, str, Any]]:
    from nudge.configfiles import ConfigError
    from nudge.services.survey_configs import check_survey_text

    segments = _segments_file(segments_file)  # None: named segments are checked when loaded
    checked, failed = [], False
    for path in files:
        text = _read_text(path)
        try:
            survey = check_survey_text(text, path, segments)
        except ConfigError as error:
            failed = True
            print(f"{path}: {len(error.problems)} problem(s)", file=sys.stderr)
            _print_problems(error.problems)
            continue
        checked.append((path, text, survey))
    if failed:
        raise SystemExit(1)
    return checked


def _survey_push(args: argparse.Namespace) -> int:
    import hashlib
    from urllib.parse import quote

    checked = _validate_surveys(args.files, args.segments)
    s3, bucket = _configs_bucket(args)
    failed = False
    for path, text, survey in checked:
        key = f"surveys/{survey.id}.yaml"
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        version, errors = _wait_loaded(
            args, f"/admin/v1/surveys/{quote(survey.id)}", digest, "survey"
        )
        if errors:
            failed = True
            print(f"{path}: uploaded to s3://{bucket}/{key} but not loaded:", file=sys.stderr)
            for problem in errors:
                print(f"  ✗ {_format_problem(problem)}", file=sys.stderr)
        else:
            print(f"{path}: survey {survey.id!r} is live as version {version} ({survey.status})")
    return 1 if failed else 0


def _survey(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    action = args.survey_action
    if action == "validate":
        for path, _, survey in _validate_surveys(args.files, args.segments):
            print(f"✓ {path}: survey {survey.id!r} is valid")
        return 0
    if action == "push":
        return _survey_push(args)
    if action == "list":
        rows = _admin_call(args, "GET", "/admin/v1/surveys")["surveys"]
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("No surveys yet: nudge survey push FILE.yaml")
        else:
            print(f"{'survey':<28} {'status':<11} {'version':>7}  {'sample':>6}  trigger")
            for row in rows:
                version = row["version"] if row["version"] is not None else "-"
                sample = f"{row['sample_pct']:g}%" if row.get("sample_pct") is not None else "-"
                print(
                    f"{row['id']:<28} {row['status']:<11} {version!s:>7}  {sample:>6}  "
                    f"{row.get('trigger') or '-'}"
                )
                for problem in row.get("errors") or []:
                    print(f"    ✗ {_format_problem(problem)}")
        return 0
    if action == "show":
        path = f"/admin/v1/surveys/{quote(args.id)}"
        print(json.dumps(_admin_call(args, "GET", path), indent=2))
        return 0
    status = {"pause": "paused", "resume": "active", "archive": "archived"}[action]
    done = _admin_call(
        args, "POST", f"/admin/v1/surveys/{quote(args.id)}/status", {"status": status}
    )
    print(f"survey {done['id']!r} is {done['status']} (version {done['version']})")
    return 0


def _fmt_nps(row: dict[str, Any]) -> str:
    if row["nps"] is None:
        return f"{'-':>6} {row['n']:>6}  {'':<15}"
    ci = f"[{row['ci_low']:.0f}, {row['ci_high']:.0f}]"
    flag = "  (not enough responses)" if row["not_enough_responses"] else ""
    return f"{row['nps']:>6.1f} {row['n']:>6}  {ci:<15}{flag}"


def _print_nps(report: dict[str, Any]) -> None:
    overall = report["overall"]
    print(
        f"NPS of {report['survey_id']!r} ({report['status']}), {report['since']} to "
        f"{report['until']}: {overall['label']}"
    )
    print(f"\n{'period':<12} {'NPS':>6} {'n':>6}  95% CI")
    for point in report["trend"]:
        print(f"{point['period']:<12} {_fmt_nps(point)}")
    if report.get("breakdown") is not None:
        print(f"\nby {report['by']}:")
        print(f"{'value':<16} {'NPS':>6} {'n':>6}  95% CI")
        for row in report["breakdown"]:
            print(f"{row['value']:<16} {_fmt_nps(row)}")
    themes = report.get("themes")
    if themes:
        print(
            f"\nthemes ({themes['comments']} comments from the last "
            f"{themes['responses_read']} responses):"
        )
        for theme in themes["themes"]:
            avg = theme["average_score"]
            score = f"avg {avg:.1f}" if avg is not None else ""
            print(f"  {theme['name']:<32} {theme['size']:>5}  {score}")
            for example in theme["examples"][:2]:
                print(f"      “{example}”")


def _nps(args: argparse.Namespace) -> int:
    from urllib.parse import quote, urlencode

    if args.nps_action == "report":
        query = {"period": args.period, "since": args.since}
        if args.by:
            query["by"] = args.by
        path = f"/admin/v1/reports/nps/{quote(args.survey)}?{urlencode(query)}"
        report = _admin_call(args, "GET", path)
        print(json.dumps(report, indent=2)) if args.json else _print_nps(report)
        return 0
    query = {"since": args.since}
    if args.include_user_id:
        query["include_user_id"] = "true"
    path = f"/admin/v1/surveys/{quote(args.survey)}/responses.csv?{urlencode(query)}"
    data = _admin_raw(args, "GET", path)
    Path(args.out).write_bytes(data)
    rows = max(0, data.count(b"\r\n") - 1)
    print(f"wrote {rows} responses to {args.out}")
    return 0


def _survey_commands(sub: argparse._SubParsersAction) -> None:
    survey = sub.add_parser("survey", help="NPS survey configs").add_subparsers(
        dest="survey_action", required=True
    )
    for action, text in (("validate", "check files offline"), ("push", "validate and publish")):
        p = survey.add_parser(action, help=text)
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--segments", help="a named segments file to check references against")
        p.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
    survey.add_parser("list", help="every survey").add_argument("--json", action="store_true")
    survey.add_parser("show", help="one survey, every version").add_argument("id")
    for action in ("pause", "resume", "archive"):
        survey.add_parser(action, help=f"{action} a survey").add_argument("id")
    nps = sub.add_parser("nps", help="NPS reports").add_subparsers(dest="nps_action", required=True)
    report = nps.add_parser("report", help="trend, breakdown and comment themes")
    report.add_argument("survey")
    report.add_argument("--period", choices=["weekly", "daily"], default="weekly")
    report.add_argument("--by", choices=["lifecycle", "platform", "app_version", "country"])
    report.add_argument("--since", default="30d", help="e.g. 30d, 90d (max 730d)")
    report.add_argument("--json", action="store_true")
    export = nps.add_parser("export", help="the answers as CSV")
    export.add_argument("survey")
    export.add_argument("--out", required=True)
    export.add_argument("--since", default="90d")
    export.add_argument("--include-user-id", action="store_true")


# --- geofences ------------------------------------------------------------------------------

GEOFENCE_SUFFIXES = {".geojson": ".geojson", ".json": ".geojson", ".csv": ".csv"}


def _validate_fence_file(path: str, set_id: str | None) -> Any:
    """The parsed FenceSet; prints located problems and exits 1 when the file is bad."""
    from nudge.configfiles import ConfigError
    from nudge.domain.geofence_import import load_fence_set_file

    try:
        return load_fence_set_file(path, set_id=set_id)
    except ConfigError as error:
        print(f"{path}: {len(error.problems)} problem(s)", file=sys.stderr)
        _print_problems(error.problems)
        raise SystemExit(1) from error


def _wait_fence_set(args: argparse.Namespace, set_id: str, digest: str, raw_digest: str) -> Any:
    """Poll the admin API until the set is current with this content, or was rejected."""
    import time

    deadline = time.monotonic() + PUSH_WAIT_S
    while True:
        rows = _admin_call(args, "GET", "/admin/v1/geofences")["sets"]
        row = next((r for r in rows if r["id"] == set_id), None)
        if row is not None:
            if row.get("sha256") == digest and row.get("status") == "active":
                return row["version"], []
            if row.get("errors_sha256") == raw_digest and row.get("errors"):
                return None, row["errors"]
        if time.monotonic() > deadline:
            raise SystemExit(
                f"not loaded within {PUSH_WAIT_S:.0f}s; check `nudge geofences list` later"
            )
        time.sleep(0.3)


def _geofences_push(args: argparse.Namespace) -> int:
    import hashlib

    suffix = GEOFENCE_SUFFIXES.get(Path(args.file).suffix.lower())
    if suffix is None:
        raise SystemExit(f"{args.file}: expected a .geojson, .json or .csv file")
    fence_set = _validate_fence_file(args.file, args.set_id)
    text = _read_text(args.file)
    s3, bucket = _configs_bucket(args)
    key = f"geofences/{fence_set.id}{suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
    raw_digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    version, errors = _wait_fence_set(args, fence_set.id, fence_set.content_hash, raw_digest)
    if errors:
        print(f"{args.file}: uploaded to s3://{bucket}/{key} but not loaded:", file=sys.stderr)
        for problem in errors:
            print(f"  ✗ {_format_problem(problem)}", file=sys.stderr)
        print("  the previous version stays current", file=sys.stderr)
        return 1
    print(
        f"{args.file}: fence set {fence_set.id!r} ({len(fence_set.fences)} fences) is live "
        f"as version {version}"
    )
    return 0


def _print_fence_sets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No fence sets yet: nudge geofences push FILE.geojson")
        return
    print(f"{'set':<28} {'status':<11} {'version':>7} {'fences':>7}  name")
    for row in rows:
        version = row["version"] if row["version"] is not None else "-"
        fences = row["fences"] if row.get("fences") is not None else "-"
        print(
            f"{row['id']:<28} {row['status']:<11} {version!s:>7} {fences!s:>7}  "
            f"{row.get('name') or ''}"
        )
        for problem in row.get("errors") or []:
            print(f"    ✗ {_format_problem(problem)}")


def _geofences(args: argparse.Namespace) -> int:
    from urllib.parse import quote, urlencode

    action = args.geofences_action
    if action == "validate":
        for path in args.files:
            fence_set = _validate_fence_file(path, args.set_id)
            tags = sorted({tag for fence in fence_set.fences for tag in fence.tags})
            print(
                f"✓ {path}: fence set {fence_set.id!r} is valid: {len(fence_set.fences)} fences"
                + (f", tags {', '.join(tags)}" if tags else "")
            )
        return 0
    if action == "push":
        return _geofences_push(args)
    if action == "list":
        rows = _admin_call(args, "GET", "/admin/v1/geofences")["sets"]
        print(json.dumps(rows, indent=2)) if args.json else _print_fence_sets(rows)
        return 0
    if action in ("archive", "activate"):
        status = "archived" if action == "archive" else "active"
        done = _admin_call(
            args, "POST", f"/admin/v1/geofences/{quote(args.id)}/status", {"status": status}
        )
        print(f"fence set {done['id']!r} is {done['status']} (version {done['version']})")
        return 0
    query = {"lat": args.lat, "lng": args.lng, "platform": args.platform}
    if args.limit is not None:
        query["limit"] = args.limit
    result = _admin_call(args, "GET", f"/admin/v1/geofences/near?{urlencode(query)}")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for fence in result["fences"]:
        shape = "polygon" if fence["circumscribed"] else "circle"
        print(
            f"{fence['distance_m']:>9.1f} m  {fence['id']:<40} {fence['name']} "
            f"({shape}, r={fence['radius_m']:.0f} m)"
        )
    if not result["fences"]:
        print("No fences within 25 km (or none published)")
    print(f"ask again after moving {result['refresh_radius_m']:.0f} m")
    return 0


def _geofence_commands(sub: argparse._SubParsersAction) -> None:
    geofences = sub.add_parser("geofences", help="fence sets (GeoJSON or CSV)").add_subparsers(
        dest="geofences_action", required=True
    )
    validate = geofences.add_parser("validate", help="check fence set files offline")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--set-id", help="default: the file name")
    push = geofences.add_parser("push", help="validate, upload to the configs bucket, wait")
    push.add_argument("file")
    push.add_argument("--set-id", help="default: the file name (lowercase)")
    push.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
    geofences.add_parser("list", help="every fence set").add_argument("--json", action="store_true")
    for action in ("archive", "activate"):
        geofences.add_parser(action, help=f"{action} a fence set").add_argument("id")
    near = geofences.add_parser("near", help="the fences the app would monitor at a point")
    near.add_argument("--lat", type=float, required=True)
    near.add_argument("--lng", type=float, required=True)
    near.add_argument("--limit", type=int, help="default: the platform's most (20 / 100)")
    near.add_argument("--platform", choices=["ios", "android"], default="ios")
    near.add_argument("--json", action="store_true")


SMOKE_EVENT = "nudge_smoke_test"


def _smoke_request(
    api_url: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One mobile-API call with the app's JWT: (status, parsed JSON or the error text)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
    if data is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - the API URL the operator chose
        f"{api_url}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")[:300]
    except (urllib.error.URLError, OSError) as error:
        return 0, f"cannot reach {api_url}: {getattr(error, 'reason', error)}"


def _token_subject(token: str) -> str:
    """The JWT's `sub`, read without verifying it (the API verifies it): for the output only."""
    import base64

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub", "?"))
    except (IndexError, ValueError):
        return "?"


def _smoke_history_has(api_url: str, token: str, event_id: str) -> tuple[bool, str]:
    """Is the event in GET /v1/me's history (every page)? (found, why not)."""
    after: str | None = None
    from urllib.parse import quote

    while True:
        path = "/v1/me" + (f"?history_after={quote(after, safe='')}" if after else "")
        status, body = _smoke_request(api_url, token, "GET", path)
        if status != 200 or not isinstance(body, dict):
            return False, f"GET /v1/me answered {status}: {body}"
        history = body.get("history") or []
        if any(r.get("type") == "event" and r.get("event_id") == event_id for r in history):
            return True, ""
        after = body.get("history_next")
        if not after:
            return False, "not in the history yet"


def _smoke(args: argparse.Namespace) -> int:
    """Post one event as the token's user, wait for it in GET /v1/me, erase, check it's gone.

    The whole path a phone's data takes (API, JWT authorizer, events_api, the events queue,
    event_processor, DynamoDB, devices_api), and the erase. Every step prints ok/FAILED with
    its time; the exit code is 1 at the first failure.
    """
    import time
    import uuid
    from datetime import UTC, datetime

    api_url = args.smoke_api_url or args.api_url or os.environ.get("NUDGE_API_URL")
    if not api_url:
        state_file = Path(args.state_dir) / "local.json"
        if not state_file.exists():
            raise SystemExit("give --api-url (the stack's ApiUrl output), or start the local stack")
        api_url = json.loads(state_file.read_text())["api_url"]
    api_url = api_url.rstrip("/")
    token = args.token
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        raise SystemExit("--at needs a time zone, e.g. 2026-11-23T09:00:00Z")
    event_id = f"smoke-{uuid.uuid4().hex}"
    print(f"smoke test of {api_url} as user {_token_subject(token)} (erased at the end)")
    started = time.monotonic()

    def step(name: str, ok: bool, detail: str, since: float) -> bool:
        elapsed = time.monotonic() - since
        print(f"{'ok' if ok else 'FAILED':7} {name:32} {elapsed:6.2f} s  {detail}".rstrip())
        return ok

    def finish(ok: bool) -> int:
        total = time.monotonic() - started
        print(f"smoke test {'passed' if ok else 'FAILED'} in {total:.1f} s")
        return 0 if ok else 1

    # 1. one event, accepted
    since = time.monotonic()
    body = {
        "events": [
            {"event_id": event_id, "name": SMOKE_EVENT, "timestamp": at.isoformat(),
             "properties": {"source": "nudge smoke"}}
        ]
    }  # fmt: skip
    status, answer = _smoke_request(api_url, token, "POST", "/v1/events", body)
    accepted = status == 202 and isinstance(answer, dict) and answer.get("accepted") == 1
    if not accepted:
        if isinstance(answer, dict) and answer.get("rejected"):
            detail = f"rejected: {answer['rejected'][0].get('error')}"
        else:
            detail = f"answered {status}: {answer}"
        step("POST /v1/events", False, detail, since)
        return finish(False)
    step("POST /v1/events", True, f"202, event {event_id}", since)

    # 2. queued, processed, stored: it shows in the caller's export
    since = time.monotonic()
    deadline = since + args.wait
    while True:
        found, why = _smoke_history_has(api_url, token, event_id)
        if found or time.monotonic() >= deadline or why.startswith("GET"):
            break
        time.sleep(1.0)
    if not found:
        detail = why if why.startswith("GET") else (
            f"not in GET /v1/me's history after {args.wait:.0f} s: is event_processor running? "
            "(look at the events DLQ and the EventProcessor log group)"
        )  # fmt: skip
        step("event in GET /v1/me history", False, detail, since)
        return finish(False)
    step("event in GET /v1/me history", True, "", since)

    # 3. erase
    since = time.monotonic()
    status, answer = _smoke_request(api_url, token, "DELETE", "/v1/me")
    if not step("DELETE /v1/me", status == 200, f"answered {status}: {answer}", since):
        return finish(False)

    # 4. nothing left
    since = time.monotonic()
    status, answer = _smoke_request(api_url, token, "GET", "/v1/me")
    left: list[str] = []
    if status == 200 and isinstance(answer, dict):
        left = [key for key in ("profile", "summary", "preferences") if answer.get(key)]
        left += [key for key in ("history", "devices") if answer.get(key)]
        left += [f"surveys.{k}" for k, v in (answer.get("surveys") or {}).items() if v]
        detail = f"still there: {', '.join(left)}" if left else "nothing stored"
    else:
        detail = f"answered {status}: {answer}"
    return finish(step("GET /v1/me empty", status == 200 and not left, detail, since))


def _smoke_command(sub: argparse._SubParsersAction) -> None:
    smoke = sub.add_parser(
        "smoke",
        help="post-deploy check: an event in, seen in GET /v1/me, erased (the token's user)",
    )
    smoke.add_argument("--api-url", dest="smoke_api_url", help="the stack's ApiUrl output")
    smoke.add_argument(
        "--token", required=True, help="an app JWT of a test user (its data is erased)"
    )
    smoke.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the event")
    smoke.add_argument("--at", help="the event's timestamp (default: now), ISO 8601 with zone")


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
    campaigns_report = report.add_parser("campaigns", help="funnel, rates and lift per campaign")
    one = report.add_parser("campaign", help="one campaign in detail")
    one.add_argument("campaign_id")
    sunset = report.add_parser("sunset", help="campaigns and formats to retire, with evidence")
    html = report.add_parser("html", help="a self-contained HTML report with charts")
    html.add_argument("--out", required=True, help="e.g. report.html")
    for command, default in ((campaigns_report, 30), (one, 30), (sunset, 7), (html, 30)):
        command.add_argument("--days", type=int, default=default)
        command.add_argument("--since", help=f"e.g. {default}d (overrides --days)")
        command.add_argument("--json", action="store_true")
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
    progress.add_argument("--json", action="store_true", help="the admin API's answer as is")

    _campaign_commands(sub)
    _survey_commands(sub)
    _geofence_commands(sub)
    _smoke_command(sub)

    args = parser.parse_args(argv)
    if args.command == "smoke":
        return _smoke(args)
    if args.command == "campaign":
        return _campaign(args)
    if args.command == "survey":
        return _survey(args)
    if args.command == "nps":
        return _nps(args)
    if args.command == "geofences":
        return _geofences(args)
    if args.command == "segments":
        return _segments_push(args)
    if args.command == "local":
        if getattr(args, "local_missing", False):
            print("the local stack is dev tooling: pip install -e '.[dev]'", file=sys.stderr)
            return 2
        from nudge_local.cli import run

        return run(args)
    if args.command == "report":
        return _report(args)
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
        progress = _admin_call(args, method, path)
        if args.json:
            print(json.dumps(progress, indent=2))
        else:
            print_broadcast(progress)
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
