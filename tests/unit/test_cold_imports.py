"""No handler loads firebase-admin, gRPC or httpx when its module is imported (a cold start):
push_sender loads them on its first send, and the other handlers never."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("firebase_admin", "grpc", "httpx", "httpcore", "h2", "google.auth")

PROBE = """
import importlib.util, json, sys
loaded = {}
for path in sys.argv[1:]:
    name = "fn_" + path.split("/")[-2]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded[name] = [m for m in %r if m in sys.modules]
print(json.dumps(loaded))
"""


def test_handlers_import_without_firebase_grpc_or_httpx() -> None:
    handlers = sorted(str(p) for p in (ROOT / "functions").glob("*/app.py"))
    assert any("push_sender" in h for h in handlers)
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NUDGE_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/EventsQueue",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *handlers],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(loaded) == len(handlers)
    assert {name: mods for name, mods in loaded.items() if mods} == {}


# Per handler, modules its cold start must not load: the admin response models serve only the
# OpenAPI document (nudge.api.responses names them), and surveys use segments, not campaigns.
NOT_AT_COLD_START = {
    "admin_api": (
        "nudge.api.admin_models",
        "nudge.api.admin_message_models",
        "nudge.api.admin_config_models",
    ),
    "surveys_api": ("nudge.models.campaign",),
}


def test_handlers_leave_what_they_do_not_need_unloaded() -> None:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    loaded = {}
    for name, modules in NOT_AT_COLD_START.items():
        app = ROOT / "functions" / name / "app.py"
        out = subprocess.run(
            [sys.executable, "-c", PROBE % (modules,), str(app)],
            capture_output=True, text=True, env=env, cwd=ROOT, check=True, timeout=120,
        )  # fmt: skip
        loaded.update(json.loads(out.stdout.strip().splitlines()[-1]))
    assert loaded == {f"fn_{name}": [] for name in NOT_AT_COLD_START}


def test_named_response_models_resolve_for_the_document() -> None:
    from nudge.api.openapi import admin_resolver
    from nudge.api.responses import NAMED

    app = admin_resolver()
    contents = [
        content
        for route in app._static_routes + app._dynamic_routes
        for response in (route.responses or {}).values()
        for content in response.get("content", {}).values()
    ]
    assert contents and not [c for c in contents if NAMED in c]
    assert sum("model" in c for c in contents) > 50
