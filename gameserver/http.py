"""Helpers every JSON API view uses: one error shape, method checks, bounded JSON bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse

from gameserver.limits import TokenBucket

MAX_BODY_BYTES = 4096


class BadRequest(Exception):
    """A request body the API refuses; carries the JSON error code and HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


def error(code: str, detail: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def api(*methods: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Allow only ``methods``; API clients get a JSON 405, not Django's empty one. A view may
    raise BadRequest anywhere and the client gets the JSON error."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                response = error(
                    "method_not_allowed", f"use {' or '.join(methods)}, not {request.method}", 405
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except BadRequest as exc:
                return error(exc.code, exc.detail, exc.status)

        return wrapper

    return decorate


def json_body(request: HttpRequest, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object, at most MAX_BODY_BYTES, with no fields outside ``allowed``."""
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequest("too_large", f"request body over {MAX_BODY_BYTES} bytes", 413)
    try:
        body: Any = json.loads(request.body or b"{}")
    except ValueError:
        raise BadRequest("bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("bad_json", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise BadRequest("bad_request", f"unknown fields {sorted(unknown)!r}")
    return body


def throttle(scope: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Limit a view to AUTH_RATE_PER_MIN requests a minute per client address (token bucket in
    this process's cache): password guessing and account spam get a 429, not unlimited tries."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            rate = settings.AUTH_RATE_PER_MIN / 60.0
            key = f"throttle:{scope}:{request.META.get('REMOTE_ADDR', '')}"
            bucket = cache.get(key) or TokenBucket(rate=rate, burst=settings.AUTH_RATE_PER_MIN)
            allowed = bucket.take(time.monotonic())
            cache.set(key, bucket, timeout=120)
            if not allowed:
                response = error(
                    "rate_limited",
                    f"at most {settings.AUTH_RATE_PER_MIN} requests a minute; try again later",
                    429,
                )
                response["Retry-After"] = str(max(1, round(1 / rate)))
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
