"""Helpers every JSON API view uses: one error shape, method checks, bounded JSON bodies, and
the throttles (requests per minute per client address, or per username).

A throttle is a token bucket per key holding ``per_minute`` tokens and refilling ``per_minute``
a minute, kept as GCRA: one number per key, the time at which its bucket is full again. With
Redis (the Django cache is then Redis, under the channel layer's key prefix) that number lives
in Redis and a small Lua script checks and moves it atomically, on Redis's clock: every process
of the cluster spends from the same bucket, and two processes can never each grant the full
rate. The key holds a plain integer, read only by the script: nothing is ever unpickled from
Redis. Without Redis, or while Redis does not answer, the buckets live in this process.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from gameserver.edge.clients import request_address

MAX_BODY_BYTES = 4096

log = logging.getLogger(__name__)


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


View = Callable[..., Any]


def page(*methods: str) -> Callable[[View], View]:
    """A page (not /api/) that answers only ``methods`` (they change nothing): any other method
    gets Django's 405 with ``Allow`` and an empty body. CSRF is not checked, since nothing
    here changes state; with the check, a plain POST got a 403 and Django's 2.8 KB CSRF page."""

    def decorate(view: View) -> View:
        exempt: View = csrf_exempt(require_http_methods(list(methods))(view))
        return exempt

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


# --- throttles ----------------------------------------------------------------------------------

MINUTE_US = 60_000_000
# KEYS[1]: the bucket; ARGV: microseconds per token, the bucket's size in microseconds. Returns
# 0 (a token spent) or the microseconds until one is available (nothing changed).
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > capacity then return new_tat - now - capacity end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
"""
FALLBACK_LOG_SECONDS = 10.0  # while Redis is down, say so at most this often

_local_lock = threading.Lock()
_fallback = LocMemCache("gameserver-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
_last_warning = 0.0


def client_key(request: HttpRequest) -> str:
    """The address a throttle counts a request against: the real client address
    (``request_address``: X-Forwarded-For only from TRUSTED_PROXIES); an IPv6 client by its /64,
    the block one host is usually given, so it cannot step around a limit address by address."""
    address = request_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _bucket_key(scope: str, ident: str) -> str:
    # Hashed: any username or address makes a short key of safe characters.
    return f"throttle:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def _now_us() -> int:
    return time.time_ns() // 1000


def _take_local(store: BaseCache, key: str, interval: int, capacity: int) -> int:
    now = _now_us()
    with _local_lock:
        tat = store.get(key)
        tat = max(tat if isinstance(tat, int) else 0, now)
        new_tat = tat + interval
        if new_tat - now > capacity:
            return new_tat - now - capacity
        store.set(key, new_tat, timeout=math.ceil((new_tat - now) / 1e6) + 1)
        return 0


def _take_redis(store: RedisCache, key: str, interval: int, capacity: int) -> int:
    full_key = store.make_and_validate_key(key)
    client = store._cache.get_client(full_key, write=True)  # redis-py, on the cache's pool
    answer: Any = client.eval(GCRA, 1, full_key, interval, capacity)
    return int(answer)


def rate_take(scope: str, ident: str, per_minute: int) -> int:
    """Spend one of ``ident``'s tokens in ``scope`` (a bucket of ``per_minute`` tokens, refilled
    at ``per_minute`` a minute). 0 if spent; else the whole seconds (>= 1) until one is there,
    for Retry-After (a refused request spends nothing)."""
    interval = MINUTE_US // max(1, per_minute)
    capacity = interval * per_minute
    key = _bucket_key(scope, ident)
    store = caches["default"]
    if isinstance(store, RedisCache):
        try:
            wait = _take_redis(store, key, interval, capacity)
        except Exception as exc:  # Redis unreachable: this process's own buckets still hold
            global _last_warning
            if time.monotonic() - _last_warning > FALLBACK_LOG_SECONDS:
                _last_warning = time.monotonic()
                log.warning("throttles: Redis not reachable (%r); counting in this process only", exc)
            wait = _take_local(_fallback, key, interval, capacity)
    else:
        wait = _take_local(store, key, interval, capacity)
    return 0 if wait <= 0 else max(1, math.ceil(wait / 1e6))


def rate_limited(detail: str, retry_after: int) -> JsonResponse:
    """The 429 every throttle answers: the JSON error ``rate_limited`` and Retry-After."""
    response = error("rate_limited", f"{detail}; try again in {retry_after} s", 429)
    response["Retry-After"] = str(retry_after)
    return response


def throttle(
    scope: str, setting: str = "AUTH_RATE_PER_MIN"
) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Limit a view to ``settings.<setting>`` requests a minute per client address, shared by
    every process with Redis: password guessing, account spam and match floods get a 429, not
    unlimited tries. Every request counts, whatever its answer."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            per_minute = int(getattr(settings, setting))
            wait = rate_take(scope, client_key(request), per_minute)
            if wait:
                return rate_limited(f"at most {per_minute} requests a minute from one address", wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def login_form_throttle(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a password form that is not part of the API (Django's admin login): every POST spends
    a token of its client address and one of the username it names, AUTH_RATE_PER_MIN a minute
    each, before the password is checked. So guessing is slow from one address, and slow for
    one account from any number of addresses; a GET (the form itself) is never limited."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            per_minute = settings.AUTH_RATE_PER_MIN
            wait = rate_take("login_form", client_key(request), per_minute)
            if wait:
                return rate_limited(f"at most {per_minute} sign-in attempts a minute from one address", wait)
            username = str(request.POST.get("username", "")).strip().casefold()
            if username and (wait := rate_take("login_form_user", username, per_minute)):
                return rate_limited(f"at most {per_minute} sign-in attempts a minute for one username", wait)
        return view(request, *args, **kwargs)

    return wrapper
