"""Campaign configs end to end: the CLI validates and uploads, S3 notifies config_loader."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from nudge_local.client import LocalClient
from tests.e2e.helpers import nudge

pytestmark = pytest.mark.e2e


def campaign(cid: str, category: str = "transactional", title: str = "Hi {{ user.name }}") -> str:
    return f"""\
id: {cid}
name: Welcome aboard
category: {category}
status: active
trigger:
  event: {{ name: signed_up }}
variants:
  - id: a
    title: "{title}"
    body: Good to have you
"""


def test_validate_push_list_and_a_bad_file_keeps_the_previous_version(
    tmp_path: Path, stack_dir: Path, client: LocalClient
) -> None:
    cid = f"welcome-{uuid.uuid4().hex[:8]}"
    good = tmp_path / f"{cid}.yaml"
    good.write_text(campaign(cid))
    result = nudge(stack_dir, "campaign", "validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout

    result = nudge(stack_dir, "campaign", "push", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "live as version 1" in result.stdout

    result = nudge(stack_dir, "campaign", "list")
    assert result.returncode == 0, result.stderr
    (line,) = [row for row in result.stdout.splitlines() if row.startswith(cid)]
    assert line.split()[1:3] == ["active", "1"]

    # the CLI refuses a bad file before uploading it, naming file, line and field
    bad = tmp_path / "bad.yaml"
    bad.write_text(campaign(cid, category="spam", title="{{ usr.name }}"))
    result = nudge(stack_dir, "campaign", "push", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: category:" in result.stderr

    # uploaded straight to the bucket (CI, the console): recorded as located load errors
    state = client.state
    s3 = boto3.client(
        "s3",
        endpoint_url=state["moto_url"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.put_object(
        Bucket=state["buckets"]["ConfigsBucket"],
        Key=f"campaigns/{cid}.yaml",
        Body=bad.read_bytes(),
    )
    client.drain()
    result = nudge(stack_dir, "campaign", "list")
    rows = result.stdout.splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith(cid))
    assert rows[at].split()[1:3] == ["active", "1"]  # the previous version stays current
    assert f"campaigns/{cid}.yaml:3: category:" in rows[at + 1]

    # a fixed file: version 2, errors gone; then pause
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(campaign(cid, title="Hello {{ user.name }}"))
    result = nudge(stack_dir, "campaign", "push", str(fixed))
    assert "live as version 2" in result.stdout, result.stderr
    result = nudge(stack_dir, "campaign", "pause", cid)
    assert result.returncode == 0 and "paused" in result.stdout
    # deleting the file archives the campaign
    s3.delete_object(Bucket=state["buckets"]["ConfigsBucket"], Key=f"campaigns/{cid}.yaml")
    client.drain()
    response = client.request("GET", f"/admin/v1/campaigns/{cid}", admin=True)
    assert response.json()["status"] == "archived"
