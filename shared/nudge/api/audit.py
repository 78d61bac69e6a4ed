"""One audit line per admin API call: who (the IAM caller API Gateway authenticated), which
route, on what, with what outcome.

What a line holds, and why (docs/admin-roles.md):
- the actor from the IAM authorizer's context (requestContext.authorizer.iam): user ARN,
  caller id, account, organization. Never the access key's secret, never a JWT;
- the route key, a template such as `DELETE /admin/v1/users/{user_id}`, and the request id;
- the path parameters: ids the route acts on. On the users routes that is the user id, on
  purpose: an erasure or export must be attributable to whose data it was (GDPR art. 5(2));
  elsewhere they are campaign, survey, segment... ids chosen by operators;
- the status and its outcome.
Never the body nor the query string: they carry profiles, messages, coordinates.

The audit logger has its own service name (`nudge-audit`, to filter on) and a fixed INFO
level, so a stack deployed with LogLevel=WARNING or ERROR still audits every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

AUDIT_SERVICE = "nudge-audit"
AUDIT_MESSAGE = "admin call"
MAX_ID_CHARS = 256  # a path parameter is the caller's text: a hostile one stays a short line
# requestContext.authorizer.iam key -> audit field
ACTOR_FIELDS = {
    "userArn": "user_arn",
    "callerId": "caller_id",
    "accountId": "account_id",
    "principalOrgId": "principal_org_id",
}

audit_logger = Logger(service=AUDIT_SERVICE, level="INFO")


def outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    return "rejected" if status < 500 else "failed"


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_ID_CHARS]


def audit_record(event: Mapping[str, Any], status: int) -> dict[str, Any]:
    """The audit fields of one call: never anything from its body or query string."""
    context = event.get("requestContext") or {}
    identity = (context.get("authorizer") or {}).get("iam") or {}
    parameters = event.get("pathParameters") or {}
    return {
        "actor": {field: _short(identity.get(key)) for key, field in ACTOR_FIELDS.items()},
        "route": _short(event.get("routeKey") or context.get("routeKey")),
        "request_id": _short(context.get("requestId")),
        "target": {_short(name): _short(value) for name, value in parameters.items()},
        "status": status,
        "outcome": outcome(status),
    }


def audited(
    event: Mapping[str, Any],
    handle: Callable[[], dict[str, Any]],
    logger: Logger = audit_logger,
) -> dict[str, Any]:
    """`handle()`'s response, after one audit line for it (status 500 if it raised)."""
    try:
        response = handle()
    except Exception:
        logger.info(AUDIT_MESSAGE, extra={"audit": audit_record(event, 500)})
        raise
    status = response.get("statusCode", 200) if isinstance(response, Mapping) else 200
    logger.info(AUDIT_MESSAGE, extra={"audit": audit_record(event, int(status))})
    return response
