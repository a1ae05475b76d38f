"""Settings come from the environment; a production start without a strong SECRET_KEY refuses to
run; DEBUG runs use this checkout's own random key; the HTTPS and header settings default safe."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks.security import base as django_security

from gameserver import settings as project_settings

ROOT = Path(__file__).resolve().parent.parent.parent
PRINT = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], "
    "'db': settings.DATABASES['default']['ENGINE'], 'hz': settings.TICK_HZ, "
    "'hosts': settings.ALLOWED_HOSTS, 'key': settings.SECRET_KEY, "
    "'fallbacks': settings.SECRET_KEY_FALLBACKS, "
    "'session_secure': settings.SESSION_COOKIE_SECURE, 'csrf_secure': settings.CSRF_COOKIE_SECURE, "
    "'hsts': settings.SECURE_HSTS_SECONDS, 'hsts_subdomains': settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
    "'hsts_preload': settings.SECURE_HSTS_PRELOAD, 'ssl_redirect': settings.SECURE_SSL_REDIRECT, "
    "'proxy_ssl_header': settings.SECURE_PROXY_SSL_HEADER, 'nosniff': settings.SECURE_CONTENT_TYPE_NOSNIFF, "
    "'frame': settings.X_FRAME_OPTIONS, 'referrer': settings.SECURE_REFERRER_POLICY}))"
)
# Everything these tests set, removed from the inherited environment first.
OWN = {
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "DEV_SECRET_KEY_FILE",
    "REDIS_URL",
    "DATABASE_URL",
    "TICK_HZ",
}
OWN_PREFIXES = ("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_")


def strong_key() -> str:
    return secrets.token_urlsafe(50)


def clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in OWN and not k.startswith(OWN_PREFIXES)}
    clean.update(env, DJANGO_SETTINGS_MODULE="gameserver.settings")
    return clean


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_of(**env: str) -> dict:
    result = run_settings(**env)
    assert result.returncode == 0, result.stderr
    values: dict = json.loads(result.stdout)
    return values


def test_production_without_secret_key_refuses_to_start():
    result = run_settings()
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_with_a_strong_secret_key_starts():
    key = strong_key()
    values = settings_of(SECRET_KEY=key)
    assert values["debug"] is False
    assert values["key"] == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("s" * 49 + "abcd", None),  # long enough, 5 distinct: the boundary that passes
        ("abc" * 16, "48 characters, fewer than 50"),
        ("abcd" * 20, "4 distinct characters, fewer than 5"),
        # Otherwise strong (fixed, so every pytest-xdist worker collects the same test ids).
        (
            "django-insecure-" + "q7Lx2VbN9mRk4TzW8cPj3HsY6dFg1AeU5nQo0iXw-KtZy_BrCv",
            "starts with 'django-insecure-'",
        ),
    ],
)
def test_production_refuses_a_weak_secret_key(key, reason):
    result = run_settings(SECRET_KEY=key)
    if reason is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is too weak for production" in result.stderr
    assert reason in result.stderr
    assert key not in result.stderr  # the message never prints the key


def test_production_refuses_a_weak_fallback_key_and_keeps_strong_ones():
    old = strong_key()
    assert settings_of(SECRET_KEY=strong_key(), SECRET_KEY_FALLBACKS=old)["fallbacks"] == [old]
    result = run_settings(SECRET_KEY=strong_key(), SECRET_KEY_FALLBACKS=f"{old},short")
    assert result.returncode != 0
    assert "SECRET_KEY_FALLBACKS[1] is too weak for production" in result.stderr


def test_debug_accepts_any_explicit_key():
    assert settings_of(DEBUG="1", SECRET_KEY="test-key")["key"] == "test-key"


def test_the_strength_rules_are_djangos_own():
    """The start refuses exactly what `check --deploy` (security.W009) would warn about."""
    ours = project_settings
    assert ours.SECRET_KEY_MIN_LENGTH == django_security.SECRET_KEY_MIN_LENGTH
    assert ours.SECRET_KEY_MIN_UNIQUE_CHARACTERS == django_security.SECRET_KEY_MIN_UNIQUE_CHARACTERS
    assert ours.SECRET_KEY_INSECURE_PREFIX == django_security.SECRET_KEY_INSECURE_PREFIX
    djangos = django_security._check_secret_key  # type: ignore[attr-defined]
    for key in ["x" * 60, "abc" * 20, "django-insecure-" + strong_key(), "", strong_key()]:
        assert (ours.secret_key_weakness(key) is None) == djangos(key)


def test_debug_without_a_key_makes_this_checkouts_own_key_once(tmp_path):
    key_file = tmp_path / "dev-key"
    first = settings_of(DEBUG="1", DEV_SECRET_KEY_FILE=str(key_file))["key"]
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert project_settings.secret_key_weakness(first) is None
    assert settings_of(DEBUG="1", DEV_SECRET_KEY_FILE=str(key_file))["key"] == first
    # Another checkout (another file) gets a key of its own.
    assert settings_of(DEBUG="1", DEV_SECRET_KEY_FILE=str(tmp_path / "other"))["key"] != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-key", "other"]  # no temporary files left


def test_processes_starting_together_agree_on_the_new_key(tmp_path):
    """`make cluster` starts servers and workers at once: they must sign with one key."""
    key_file = tmp_path / "dev-key"
    env = clean_env(DEBUG="1", DEV_SECRET_KEY_FILE=str(key_file))
    procs = [
        subprocess.Popen([sys.executable, "-c", PRINT], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {json.loads(proc.communicate(timeout=60)[0])["key"] for proc in procs}
    assert keys == {key_file.read_text().strip()}


def test_a_weak_development_key_file_is_refused(tmp_path):
    key_file = tmp_path / "dev-key"
    key_file.write_text("short\n")
    result = run_settings(DEBUG="1", DEV_SECRET_KEY_FILE=str(key_file))
    assert result.returncode != 0
    assert f"the development key in {key_file} is weak" in result.stderr


def test_no_secret_key_is_committed():
    """The public fallback key is gone, and this checkout's key file is never committed."""
    source = (ROOT / "gameserver" / "settings.py").read_text()
    assert not re.search(r"SECRET_KEY(_FALLBACKS)? = ['\"\[]", source)
    assert "insecure-local-development-key" not in source
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert ".dev-secret-key" not in tracked.split()
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dev-secret-key"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".dev-secret-key must be in .gitignore"


