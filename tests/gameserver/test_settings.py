"""Settings come from the environment; a production start without SECRET_KEY refuses to run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PRINT = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], "
    "'db': settings.DATABASES['default']['ENGINE'], 'hz': settings.TICK_HZ, "
    "'hosts': settings.ALLOWED_HOSTS}))"
)


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL", "TICK_HZ"}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="gameserver.settings")
    return subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_production_without_secret_key_refuses_to_start():
    result = run_settings()
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_with_a_secret_key_starts():
    result = run_settings(SECRET_KEY="s" * 50)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


def test_the_local_default_is_sqlite_and_the_in_memory_layer_at_20_hz():
    values = json.loads(run_settings(DEBUG="1").stdout)
    assert values["layer"] == "gameserver.edge.layers.InMemoryChannelLayer"
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["hz"] == 20
    assert "localhost" in values["hosts"]


def test_environment_variables_choose_redis_postgresql_tick_rate_and_hosts():
    values = json.loads(
        run_settings(
            DEBUG="1",
            REDIS_URL="redis://127.0.0.1:6379/3",
            DATABASE_URL="postgres://u:p@127.0.0.1:5432/game",
            TICK_HZ="30",
            ALLOWED_HOSTS="game.example,api.example",
        ).stdout
    )
    assert values["layer"] == "channels_redis.core.RedisChannelLayer"
    assert values["db"] == "django.db.backends.postgresql"
    assert values["hz"] == 30
    assert values["hosts"] == ["game.example", "api.example"]


@pytest.mark.parametrize(
    ("name", "value"), [("DEBUG", "maybe"), ("TICK_HZ", "fast"), ("TICK_HZ", "0"), ("TICK_HZ", "500")]
)
def test_garbage_in_a_setting_is_refused_with_its_name(name, value):
    result = run_settings(**{"DEBUG": "1", name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert repr(value) in result.stderr
