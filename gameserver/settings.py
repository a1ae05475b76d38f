"""Settings, all read from environment variables with safe local defaults.

Local default: SQLite and the in-memory channel layer, so one process runs everything.
Production differences (Redis, PostgreSQL, secrets, hosts) come from the environment only.
"""

import json
import os
import re
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable; anything but a clear yes/no is a configuration error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Read an integer variable, refusing garbage rather than silently using the default."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ImproperlyConfigured(f"{name} must be {bounds}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# --- Secrets (docs/operations.md, "Production checklist") -----------------------------------
# What Django's `check --deploy` calls a weak key (security.W009); a production start refuses it.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
SECRET_KEY_INSECURE_PREFIX = "django-insecure-"
GENERATE_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions and tickets in production, or None."""
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters, fewer than {SECRET_KEY_MIN_LENGTH}"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"it has {len(set(key))} distinct characters, fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS}"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"it starts with {SECRET_KEY_INSECURE_PREFIX!r}, the mark of a development key"
    return None


def dev_secret_key(path: Path) -> str:
    """This checkout's own development key: read from ``path``, which is made (random, mode 0600)
    the first time a DEBUG process needs it. Every process of the checkout (servers, workers,
    tests) reads the same file, so they agree; no two checkouts share a key."""
    try:
        if not path.exists():
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(64) + "\n")
            try:
                os.link(tmp, path)  # atomic, and never replaces the key another process just made
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot read or create the development key file {path} ({exc}); set SECRET_KEY"
        ) from None
    weakness = secret_key_weakness(key)
    if weakness:
        raise ImproperlyConfigured(
            f"the development key in {path} is weak ({weakness}); delete the file to get a new one"
        )
    return key


# Used only while DEBUG is on and SECRET_KEY is unset (`make run`, `make test`); gitignored.
DEV_SECRET_KEY_FILE = Path(os.environ.get("DEV_SECRET_KEY_FILE") or BASE_DIR / ".dev-secret-key")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Keys retired by a rotation: what they signed (sessions, tickets) still verifies.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (it signs sessions and match tickets); "
            f"make one with {GENERATE_KEY}"
        )
    SECRET_KEY = dev_secret_key(DEV_SECRET_KEY_FILE)
elif not DEBUG and (weakness := secret_key_weakness(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak for production: {weakness}. Use at least {SECRET_KEY_MIN_LENGTH} "
        f"random characters, e.g. from {GENERATE_KEY}"
    )
if not DEBUG:
    for index, fallback in enumerate(SECRET_KEY_FALLBACKS):
        if weakness := secret_key_weakness(fallback):
            raise ImproperlyConfigured(
                f"SECRET_KEY_FALLBACKS[{index}] is too weak for production: {weakness}"
            )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


# --- HTTPS, cookies and security headers (docs/operations.md, "Production checklist") --------
# With DEBUG off the defaults assume HTTPS in front of the server; `check --deploy` is clean
# with the documented production environment (tests/gameserver/test_deploy.py).
def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """``HTTP_X_FORWARDED_PROTO`` (or ``X-Forwarded-Proto``, optionally ``=https``) as Django's
    (META key, value) pair: requests carrying that header with that value count as HTTPS."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    header, _, value = raw.partition("=")
    key = header.strip().upper().replace("-", "_")
    if not key.startswith("HTTP_"):
        key = f"HTTP_{key}"
    if not re.fullmatch(r"HTTP_[A-Z0-9_]+", key):
        raise ImproperlyConfigured(
            f"{name} must name a request header, e.g. HTTP_X_FORWARDED_PROTO, got {raw!r}"
        )
    return key, value.strip() or "https"


REFERRER_POLICIES = {
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
}


def env_referrer_policy(name: str, default: str) -> str:
    values = env_list(name, [default])
    unknown = [value for value in values if value not in REFERRER_POLICIES]
    if unknown:
        raise ImproperlyConfigured(
            f"{name} must be one or more of {sorted(REFERRER_POLICIES)}, got {unknown!r}"
        )
    return ",".join(values)


