"""The built-in Chalice authorizer that protects every route but login, the webhook and /health.

Use it as `@bp.route(..., authorizer=authorizer)` and read the caller with `current_admin_id()`.
Deployed, it is a Lambda TOKEN authorizer: API Gateway answers 401 when it raises
`Exception("Unauthorized")` and 401 by itself when the header is missing. Under `chalice local`
and `chalice.test.Client` the local gateway runs it in-process; there only its own
`NotAuthorizedError` becomes a 401 (anything else would be a 500), so that is what we raise.
"""

from __future__ import annotations

from chalice import AuthResponse, Blueprint

from chalicelib.services.auth import InvalidToken, session_for

bp = Blueprint(__name__)


def _unauthorized() -> Exception:
    try:
        from chalice.local import NotAuthorizedError  # present locally, not in the Lambda bundle
    except ImportError:
        return Exception("Unauthorized")

    class _LocalUnauthorized(NotAuthorizedError):
        def __str__(self) -> str:  # Lambda reports str(exc); API Gateway wants exactly this
            return "Unauthorized"

    return _LocalUnauthorized(
        {"x-amzn-ErrorType": "UnauthorizedException"},
        b'{"Code": "Unauthorized", "Message": "Token ausente, inv\\u00e1lido ou expirado"}',
    )


@bp.authorizer(ttl_seconds=0)
def authorizer(auth_request):
    # The session check reads the account (exists, active, same token version): with ttl 0
    # it runs on every request, so a deactivation or password reset ends sessions at once.
    try:
        session = session_for(auth_request.token)
    except InvalidToken:
        raise _unauthorized() from None
    # "*": the policy may be cached by API Gateway and must then hold for every route.
    return AuthResponse(
        routes=["*"],
        principal_id=session["admin_id"],
        context={"admin_id": session["admin_id"], "papel": session["papel"]},
    )


def current_admin_role() -> str | None:
    """The signed-in account's papel ('admin' or 'atendente'), as the authorizer read it."""
    context = (bp.current_request.context or {}).get("authorizer") or {}
    return context.get("papel")


def current_admin_id() -> str:
    """The signed-in admin of the current request (set by the authorizer)."""
    request = bp.current_request
    context = (request.context or {}).get("authorizer") or {}
    admin_id = context.get("principalId") or context.get("admin_id")
    if not admin_id:
        from chalice import UnauthorizedError

        raise UnauthorizedError("Token ausente, inválido ou expirado")
    return admin_id