def test_https_cookie_and_header_defaults_are_safe_in_production():
    values = settings_of(SECRET_KEY=strong_key())
    assert values["session_secure"] is True
    assert values["csrf_secure"] is True
    assert values["hsts"] == 31536000
    assert values["hsts_subdomains"] is True
    assert values["hsts_preload"] is False
    assert values["ssl_redirect"] is True
    assert values["proxy_ssl_header"] is None
    assert values["nosniff"] is True
    assert values["frame"] == "DENY"
    assert values["referrer"] == "same-origin"


def test_debug_defaults_work_over_plain_http():
    values = settings_of(DEBUG="1")
    assert values["session_secure"] is False
    assert values["csrf_secure"] is False
    assert values["hsts"] == 0
    assert values["ssl_redirect"] is False
    assert values["nosniff"] is True
    assert values["frame"] == "DENY"


def test_https_settings_come_from_the_environment():
    values = settings_of(
        SECRET_KEY=strong_key(),
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
        SECURE_SSL_REDIRECT="0",
        SECURE_CONTENT_TYPE_NOSNIFF="0",
        SECURE_REFERRER_POLICY="strict-origin-when-cross-origin,same-origin",
    )
    assert values["session_secure"] is False
    assert values["csrf_secure"] is False
    assert values["hsts"] == 3600
    assert values["hsts_subdomains"] is False
    assert values["hsts_preload"] is True
    assert values["ssl_redirect"] is False
    assert values["nosniff"] is False
    assert values["referrer"] == "strict-origin-when-cross-origin,same-origin"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP_X_FORWARDED_PROTO", ["HTTP_X_FORWARDED_PROTO", "https"]),
        ("X-Forwarded-Proto", ["HTTP_X_FORWARDED_PROTO", "https"]),
        ("HTTP_X_FORWARDED_SSL=on", ["HTTP_X_FORWARDED_SSL", "on"]),
    ],
)
def test_the_proxy_ssl_header_names_a_request_header(raw, expected):
    assert settings_of(DEBUG="1", SECURE_PROXY_SSL_HEADER=raw)["proxy_ssl_header"] == expected


def test_the_local_default_is_sqlite_and_the_in_memory_layer_at_20_hz():
    values = settings_of(DEBUG="1")
    assert values["layer"] == "gameserver.edge.layers.InMemoryChannelLayer"
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["hz"] == 20
    assert "localhost" in values["hosts"]


def test_environment_variables_choose_redis_postgresql_tick_rate_and_hosts():
    values = settings_of(
        DEBUG="1",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://u:p@127.0.0.1:5432/game",
        TICK_HZ="30",
        ALLOWED_HOSTS="game.example,api.example",
    )
    assert values["layer"] == "channels_redis.core.RedisChannelLayer"
    assert values["db"] == "django.db.backends.postgresql"
    assert values["hz"] == 30
    assert values["hosts"] == ["game.example", "api.example"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("TICK_HZ", "fast"),
        ("TICK_HZ", "0"),
        ("TICK_HZ", "500"),
        ("MATCH_TIME_LIMIT", "4"),  # the ranges POST /api/matches/ takes
        ("MATCH_TIME_LIMIT", "3601"),
        ("MATCH_SCORE_LIMIT", "0"),
        ("MATCH_SCORE_LIMIT", "101"),
        ("SESSION_COOKIE_SECURE", "sometimes"),
        ("SECURE_SSL_REDIRECT", "perhaps"),
        ("SECURE_HSTS_SECONDS", "forever"),
        ("SECURE_PROXY_SSL_HEADER", "X Forwarded Proto"),
        ("SECURE_REFERRER_POLICY", "everywhere"),
    ],
)
def test_garbage_in_a_setting_is_refused_with_its_name(name, value):
    result = run_settings(**{"DEBUG": "1", name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert repr(value) in result.stderr