# Cookies only over HTTPS (the session signs players in; the CSRF cookie guards it).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Behind a TLS-terminating proxy, the header by which it says the client used HTTPS (it must
# overwrite whatever the client sent). Without it every request looks like plain HTTP: the
# redirect below loops, HSTS is never sent and HTTPS POSTs fail their CSRF origin check.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
# Plain-HTTP requests are redirected to HTTPS, except the probes a load balancer or Prometheus
# may send to the server's own address.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# HSTS (sent on HTTPS responses only): browsers then refuse plain HTTP to this host for a year.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Asking for the browsers' preload list is hard to undo and the domain owner's decision: off,
# and `check --deploy`'s reminder of it (security.W021) silenced.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
# Same-origin: the full address (invite links carry a ticket) never leaves for another site,
# and same-origin POSTs keep their Origin/Referer, which CSRF checks over HTTPS (no-referrer
# would make every sign-in fail).
SECURE_REFERRER_POLICY = env_referrer_policy("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every response by gameserver.security.ContentSecurityPolicyMiddleware, in DEBUG too
# (so a page that would break in production breaks locally first). The pages load scripts and
# styles from this origin only (no inline code, no style attributes: the JavaScript sets styles
# through the CSSOM, which CSP allows); the middleware adds the page's own ws:// or wss://
# origin to connect-src, since not every browser counts it as 'self'.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "manifest-src": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "gameserver",  # before channels: its runworker command replaces channels' own
    "channels",
    "lobby",
    "match",
    "web",  # the browser client; match and lobby never import it
]

MIDDLEWARE = [
    "gameserver.security.ContentSecurityPolicyMiddleware",  # first: on SecurityMiddleware's redirects too
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lobby.auth.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gameserver.urls"
CSRF_FAILURE_VIEW = "match.views.csrf_failure"
ASGI_APPLICATION = "gameserver.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (servers, workers) may share the file: take the write lock when a
    # transaction begins (a read that later writes would otherwise fail at once with "database is
    # locked"), wait for it instead of failing, and let readers run beside the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000, minimum=1),
                "expiry": env_int("CHANNEL_LAYER_EXPIRY", 60, minimum=1),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # channels' own, without its O(channels) scan per message (see gameserver/edge/layers.py)
            "BACKEND": "gameserver.edge.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000, minimum=1)},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "gameserver" / "static"]
# Serve static files from the ASGI app itself (the one-process default); behind a proxy or CDN
# in production, set SERVE_STATIC=0.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- Game server ---------------------------------------------------------------------------
TICK_HZ = env_int("TICK_HZ", 20, minimum=1, maximum=120)
# `manage.py serve`'s ASGI server and event loop (see docs/operations.md; docs/benchmarks.md
# has both servers and loops measured).
SERVE_SERVER = os.environ.get("SERVE_SERVER", "daphne")
SERVE_LOOP = os.environ.get("SERVE_LOOP", "uvloop")  # uvicorn's; it pays (benchmarks.md)
if SERVE_SERVER not in {"daphne", "uvicorn"}:
    raise ImproperlyConfigured(f"SERVE_SERVER must be daphne or uvicorn, got {SERVE_SERVER!r}")
if SERVE_LOOP not in {"asyncio", "uvloop"}:
    raise ImproperlyConfigured(f"SERVE_LOOP must be asyncio or uvloop, got {SERVE_LOOP!r}")
# Host the tick worker inside the server process (required with the in-memory layer).
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", True)
MATCH_TICKET_TTL = env_int("MATCH_TICKET_TTL", 600, minimum=1)
MATCH_JOIN_TIMEOUT = env_int("MATCH_JOIN_TIMEOUT", 60, minimum=1)
# A player whose socket drops keeps the seat this long (their avatar idle) and may resume it
# with the credential the match gave them; then the game rules forfeit the seat.
MATCH_RECONNECT_GRACE = env_int("MATCH_RECONNECT_GRACE", 30, minimum=1, maximum=600)
# With Redis, each running match's owner holds a lease this long (renewed every third of it);
# when it dies, another tick worker takes the match over within ~0.5 s of the lease expiring,
# from the checkpoint written every MATCH_CHECKPOINT_TICKS ticks plus the inputs logged since.
MATCH_LEASE_MS = env_int("MATCH_LEASE_MS", 3000, minimum=600, maximum=60000)
MATCH_CHECKPOINT_TICKS = env_int("MATCH_CHECKPOINT_TICKS", 100, minimum=1, maximum=100000)
# The lobby keeps a player whose last socket closed (presence, party, queue, ready check, room)
# this long before they leave everything; 0 leaves at once.
LOBBY_RECONNECT_GRACE = env_int("LOBBY_RECONNECT_GRACE", 20, minimum=0, maximum=600)
# On SIGTERM/SIGINT a server process tells its players, closes their sockets and ends the
# matches it hosts within this many seconds, then exits anyway (gameserver/edge/shutdown.py).
SHUTDOWN_GRACE_SECONDS = env_int("SHUTDOWN_GRACE_SECONDS", 10, minimum=1, maximum=600)
# What POST /api/matches/ takes as time_limit (seconds) and score_limit; the defaults too.
MATCH_TIME_LIMIT_RANGE = (5, 3600)
MATCH_SCORE_LIMIT_RANGE = (1, 100)
MATCH_TIME_LIMIT = env_int(
    "MATCH_TIME_LIMIT", 120, minimum=MATCH_TIME_LIMIT_RANGE[0], maximum=MATCH_TIME_LIMIT_RANGE[1]
)
MATCH_SCORE_LIMIT = env_int(
    "MATCH_SCORE_LIMIT", 10, minimum=MATCH_SCORE_LIMIT_RANGE[0], maximum=MATCH_SCORE_LIMIT_RANGE[1]
)

# Per-connection limits (see docs/protocol.md). Daphne has its own cap (64 KiB in
# `manage.py serve`, 1 MiB as plain `daphne`) where it just drops the connection; these are
# ours, much tighter, and answered with protocol errors.
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 1024, minimum=64, maximum=65536)
WS_RATE_PER_SEC = env_int("WS_RATE_PER_SEC", 40, minimum=1)
WS_RATE_BURST = env_int("WS_RATE_BURST", 80, minimum=1)
WS_MAX_STRIKES = env_int("WS_MAX_STRIKES", 50, minimum=1)

