"""The `nudge` command line for marketers and ops.

    nudge local up|down|status|token|clock|drain   the embedded local stack (dev install)
    nudge report lifecycle [--days 30]             users per stage and recent transitions
    nudge report campaigns [--since 30d]           funnel, rates, lift per campaign and variant
    nudge report campaign ID [--since 30d]         one campaign: funnel, suppressions, lift
    nudge report sunset [--since 7d]               what to retire: weak opens, many opt-outs
    nudge report html --out report.html [--since 30d]   charts (needs the `charts` extra)
    nudge user export|erase USER_ID                a user's data (admin API, SigV4-signed)
    nudge user why USER_ID [--campaign ID] [--json]   why each message was or wasn't sent
    nudge template validate|put FILE.yaml          message templates
    nudge send --user U --template ID --data k=v   one message, once per dedupe key
    nudge message JOB_ID [--user U]                what happened to it, device by device
    nudge broadcast --template ID --users a,b|--everyone|--where team=ops|--segment NAME
                    --dedupe-key K [--at 2026-12-24T09:00:00Z | --local-time 09:00 --date D]
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
    nudge import pinpoint-endpoints PATH... [--json]   a Pinpoint endpoint export (files or
                                                   s3://bucket/prefix): users, devices, consent
    nudge import pinpoint-campaign C.json [--segment S.json...] --out DIR [--json]
                                                   campaign and segment YAML, and what did not
                                                   carry over (one line each, with the reason)
    nudge smoke --api-url URL --token JWT          after a deploy: an event in, seen in
                                                   GET /v1/me, erased (the token's test user)

Admin commands call the admin API with SigV4: against AWS with your usual AWS credentials
(`--api-url` or NUDGE_API_URL), or against the local stack with its local admin credential.
"""

from __future__ import annotations

import argparse

from nudge_cli import (
    campaigns,
    geofences,
    imports,
    local,
    messaging,
    nps,
    reports,
    smoke,
    surveys,
    users,
)


def build_parser() -> argparse.ArgumentParser:
    """Every command; each leaf sets `func` (set_defaults), the function that runs it."""
    parser = argparse.ArgumentParser(prog="nudge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", help="admin API base URL (default: the local stack)")
    parser.add_argument("--state-dir", default=".nudge", help="local stack state directory")
    sub = parser.add_subparsers(dest="command", required=True)
    areas = (local, reports, users, messaging, campaigns, surveys, nps, geofences, smoke, imports)
    for area in areas:
        area.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
