"""Checks that scripts/fuzz-api adds to schemathesis (loaded through SCHEMATHESIS_HOOKS).

The contract (shared/api-contract.md, docs/api.md): every error has HTTP status = errorCode
and the JSON body {"errorCode": N, "msg": "...", "error": "CODE"}; a 503 says when to retry.
The server never fails on input: no 5xx at all, except a deliberate 503 OVERLOADED (the
bounded intake shedding load), which a single fuzzing client should never see either.
"""

import json
import re

import schemathesis

CODE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


def _header(response, name):
    values = response.headers.get(name.lower()) or []
    return values[0] if values else None


def _error_body(response):
    content_type = _header(response, "content-type")
    if content_type != "application/json":
        raise AssertionError(
            f"error {response.status_code} has Content-Type {content_type!r}, not application/json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"error {response.status_code} body is not JSON: {error}")
    return body


@schemathesis.check
def contract_error_shape(ctx, response, case):
    """Every 4xx and 5xx answer is the contract's error body, with errorCode = status."""
    status = response.status_code
    if status < 400:
        return None
    body = _error_body(response)
    if not isinstance(body, dict) or set(body) != {"errorCode", "msg", "error"}:
        raise AssertionError(f"error {status} body is not {{errorCode, msg, error}}: {body!r}")
    if body["errorCode"] != status or isinstance(body["errorCode"], bool):
        raise AssertionError(f"errorCode {body['errorCode']!r} differs from the status {status}")
    if not isinstance(body["msg"], str) or not body["msg"].strip():
        raise AssertionError(f"error {status} has no msg: {body!r}")
    if not isinstance(body["error"], str) or not CODE.match(body["error"]):
        raise AssertionError(f"error {status} code is not SCREAMING_SNAKE_CASE: {body!r}")
    if status == 503:
        retry_after = _header(response, "retry-after")
        if retry_after is None or not retry_after.isdigit():
            raise AssertionError(f"503 without a Retry-After in seconds: {retry_after!r}")
    if status == 405 and not _header(response, "allow"):
        raise AssertionError("405 without an Allow header")
    return None


@schemathesis.check
def no_server_error_except_overload(ctx, response, case):
    """No 5xx, except 503 OVERLOADED (load shedding, not a failure on the input)."""
    status = response.status_code
    if status < 500:
        return None
    body = _error_body(response)
    if status == 503 and isinstance(body, dict) and body.get("error") == "OVERLOADED":
        return None
    raise AssertionError(f"server error {status}: {body!r}")