# --- Abuse limits at the edge (docs/security.md) ----------------------------------------------
# Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated); empty:
# none, the TCP peer is the client. `serve --proxy-headers` trusts 127.0.0.1 and ::1 if empty.
TRUSTED_PROXIES = [p.strip() for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p.strip()]
# Open WebSocket connections (lobby and match together) per account and per client address,
# counted per process and, with Redis, across the cluster; one more is refused with 4429.
WS_MAX_PER_USER = env_int("WS_MAX_PER_USER", 10, minimum=1)
WS_MAX_PER_ADDRESS = env_int("WS_MAX_PER_ADDRESS", 256, minimum=1)
# A socket that sends no message (a protocol ping counts) for this long is closed 4408.
WS_IDLE_SECONDS = env_int("WS_IDLE_SECONDS", 120, minimum=5, maximum=86400)
# Bytes the server may hold for a client that stops reading before it closes the socket (4408).
WS_MAX_SEND_BUFFER = env_int("WS_MAX_SEND_BUFFER", 1024 * 1024, minimum=65536)
# An HTTP request or WebSocket handshake must arrive whole within this many seconds.
HTTP_REQUEST_TIMEOUT = env_int("HTTP_REQUEST_TIMEOUT", 10, minimum=1, maximum=600)

# /metrics (Prometheus text format) answers loopback clients only, unless this is on.
METRICS_PUBLIC = env_bool("METRICS_PUBLIC", False)

