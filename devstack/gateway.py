"""The local API gateway answers its own errors like the deployed one.

`chalice local` and `chalice.test.Client` imitate API Gateway's raw answers: 403 `{"message":
"Missing Authentication Token"}` for an unknown route (with an Authorization header, a message
that repeats the header, token included) and 401 `{"message": "Unauthorized"}` without a
token. Deployed, infra/chalice-merge.json's GatewayResponses replace those bodies with our
envelope; `install()` does the same here, from the one table both read
(chalicelib.errors.GATEWAY_RESPONSES), adding the CORS headers for the console's origins.
"""

from __future__ import annotations

import json
from functools import wraps

from chalicelib import errors

_installed = False


def _gateway_type(exc) -> str:
    from chalice.local import ForbiddenError, InvalidAuthorizerError, NotAuthorizedError

    body = exc.body or b""
    if isinstance(exc, NotAuthorizedError):
        return "UNAUTHORIZED"
    if isinstance(exc, InvalidAuthorizerError):
        return "AUTHORIZER_CONFIGURATION_ERROR"
    if isinstance(exc, ForbiddenError):
        if b"Missing Authentication Token" in body:
            return "MISSING_AUTHENTICATION_TOKEN"
        if b"Authorization header requires" in body:
            return "INVALID_SIGNATURE"
        return "ACCESS_DENIED"
    return "DEFAULT_4XX"


def rewrite(exc, request_headers: dict[str, str]):
    """A LocalGatewayException with our status, envelope and CORS headers."""
    from chalice.local import LocalGatewayException

    from chalicelib.http import SECURITY_HEADERS, cors_headers

    kind = _gateway_type(exc)
    status, code = errors.GATEWAY_RESPONSES[kind]
    message = errors.ROUTE_NOT_FOUND_MESSAGE if code == "NotFoundError" else None
    origin = request_headers.get("origin") or request_headers.get("Origin")
    headers = {"Content-Type": "application/json", **cors_headers(origin), **SECURITY_HEADERS}
    rewritten = type(f"Gateway{status}", (LocalGatewayException,), {"CODE": status})(
        headers, json.dumps(errors.envelope(code, message)).encode()
    )
    return rewritten


def install() -> None:
    """Patch chalice's LocalGateway once per process (make run, tests)."""
    global _installed
    if _installed:
        return
    from chalice.local import LocalGateway, LocalGatewayException

    original = LocalGateway.handle_request

    @wraps(original)
    def handle_request(self, method, path, headers, body):
        try:
            return original(self, method, path, headers, body)
        except LocalGatewayException as exc:
            raise rewrite(exc, headers) from None

    LocalGateway.handle_request = handle_request
    _installed = True
