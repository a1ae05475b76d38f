"""Bearer tokens for non-browser clients, over HTTP (Django middleware) and WebSocket (ASGI).

A client that sends a token means that token: a bad one is refused (HTTP) or anonymous
(WebSocket), never silently replaced by whatever session cookie came along.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from gameserver.http import error
from lobby.selectors.accounts import token_user
from lobby.services.accounts import token_hash


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value ("" if it is missing), or None
    when the header is absent or uses another scheme."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


class BearerTokenMiddleware:
    """Authenticate requests carrying a bearer token as the token's user.

    Such requests are exempt from CSRF checks: the browser never adds the header by itself,
    so a forged cross-site request cannot carry it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None:
            user = token_user(token=token)
            if user is None and request.path == reverse("auth-logout"):
                # Already signed out: a logout retried after a lost answer still succeeds.
                request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
                return self.get_response(request)
            if user is None:
                response = error("bad_token", "the bearer token is unknown, revoked or expired", 401)
                response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
                return response
            request.user = user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


class TokenAuthMiddleware(BaseMiddleware):
    """Set ``scope["user"]`` from an ``authorization: Bearer`` handshake header.

    Goes inside AuthMiddlewareStack: without the header the session's user stays.
    """

    # scope is Any: the stubs allow only a UserLazyObject in scope["user"].
    async def __call__(self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable) -> Any:
        header = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), None)
        token = bearer_token(header.decode("latin-1") if header is not None else None)
        if token is not None:
            scope = dict(scope)
            user = await database_sync_to_async(token_user)(token=token)
            scope["user"] = user if user is not None else AnonymousUser()
            if user is not None:  # its sockets close when the token is revoked (auth_group)
                scope["auth_token_hash"] = token_hash(token=token)
        return await super().__call__(scope, receive, send)
