"""End to end through the embedded stack: HTTP gateway -> handlers -> SQS -> DynamoDB."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jwt as pyjwt
import pytest

from nudge_local.auth import AdminCredential, generate_private_key_pem, mint_token, sign_request
from nudge_local.client import LocalClient
from tests.e2e.helpers import NUDGE, event, nudge

pytestmark = pytest.mark.e2e


def user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def now(client: LocalClient) -> datetime:
    return datetime.fromisoformat(client.now())


def me(client: LocalClient, user_id: str) -> dict[str, Any]:
    response = client.request("GET", "/v1/me", user=user_id)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_requests_without_a_valid_jwt_get_401(client: LocalClient) -> None:
    body = {"events": [event("session_start", now(client))]}
    other_key = generate_private_key_pem()
    jwt_state = client.state["jwt"]
    tokens = {
        "missing": None,
        "garbage": "Bearer not-a-jwt",
        "forged": "Bearer "
        + mint_token(other_key, "eve", jwt_state["issuer"], jwt_state["audience"]),
        "expired": "Bearer " + client.token("eve", ttl_s=-60),
        "wrong audience": "Bearer "
        + mint_token(
            Path(jwt_state["private_key_path"]).read_bytes(),
            "eve",
            jwt_state["issuer"],
            "other-app",
        ),
        "none alg": "Bearer " + pyjwt.encode({"sub": "eve"}, key="", algorithm="none"),
    }
    for label, header in tokens.items():
        headers = {"authorization": header} if header else {}
        response = client.request("POST", "/v1/events", json_body=body, headers=headers)
        assert response.status_code == 401, label
        assert response.json() == {"message": "Unauthorized"}


def test_events_become_a_profile_and_a_lifecycle(client: LocalClient) -> None:
    ann = user()
    start = now(client)
    response = client.post_events(
        ann,
        [
            event("session_start", start, "s1"),
            event("purchase", start, "p1", amount=42.5),
            {"event_id": "bad", "name": "purchase"},
        ],
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert response.json()["rejected"][0]["index"] == 2
    client.drain()
    profile = me(client, ann)["profile"]
    assert profile["stage"] == "new" and profile["purchases"]["total"] == 42.5

    client.advance("8d")  # the scheduler ticks on the virtual clock meanwhile
    assert me(client, ann)["profile"]["stage"] == "at_risk"

    assert client.post_events(ann, [event("session_start", now(client))]).status_code == 202
    client.drain()
    profile = me(client, ann)["profile"]
    assert profile["stage"] == "reactivated"
    moves = [(t["from_stage"], t["to_stage"], t["cause"]) for t in profile["transitions"]]
    assert moves == [
        (None, "new", "event"),
        ("new", "at_risk", "schedule"),
        ("at_risk", "reactivated", "event"),
    ]


def test_duplicates_and_reordering_over_http(client: LocalClient) -> None:
    bob = user()
    base = now(client)
    events = [event("screen_view", base - timedelta(minutes=m), f"v{m}") for m in range(12)]
    for chunk in (events[8:], events[:4], events[4:8], events[2:6], events[10:]):
        assert client.post_events(bob, list(reversed(chunk))).status_code == 202
    client.drain()
    profile = me(client, bob)["profile"]
    assert profile["counts"]["screen_view"]["total"] == 12
    assert len([r for r in me(client, bob)["history"] if r["type"] == "event"]) == 12


def test_a_poison_message_ends_in_the_dlq_and_the_rest_flows(client: LocalClient) -> None:
    sqs = boto3.client(
        "sqs",
        endpoint_url=client.state["moto_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queues = client.state["queues"]
    dlq_before = client.queues()["EventsDLQ"]["visible"]
    sqs.send_message(QueueUrl=queues["EventsQueue"], MessageBody='{"user_id": "x", "events": 7}')
    carol = user()
    assert client.post_events(carol, [event("session_start", now(client))]).status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.queues()["EventsDLQ"]["visible"] == dlq_before:
        time.sleep(0.2)
    assert client.queues()["EventsDLQ"]["visible"] == dlq_before + 1
    client.drain()
    assert me(client, carol)["profile"]["counts"]["session_start"]["total"] == 1


def test_admin_routes_need_a_sigv4_signature(client: LocalClient) -> None:
    path = "/admin/v1/reports/lifecycle"
    assert client.request("GET", path).status_code == 403
    assert client.request("GET", path, user="ann").status_code == 403  # a JWT is not IAM
    url = f"{client.api_url}{path}"
    host = client.api_url.split("://")[1]
    wrong = AdminCredential(client.admin.access_key, "not-the-secret", client.admin.region)
    headers = sign_request(wrong, "GET", url, b"", {"host": host})
    assert client.session.get(url, headers=headers, timeout=10).status_code == 403
    response = client.request("GET", path, admin=True)
    assert response.status_code == 200
    assert set(response.json()["stages"]) == {
        "new",
        "active",
        "loyal",
        "at_risk",
        "dormant",
        "reactivated",
    }


def test_erase_removes_everything(client: LocalClient, stack_dir: Path, tmp_path: Path) -> None:
    # an NPS survey on an event of this test only, so the user has a pending prompt to erase
    sid = f"erase-{uuid.uuid4().hex[:8]}"
    probe = f"erase_probe_{sid[6:]}"
    config = tmp_path / f"{sid}.yaml"
    config.write_text(
        f"id: {sid}\nstatus: active\ntrigger: {{ event: {probe} }}\n"
        "questions: { score: 'How likely are you to recommend us?' }\n"
    )
    pushed = nudge(stack_dir, "survey", "push", str(config))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    client.advance("1m")  # the processor reads the survey catalog at most every 30 s

    dan = user()
    events = [event("session_start", now(client)), event(probe, now(client))]
    assert client.post_events(dan, events).status_code == 202
    client.drain()
    shown = client.request("GET", "/v1/me/surveys/next", user=dan)
    assert shown.status_code == 200 and shown.json()["survey_id"] == sid, shown.text
    erased = client.request("DELETE", "/v1/me", user=dan).json()
    assert erased["profile_erased"] is True and erased["history_records_erased"] >= 1
    assert erased["survey_records_erased"] == 2  # the survey state, the last-prompt record
    assert me(client, dan)["profile"] is None
    admin_view = client.request("GET", f"/admin/v1/users/{dan}", admin=True).json()
    assert admin_view["profile"] is None and admin_view["history"] == []
    assert client.request("GET", "/v1/me/surveys/next", user=dan).status_code == 204
    archived = client.request(
        "POST", f"/admin/v1/surveys/{sid}/status", admin=True, json_body={"status": "archived"}
    )
    assert archived.status_code == 200, archived.text


def test_openapi_needs_no_token_and_unknown_routes_404(client: LocalClient) -> None:
    response = client.session.get(f"{client.api_url}/v1/openapi.json", timeout=10)
    assert response.status_code == 200 and "/v1/events" in response.json()["paths"]
    assert client.request("GET", "/v1/nope", user="ann").status_code == 404


def test_cli_token_and_clock(client: LocalClient, stack_dir: Path) -> None:
    def nudge(*args: str) -> str:
        result = subprocess.run(
            [NUDGE, "local", *args, "--state-dir", str(stack_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout.strip()

    token = nudge("token", "--user", "cli-user")
    response = client.session.get(
        f"{client.api_url}/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200 and response.json()["user_id"] == "cli-user"
    before = now(client)
    moved = json.loads(nudge("clock", "--advance", "2h"))
    assert datetime.fromisoformat(moved["now"]) - before >= timedelta(hours=2)
    endpoint = client.session.post(
        f"{client.api_url}/_local/clock", json={"advance": "soon"}, timeout=10
    )
    assert endpoint.status_code == 400 and "invalid duration" in endpoint.json()["message"]
    backwards = client.session.post(
        f"{client.api_url}/_local/clock", json={"set": "2020-01-01T00:00:00Z"}, timeout=10
    )
    assert backwards.status_code == 400


def test_cli_lifecycle_report(client: LocalClient, stack_dir: Path) -> None:
    event = {"event_id": uuid.uuid4().hex, "name": "session_start", "timestamp": client.now()}
    assert client.post_events(user(), [event]).status_code == 202  # at least one user
    client.drain()
    result = nudge(stack_dir, "report", "lifecycle", timeout=120)
    assert result.returncode == 0, result.stderr
    report = client.request("GET", "/admin/v1/reports/lifecycle", admin=True).json()
    assert f"Users: {report['users']}" in result.stdout
    for stage, count in report["stages"].items():
        assert any(line.split()[:2] == [stage, str(count)] for line in result.stdout.splitlines())
    assert report["users"] >= 1


def test_malformed_or_tampered_admin_signatures_are_403(client: LocalClient) -> None:
    path = "/admin/v1/reports/lifecycle"
    url = f"{client.api_url}{path}"
    for header in ("AWS4-HMAC-SHA256 garbage", "AWS4-HMAC-SHA256 Credential", "Basic abc"):
        response = client.session.get(url, headers={"authorization": header}, timeout=10)
        assert response.status_code == 403, header
    host = client.api_url.split("://")[1]
    delete_url = f"{client.api_url}/admin/v1/users/someone"
    signed = sign_request(
        client.admin, "DELETE", delete_url, b"", {"host": host, "x-amz-content-sha256": "0" * 64}
    )
    response = client.session.delete(delete_url, headers=signed, data=b"tampered", timeout=10)
    assert response.status_code == 403


def test_gateway_refuses_nonsense_framing_and_local_bodies(client: LocalClient) -> None:
    import socket

    host, port = client.api_url.split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n")
        assert b" 400 " in sock.recv(4096).split(b"\r\n")[0] + b" "
    for payload in (b"[1, 2]", b'"advance"', b'{"advance": "99999999999d"}'):
        response = client.session.post(f"{client.api_url}/_local/clock", data=payload, timeout=10)
        assert response.status_code == 400, payload


def test_devices_and_preferences_over_http(client: LocalClient) -> None:
    eve = user()
    body = {
        "token": f"fcm-{uuid.uuid4().hex}",
        "platform": "android",
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "push_enabled": True,
    }
    response = client.request("PUT", "/v1/devices/pixel-8", user=eve, json_body=body)
    assert response.status_code == 200, response.text
    assert response.json()["token_tail"] == body["token"][-6:]
    bad = client.request("PUT", "/v1/devices/pixel 8", user=eve, json_body=body)
    assert bad.status_code in (400, 404)
    devices = client.request("GET", "/v1/me/devices", user=eve).json()["devices"]
    assert [d["device_id"] for d in devices] == ["pixel-8"]
    assert client.request("GET", "/v1/me/devices", user=user()).json()["devices"] == []

    defaults = client.request("GET", "/v1/me/preferences", user=eve).json()
    assert defaults["categories"]["marketing"] is False  # opt-in mode by default
    changed = client.request(
        "PUT",
        "/v1/me/preferences",
        user=eve,
        json_body={
            "categories": {"marketing": True},
            "quiet_hours": {"start": "23:00", "end": "07:30"},
        },
    )
    assert changed.status_code == 200
    assert changed.json()["quiet_hours"] == {"start": "23:00:00", "end": "07:30:00"}
    trail = [r for r in me(client, eve)["history"] if r["type"] == "consent"]
    assert [(r["category"], r["granted"], r["source"]) for r in trail] == [
        ("marketing", True, "app")
    ]
    assert client.request("DELETE", "/v1/devices/pixel-8", user=eve).status_code == 204


def test_a_message_reaches_each_device_once_through_fcm(client: LocalClient) -> None:
    finn = user()
    tokens = {"phone": f"tok-{uuid.uuid4().hex}", "old-tablet": f"tok-{uuid.uuid4().hex}"}
    for device_id, token in tokens.items():
        body = {
            "token": token,
            "platform": "android",
            "locale": "nl-NL",
            "timezone": "Europe/Amsterdam",
        }
        assert client.request("PUT", f"/v1/devices/{device_id}", user=finn, json_body=body).ok
    # the tablet was uninstalled: FCM says so
    faults = {"token": tokens["old-tablet"], "errors": ["UNREGISTERED"]}
    assert client.session.post(f"{client.api_url}/_local/fcm/faults", json=faults, timeout=10).ok
    message = {
        "template": {
            "id": "order-shipped",
            "category": "transactional",
            "text": {
                "en": {"title": "Order {{ id }} shipped", "body": "On its way"},
                "nl": {"title": "Bestelling {{ id }} verstuurd", "body": "Onderweg"},
            },
        },
        "data": {"id": "A-17"},
        "dedupe_key": f"order-A-17-{finn}",
    }
    for _ in range(2):  # the shop's backend retried: same dedupe key
        response = client.request(
            "POST", f"/admin/v1/users/{finn}/messages", admin=True, json_body=message
        )
        assert response.status_code == 202, response.text
    client.drain()
    received = client.session.get(f"{client.api_url}/_local/fcm", timeout=10).json()["messages"]
    mine = [m for m in received if m["token"] in tokens.values()]
    assert [(m["token"], m["notification"]["title"]) for m in mine] == [
        (tokens["phone"], "Bestelling A-17 verstuurd")
    ]
    devices = client.request("GET", "/v1/me/devices", user=finn).json()["devices"]
    assert [d["device_id"] for d in devices] == ["phone"]  # the dead token was removed


def test_cli_sends_a_transactional_message_once_and_sees_it_opened(
    client: LocalClient, stack_dir: Path
) -> None:
    from nudge_local.template import PROJECT_ROOT

    def cli(*args: str) -> str:
        result = nudge(stack_dir, *args, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    gus = user()
    token = f"tok-{uuid.uuid4().hex}"
    body = {"token": token, "platform": "ios", "locale": "en-US", "timezone": "America/Chicago"}
    assert client.request("PUT", "/v1/devices/iphone", user=gus, json_body=body).ok
    template = PROJECT_ROOT / "events" / "templates" / "order_shipped.yaml"
    assert "is valid" in cli("template", "validate", str(template))
    assert "saved template 'order_shipped'" in cli("template", "put", str(template))
    args = (
        "send",
        "--user",
        gus,
        "--template",
        "order_shipped",
        "--data",
        "order_id=B-2",
        "--data",
        "eta=Friday",
    )
    first, again = cli(*args), cli(*args)  # an operator ran it twice
    job_id = first.split()[2]
    assert job_id in first and "dedupe key" in again
    client.drain()
    inbox = client.session.get(
        f"{client.api_url}/_fcm/inbox", params={"token": token}, timeout=10
    ).json()["messages"]
    assert [m["notification"]["title"] for m in inbox] == ["Your order B-2 is on its way"]
    assert inbox[0]["apns"]["payload"]["aps"]["thread-id"] == "orders"
    opened = event("push_opened", now(client), message_id=inbox[0]["data"]["job_id"])
    assert client.post_events(gus, [opened]).status_code == 202
    client.drain()
    outcome = json.loads(cli("message", inbox[0]["data"]["job_id"]))
    assert outcome["deliveries"][0]["outcome"] == "sent"
    assert outcome["deliveries"][0]["opened_at"] is not None
    started = cli(
        "broadcast",
        "--template",
        "order_shipped",
        "--users",
        gus,
        "--data",
        "order_id=C-3",
        "--data",
        "eta=soon",
        "--dedupe-key",
        f"b-{gus}",
    )
    broadcast_id = started.split()[1]
    client.drain()
    status = json.loads(cli("broadcast-status", broadcast_id, "--json"))
    assert (status["status"], status["enqueued"]) == ("done", 1)
    table = cli("broadcast-status", broadcast_id)
    assert f"Broadcast {broadcast_id} (done)" in table and "delivered to 1, opened by 0" in table


def test_cli_refuses_a_broken_template_naming_the_field(tmp_path: Path, stack_dir: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\ncategory: spam\ntext: {en: {title: '{{ oops', body: b}}\n")
    result = nudge(stack_dir, "template", "validate", str(broken), timeout=60)
    assert result.returncode != 0
    assert "broken.yaml" in result.stderr and "category" in result.stderr


def test_a_broadcast_reaches_every_target_once_and_reports_progress(client: LocalClient) -> None:
    people = [user() for _ in range(3)]
    tokens = {}
    for person in people:
        tokens[person] = f"tok-{uuid.uuid4().hex}"
        body = {"token": tokens[person], "platform": "android", "locale": "en-GB"}
        assert client.request("PUT", "/v1/devices/main", user=person, json_body=body).ok
    broadcast = {
        "template": {
            "id": "all-hands",
            "category": "internal",
            "text": {"en": {"title": "All-hands at {{ time }}", "body": "Main hall"}},
            # today's note: other tests move the shared clock, it may be night where they are
            "respect_quiet_hours": False,
        },
        "data": {"time": "15:00"},
        "target": {"user_ids": [*people, "nobody-with-a-device"]},
        "dedupe_key": f"all-hands-{people[0]}",
        "rate_per_minute": 600,
    }
    response = client.request("POST", "/admin/v1/broadcasts", admin=True, json_body=broadcast)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["plan"]["jobs_per_step"] == 600
    client.drain()
    progress = client.request(
        "GET", f"/admin/v1/broadcasts/{created['broadcast_id']}", admin=True
    ).json()
    assert (progress["status"], progress["enqueued"], progress["total"]) == ("done", 4, 4)
    assert progress["scanned"] == 4  # every listed user looked at
    jobs = {}
    for person in people:
        inbox = client.session.get(
            f"{client.api_url}/_fcm/inbox", params={"token": tokens[person]}, timeout=10
        ).json()
        assert [m["notification"]["title"] for m in inbox["messages"]] == ["All-hands at 15:00"]
        jobs[person] = inbox["messages"][0]["data"]["job_id"]
    # the first person opens it, and the app sends the open again; the second dismisses it
    for person, name in ((people[0], "push_opened"), (people[0], "push_opened"),
                         (people[1], "push_dismissed")):  # fmt: skip
        event = {
            "event_id": uuid.uuid4().hex,
            "name": name,
            "timestamp": client.now(),
            "properties": {"message_id": jobs[person]},
        }
        assert client.post_events(person, [event]).status_code == 202
    client.drain()
    progress = client.request(
        "GET", f"/admin/v1/broadcasts/{created['broadcast_id']}", admin=True
    ).json()
    outcomes = progress["outcomes"]
    assert (outcomes["delivered"], outcomes["opened"], outcomes["open_rate"]) == (3, 1, 0.3333)
    assert outcomes["suppressed_by_reason"] == {"no_device": 1} and outcomes["failed"] == 0
    cancel = client.request("DELETE", f"/admin/v1/broadcasts/{created['broadcast_id']}", admin=True)
    assert cancel.json()["status"] == "done"  # finished ones stay finished
    missing = client.request("GET", "/admin/v1/broadcasts/nope", admin=True)
    assert missing.status_code == 404
