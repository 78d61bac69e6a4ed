"""The answers mobile routes declare: every status with its body, models named (see
nudge.api.responses), for the document app developers generate their clients from."""

from __future__ import annotations

from nudge.api.responses import Answers, Responses, no_content

MOBILE = Answers("nudge.api.mobile_models")
ok = MOBILE.ok
answer = MOBILE.answer

UNAUTHORIZED: Responses = {
    401: answer("ErrorBody", "Missing, expired or invalid bearer token, or one without a subject")
}
FORBIDDEN: Responses = {403: answer("ErrorBody", "The token's subject cannot be a user id")}
INVALID: Responses = {400: answer("InvalidRequest", "Invalid parameter or field (named)")}
TOO_LARGE: Responses = {413: answer("ErrorBody", "Request body over 256 KiB")}


def busy(description: str) -> Responses:
    return {503: answer("ErrorBody", description)}


BUSY = busy("Briefly unavailable (storage or queue throttled): retry (after Retry-After s)")
# what any route may answer besides its own: the token, its parameters, a busy backend
ERRORS: Responses = {**INVALID, **UNAUTHORIZED, **FORBIDDEN, **BUSY}
BODY_ERRORS: Responses = {**ERRORS, **TOO_LARGE}

__all__ = ["BODY_ERRORS", "BUSY", "ERRORS", "answer", "busy", "no_content", "ok"]