# --- Lobby and matchmaking (see docs/operations.md) -------------------------------------------
AUTH_TOKEN_TTL = env_int("AUTH_TOKEN_TTL", 30 * 24 * 3600, minimum=60)
# Sign-up, log-in, guest and token requests per minute per client address (across processes
# with Redis; gameserver/http.py), and admin log-in POSTs per address and per username.
AUTH_RATE_PER_MIN = env_int("AUTH_RATE_PER_MIN", 30, minimum=1)
CHAT_RATE_PER_SEC = env_int("CHAT_RATE_PER_SEC", 1, minimum=1)
CHAT_BURST = env_int("CHAT_BURST", 5, minimum=1)
CHAT_HISTORY = env_int("CHAT_HISTORY", 50, minimum=0, maximum=500)
PARTY_MAX_SIZE = env_int("PARTY_MAX_SIZE", 4, minimum=2, maximum=8)
PARTY_INVITE_TTL = env_int("PARTY_INVITE_TTL", 60, minimum=1)
# The rating window (in displayed rating points) starts at MM_WINDOW_START and widens by
# MM_WINDOW_GROWTH per second waited, up to MM_WINDOW_MAX.
MM_WINDOW_START = env_int("MM_WINDOW_START", 100, minimum=0)
MM_WINDOW_GROWTH = env_int("MM_WINDOW_GROWTH", 25, minimum=0)
MM_WINDOW_MAX = env_int("MM_WINDOW_MAX", 1000, minimum=0)
# The default free-for-all starts at 8 players, or after MM_FFA_WAIT seconds with at least
# MM_FFA_MIN (its `wait` and `min` in GAME_MODES below; ignored when GAME_MODES is set).
MM_FFA_WAIT = env_int("MM_FFA_WAIT", 20, minimum=0)
MM_FFA_MIN = env_int("MM_FFA_MIN", 3, minimum=2, maximum=8)

# --- Games and modes (docs/operations.md, "Games and modes") --------------------------------
# GAMES: the game modules a match may run, each exposing its rules object as ``RULES``; the
# first is the default (practice matches, rooms). GAME_MODES: what the lobby's queues and rooms
# offer, mode name -> {game, players[, team_size, party, min, wait, rated]}. Both are checked
# when Django starts (lobby.modes, match.games): a bad entry stops the process with
# ImproperlyConfigured naming it. Adding a game is a module plus these two settings.
GAMES = env_list("GAMES", ["match.games.arena", "match.games.grid"])


def env_json_object(name: str, default: dict[str, object]) -> dict[str, object]:
    """Read a JSON object (e.g. GAME_MODES='{"duel": {"game": "arena", "players": 2}}')."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object, got {raw!r}")
    return value


GAME_MODES = env_json_object(
    "GAME_MODES",
    {
        "duel": {"game": "arena", "players": 2},
        "team": {"game": "arena", "players": 4, "team_size": 2},
        "ffa": {"game": "arena", "players": 8, "party": 8, "min": MM_FFA_MIN, "wait": MM_FFA_WAIT},
        # The light-cycles grid game: up to 4, or 2 and more once the first has waited MM_FFA_WAIT.
        "cycles": {"game": "grid", "players": 4, "party": 4, "min": 2, "wait": MM_FFA_WAIT},
    },
)
READY_CHECK_TIMEOUT = env_int("READY_CHECK_TIMEOUT", 15, minimum=1)
LOBBY_LIST_MAX = env_int("LOBBY_LIST_MAX", 200, minimum=1, maximum=1000)

# --- Throttles (docs/operations.md settings; docs/protocol.md 2.2, 11) ---------------------------
# The HTTP throttles (gameserver/http.py) keep their buckets in Django's cache: with Redis, in
# Redis under the channel layer's key prefix, so each limit holds for the whole cluster; without,
# in this process's memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    # Room for a bucket per address well beyond Django's 300 (a full cache drops the oldest
    # buckets, which would hand their owners fresh ones).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "gameserver",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
# Anonymous match creations (POST /api/matches/) per minute per client address; more get 429.
MATCH_CREATE_PER_MIN = env_int("MATCH_CREATE_PER_MIN", 20, minimum=1)
# Matches one tick worker holds while they wait for their players (each for up to
# MATCH_JOIN_TIMEOUT): a start beyond it is refused (the match is aborted). POST /api/matches/
# answers 503 `busy` once the waiting matches fill half of the live tick workers' room, so
# anonymous matches never crowd out the lobby's.
MATCH_WAITING_MAX = env_int("MATCH_WAITING_MAX", 200, minimum=2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
