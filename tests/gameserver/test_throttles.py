"""The HTTP throttles (gameserver/http.py): token buckets per client address or username, in
this process or, with Redis, shared by every process; the auth endpoints and the admin login."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from gameserver import http
from gameserver.http import client_key, rate_take

pytestmark = pytest.mark.django_db

UNPICKLED: list[str] = []


def _unpickled() -> str:
    UNPICKLED.append("yes")
    return "boom"


class Boom:
    """What an attacker with write access to Redis could store: unpickling it runs code."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_unpickled, ())


def token_post(client: Client, **extra: str) -> Any:
    return client.post(
        "/api/auth/token/",
        {"username": "nobody", "password": "x"},
        content_type="application/json",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def redis_cache(settings, redis_url, redis_prefix):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": redis_prefix,
        }
    }
    return caches["default"]


# --- the bucket ---------------------------------------------------------------------------------


def test_a_bucket_grants_its_size_then_says_when_the_next_token_comes(monkeypatch):
    monkeypatch.setattr(http, "_now_us", lambda: 1_000_000_000_000)
    assert [rate_take("t", "a", 3) for _ in range(5)] == [0, 0, 0, 20, 20]
    assert rate_take("t", "b", 3) == 0  # another key, its own bucket
    assert rate_take("other", "a", 3) == 0  # another scope too


def test_a_bucket_refills_at_its_rate_and_a_refused_request_spends_nothing(monkeypatch):
    now = [1_000_000_000_000]
    monkeypatch.setattr(http, "_now_us", lambda: now[0])
    assert [rate_take("t", "a", 6) for _ in range(6)] == [0] * 6
    assert rate_take("t", "a", 6) == 10  # one token every 10 s
    now[0] += 9_000_000
    assert rate_take("t", "a", 6) == 1  # refused: the wait went on shrinking
    now[0] += 1_000_000
    assert rate_take("t", "a", 6) == 0
    assert rate_take("t", "a", 6) == 10
    now[0] += 60_000_000  # a full minute: the whole bucket again, not more
    assert [rate_take("t", "a", 6) for _ in range(7)] == [0] * 6 + [10]


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one host's /64 is one client
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_the_client_key_is_the_address_and_an_ipv6_client_its_64(rf, remote, key):
    assert client_key(rf.get("/", REMOTE_ADDR=remote)) == key


# --- with Redis: one bucket for every process ---------------------------------------------------


def test_with_redis_the_bucket_lives_in_redis_for_every_process(
    settings, redis_cache, redis_url, redis_prefix
):
    assert [rate_take("t", "a", 3) for _ in range(3)] == [0, 0, 0]
    # A new cache handler (as in another process): the same bucket, already empty.
    settings.CACHES = {"default": {**settings.CACHES["default"]}}
    assert caches["default"] is not redis_cache
    assert rate_take("t", "a", 3) == 20
    import redis

    client: Any = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys(f"{redis_prefix}:*")
        assert len(keys) == 1
        assert b":throttle:t:" in keys[0]
        assert int(client.get(keys[0]) or 0) > 0  # a plain integer: the time the bucket is full
        assert 0 < client.pttl(keys[0]) <= 60_001
    finally:
        client.close()


def test_with_redis_nothing_stored_in_a_bucket_is_ever_unpickled(redis_cache, redis_url, redis_prefix):
    import redis

    rate_take("t", "a", 3)
    client: Any = redis.Redis.from_url(redis_url)
    try:
        [key] = client.keys(f"{redis_prefix}:*")
        client.set(key, pickle.dumps(Boom()))
        assert rate_take("t", "a", 3) == 0  # garbage reads as a full bucket
        assert UNPICKLED == []
    finally:
        client.close()


def test_with_redis_unreachable_each_process_still_throttles_alone(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    http._last_warning = 0.0
    with caplog.at_level(logging.WARNING, logger="gameserver.http"):
        assert [rate_take("t", "a", 2) for _ in range(3)] == [0, 0, 30]
    assert "counting in this process only" in caplog.text
    assert caplog.text.count("counting in this process only") == 1  # not once per request


# --- the auth endpoints -------------------------------------------------------------------------


def test_the_auth_throttle_answers_429_with_retry_after_and_the_documented_body(client, settings):
    settings.AUTH_RATE_PER_MIN = 2
    answers = [token_post(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    body = answers[-1].json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "rate_limited"
    assert 1 <= int(answers[-1]["Retry-After"]) <= 30  # a token every 30 s
    # The sign-up and log-in endpoints spend the same bucket.
    assert client.post("/api/auth/guest/", {}, content_type="application/json").status_code == 429


def test_another_address_has_its_own_auth_bucket(client, settings):
    settings.AUTH_RATE_PER_MIN = 2
    assert [token_post(client, REMOTE_ADDR="198.51.100.1").status_code for _ in range(3)] == [400, 400, 429]
    assert token_post(client, REMOTE_ADDR="198.51.100.2").status_code == 400


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client, settings):
    settings.AUTH_RATE_PER_MIN = 2
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    ann = [token_post(client, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy).status_code for _ in range(3)]
    assert ann == [400, 400, 429]
    assert token_post(client, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy).status_code == 400


def test_a_client_cannot_pick_its_address_with_the_header(client, settings):
    settings.AUTH_RATE_PER_MIN = 2
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    spoofed = [
        token_post(client, REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(3)
    ]
    assert spoofed == [400, 400, 429]


# --- the admin login ----------------------------------------------------------------------------


def admin_login(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.com", "correct horse battery")


def test_admin_login_wrong_passwords_are_throttled_per_address(client, settings, root):
    settings.AUTH_RATE_PER_MIN = 3
    answers = [admin_login(client, f"user{i}", "wrong", "198.51.100.1") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]  # 200: the form again
    assert json.loads(answers[-1].content)["error"] == "rate_limited"
    assert 1 <= int(answers[-1]["Retry-After"]) <= 20
    # The same address gets no further try, even with the right password.
    assert admin_login(client, "root", "correct horse battery", "198.51.100.1").status_code == 429
    # Another address can still sign in.
    assert admin_login(client, "root", "correct horse battery", "198.51.100.2").status_code == 302


def test_admin_login_guesses_at_one_username_are_throttled_from_any_address(client, settings, root):
    settings.AUTH_RATE_PER_MIN = 3
    answers = [admin_login(client, "root", "wrong", f"198.51.100.{i}") for i in range(1, 5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "username" in json.loads(answers[-1].content)["detail"]
    assert admin_login(client, " ROOT ", "wrong", "198.51.100.9").status_code == 429  # same account
    assert admin_login(client, "someone", "wrong", "198.51.100.9").status_code == 200


def test_the_admin_login_form_itself_is_not_throttled(client, settings):
    settings.AUTH_RATE_PER_MIN = 1
    assert [client.get("/admin/login/").status_code for _ in range(3)] == [200, 200, 200]


def test_the_admin_login_path_is_the_throttled_view(client, settings, root):
    """Django's own admin pattern for the same path must never be reached first."""
    from django.urls import resolve

    assert resolve("/admin/login/").url_name == "admin-login"
    settings.AUTH_RATE_PER_MIN = 1
    assert admin_login(client, "root", "wrong", "198.51.100.3").status_code == 200
    assert admin_login(client, "root", "wrong", "198.51.100.4").status_code == 429
