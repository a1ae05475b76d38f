"""The Content-Security-Policy header, which Django 5.2 does not send itself.

The policy is ``settings.CONTENT_SECURITY_POLICY`` (a directive -> sources dict). Its
``connect-src`` gets the page's own WebSocket origin (``wss://host`` over HTTPS, ``ws://host``
over HTTP): CSP Level 3 browsers count it as ``'self'``, older ones (Safari before 15.4) do not.
The rest of the security headers come from Django's SecurityMiddleware and
XFrameOptionsMiddleware (settings: SECURE_*, X_FRAME_OPTIONS).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def socket_source(request: HttpRequest) -> str | None:
    """The page's own WebSocket origin as a CSP source, or None where none can be written."""
    try:
        host = request.get_host()  # validated against ALLOWED_HOSTS: no spaces, quotes or ';'
    except DisallowedHost:
        return None
    if host.startswith("["):  # CSP host sources cannot name an IPv6 address; 'self' covers it
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def policy_for(request: HttpRequest) -> str:
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
    source = socket_source(request)
    if source and "connect-src" in directives:
        directives["connect-src"].append(source)
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Adds the policy to every response that has none. Django's own debug pages (the yellow
    404 and 500 pages, DEBUG only) are left without it: they style and script themselves inline."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if HEADER in response:
            return response
        if (
            settings.DEBUG
            and response.status_code >= 400
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        response[HEADER] = policy_for(request)
        return response
