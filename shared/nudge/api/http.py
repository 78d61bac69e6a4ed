"""What every HTTP function shares: who is calling, error shapes, request guards."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.models.keys import SYSTEM_PREFIX
from nudge.templating import TemplateError

MAX_BODY_BYTES = 256 * 1024


def caller_id(router: APIGatewayHttpRouter | APIGatewayHttpResolver) -> str:
    """The user is the JWT subject (checked by the API's JWT authorizer), never a body field."""
    claims = router.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthorizedError("a valid bearer token with a subject is required")
    if subject.startswith(SYSTEM_PREFIX) or len(subject) > 256:
        raise ForbiddenError("this subject cannot be used as a user id")
    return subject


def error_response(status: int, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"statusCode": status, "message": message, **extra},
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts[:1] == ["body"]:  # the request body itself; a field named body stays (text.en.body)
        parts = parts[1:]
    return ".".join(parts) or "body"


# AWS answers that mean "try again shortly" once the SDK's own retries are spent
TRANSIENT_AWS_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
RETRY_AFTER_S = 2


def transient_aws_error(error: BaseException) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in TRANSIENT_AWS_ERRORS


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    # botocore is loaded already (the X-Ray SDK behind Tracer imports it): no cold-start cost
    from botocore.exceptions import ClientError

    @app.exception_handler(ClientError)
    def _unavailable(error: ClientError) -> Response[Any]:
        """Throttled or briefly unavailable AWS: a 503 the app retries, never a 500."""
        if not transient_aws_error(error):
            raise error  # any other AWS error stays a 500 (and an alarm)
        response = error_response(503, "the service is busy; retry shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(TemplateError)
    def _bad_template(error: TemplateError) -> Response[Any]:
        """A template refused where it is used (one saved before the allow-list): the caller's."""
        return error_response(400, str(error))

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[Any]:
        errors = [
            {"field": _field(item.get("loc", ())), "error": item.get("msg", "invalid")}
            for item in error.errors()
        ]
        invalid_json = [e for e in error.errors() if e.get("type") == "json_invalid"]
        if invalid_json:
            reason = (invalid_json[0].get("ctx") or {}).get("error", "malformed")
            return error_response(400, f"request body is not valid JSON: {reason}")
        summary = "; ".join(f"{e['field']}: {e['error']}" for e in errors[:3])
        return error_response(400, f"invalid request: {summary}", errors=errors)


def reject_unreadable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """An API Gateway response for a body no route should see: too large (413) or not UTF-8."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _gateway_error(400, "request body is not valid base64")
    else:
        raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        return _gateway_error(
            413, f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} (256 KiB)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _gateway_error(400, f"request body is not valid UTF-8 (byte {error.start})")
    if text.lstrip()[:1] in ("{", "["):
        try:
            json.loads(text)
        except json.JSONDecodeError:
            pass  # reported with its position by the route's own validation
        except (ValueError, RecursionError):
            return _gateway_error(
                400, "request body JSON is nested too deeply or has a huge number"
            )
    return None


def _gateway_error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"statusCode": status, "message": message}),
    }
