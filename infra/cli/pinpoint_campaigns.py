"""`nudge import pinpoint-campaign CAMPAIGN.json [--segment SEGMENT.json ...] --out DIR`.

Writes DIR/campaigns/<id>.yaml and DIR/segments/pinpoint-<id>.yaml (the campaign's named
segments), checked with the code `nudge campaign validate` runs before anything is written,
and prints every Pinpoint field that did not carry over, one line each with the reason
(`--json`: one object with the files written and that list). The conversion itself is
nudge.domain.migration.pinpoint_campaigns; docs/migrate-from-pinpoint.md has the mapping.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 5 * 1024 * 1024  # a campaign or segment definition is a few KB


def read_json(path: str) -> Any:
    """The parsed file; exits (no traceback) naming the file and where it is not JSON."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror or error}") from error
    if len(raw) > MAX_JSON_BYTES:
        raise SystemExit(f"{path}: larger than {MAX_JSON_BYTES >> 20} MB: not a definition")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SystemExit(f"{path}: not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})"
        ) from error


def to_yaml(data: dict[str, Any], header: str) -> str:
    """YAML as the config files are written (PyYAML, no anchors: the loader refuses them)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    body = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return f"{header}\n{body}"


def check(texts: dict[str, str]) -> list[str]:
    """Problems `nudge campaign validate FILE --segments SEGMENTS` would print (none: valid)."""
    from nudge.configfiles import ConfigError, load_config
    from nudge.models.campaign import Campaign
    from nudge.models.segment import NamedSegments, Segment
    from nudge.services.campaigns.configs import check_campaign_text

    problems: list[str] = []
    segments: dict[str, Any] = {}
    for path, text in texts.items():
        if path.startswith("segments/"):
            try:
                segments |= load_config(text, NamedSegments, path).segments
            except ConfigError as error:
                problems += [str(problem) for problem in error.problems]
    for path, text in texts.items():
        if path.startswith("campaigns/"):
            try:
                # a segment that was not given is reported already: the rest is checked
                named = load_config(text, Campaign, path).audience.segment_names()
                given = {name: Segment() for name in named} | segments
                check_campaign_text(text, path, given)
            except ConfigError as error:
                problems += [str(problem) for problem in error.problems]
    return problems


def import_campaign(args: argparse.Namespace) -> int:
    from nudge.domain.migration.pinpoint_campaigns import convert_campaign
    from nudge.domain.migration.pinpoint_reading import PinpointFormatError

    campaign = read_json(args.campaign)
    segments = [(path, read_json(path)) for path in args.segment or []]
    try:
        documents, unconverted = convert_campaign(campaign, segments, source=args.campaign)
    except PinpointFormatError as error:
        raise SystemExit(str(error)) from error
    header = (
        f"# Converted from Pinpoint ({Path(args.campaign).name}) by nudge import "
        "pinpoint-campaign: review, then set status: active"
    )
    texts = {path: to_yaml(data, header) for path, data in documents.items()}
    problems = check(texts)
    if problems:  # a gap in the conversion: say so rather than write what cannot be pushed
        print("the converted files would not validate (nothing written):", file=sys.stderr)
        for problem in problems:
            print(f"  ✗ {problem}", file=sys.stderr)
        return 1
    written = []
    for path, text in texts.items():
        target = Path(args.out) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(str(target))
    if args.json:
        rows = [{"source": u.source, "field": u.field, "reason": u.reason} for u in unconverted]
        print(json.dumps({"written": written, "unconverted": rows}, indent=2))
        return 0
    for path in written:
        print(f"wrote {path}")
    if not any(path.startswith("campaigns/") for path in texts):
        print("no campaign written: Nudge has no trigger for its schedule (see below)")
    print(
        f"{len(unconverted)} field(s) not carried over:"
        if unconverted
        else "everything carried over"
    )
    for item in unconverted:
        print(f"  {item}")
    return 0


def add_import_command(imports: argparse._SubParsersAction) -> None:
    p = imports.add_parser(
        "pinpoint-campaign",
        help="a Pinpoint campaign (and its segments) as Nudge campaign and segment YAML",
    )
    p.add_argument("campaign", metavar="CAMPAIGN.json", help="GetCampaign's CampaignResponse")
    p.add_argument(
        "--segment",
        action="append",
        metavar="SEGMENT.json",
        help="GetSegment's SegmentResponse (repeat for each segment it uses)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="writes campaigns/ and segments/")
    p.add_argument("--json", action="store_true", help="the files and the report as JSON")
    p.set_defaults(func=import_campaign)
