"""The documented production environment (docs/operations.md, "Production checklist"): `check
--deploy` finds nothing in it, a start without a strong key is refused, and a real server in it
sends the Content-Security-Policy and the other security headers on every page of the game (the
page, its lobby and match views, the leaderboard, the admin's login), HTTPS-only cookies, no-store
on answers carrying credentials, and redirects plain HTTP to HTTPS.

The server is `manage.py serve` behind a pretend TLS-terminating proxy: requests go to its port
with the `Host` players use and `X-Forwarded-Proto: https`, as the proxy would send them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e import READY, Process, database_url, manage

ROOT = Path(__file__).resolve().parent.parent.parent
CHECKLIST = ROOT / "docs" / "operations.md"
OWN_PREFIXES = ("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_", "SECRET_KEY", "DEV_SECRET_KEY")


def documented_environment() -> dict[str, str]:
    """The NAME=value lines of the first sh block under "## Production checklist"."""
    text = CHECKLIST.read_text()
    section = text.split("\n## Production checklist\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the Production checklist has no ```sh block of the production environment"
    env = dict(line.split("=", 1) for line in block.group(1).splitlines() if re.match(r"[A-Z_]+=", line))
    assert env.get("DEBUG") == "0", env
    assert {"SECRET_KEY", "ALLOWED_HOSTS"} <= set(env), env
    return env


def production_env(**extra: str) -> dict[str, str]:
    """The inherited environment minus everything this project reads, plus the documented
    production environment with a fresh strong key."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(OWN_PREFIXES)
        and k not in {"DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "REDIS_URL", "DATABASE_URL"}
        and k not in {"PYTEST_CURRENT_TEST"}
    }
    env.update(documented_environment())
    env.update(SECRET_KEY=secrets.token_urlsafe(50), PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        manage("check", "--deploy", "--fail-level", "WARNING"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_the_documented_production_environment():
    result = check_deploy(production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in result.stdout, output
    assert "WARNING" not in output, output
    assert "security.W" not in output, output


def test_check_deploy_would_notice_a_missing_https_setting():
    """The clean check above means something: without the HTTPS redirect it fails."""
    result = check_deploy(production_env(SECURE_SSL_REDIRECT="0"))
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY must be set when DEBUG is off"),
        ("", "SECRET_KEY must be set when DEBUG is off"),
        ("too-short-" * 4, "SECRET_KEY is too weak for production: it has 40 characters, fewer than 50"),
        ("ab" * 40, "SECRET_KEY is too weak for production: it has 2 distinct characters"),
        ("django-insecure-" + secrets.token_urlsafe(50), "SECRET_KEY is too weak for production: it starts"),
    ],
    ids=["missing", "empty", "short", "repetitive", "django-insecure"],
)
def test_a_production_start_refuses_a_missing_or_weak_key(key, message):
    env = production_env()
    if key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = key
    result = check_deploy(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# --- a real server in the production environment ----------------------------------------------

HOST = documented_environment()["ALLOWED_HOSTS"].split(",")[0]
ORIGIN = f"https://{HOST}"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def json(self) -> dict:
        value: dict = json.loads(self.body)
        return value


@dataclass
class ProxiedBrowser:
    """Requests as a TLS-terminating proxy forwards them, with a cookie jar that keeps what
    the server sets (Secure cookies included: to the server, this is HTTPS)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: object = None, *, https: bool = True, headers: dict | None = None
    ) -> Answer:
        sent = {"Host": HOST, **(headers or {})}
        if https:
            sent["X-Forwarded-Proto"] = "https"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
            if "csrftoken" in self.cookies:
                sent["X-CSRFToken"] = self.cookies["csrftoken"]
            sent.setdefault("Origin", ORIGIN)
            sent.setdefault("Referer", f"{ORIGIN}/")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            conn.close()
        for raw in answer.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(raw)
            for name, morsel in SimpleCookie(raw).items():
                self.cookies[name] = morsel.value
        return answer

    def get(self, path: str, *, https: bool = True) -> Answer:
        return self.request("GET", path, https=https)

    def post(self, path: str, body: object) -> Answer:
        return self.request("POST", path, body)

    def set_cookie(self, name: str) -> str:
        found = [raw for raw in self.set_cookies if raw.startswith(f"{name}=")]
        assert found, f"no {name} cookie was set: {self.set_cookies}"
        return found[-1]


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with database_url(tmp_path_factory.mktemp("deploy-db")) as db_url:
        env = production_env(
            DATABASE_URL=db_url,
            AUTH_RATE_PER_MIN="1000",  # every request of the module comes from one address
            MATCH_CREATE_PER_MIN="1000",
        )
        subprocess.run(manage("migrate", "--noinput", "-v", "0"), cwd=ROOT, env=env, check=True, timeout=120)
        server = Process(manage("serve", "--host", "127.0.0.1", "--port", "0"), env)
        try:
            url = server.wait_for(READY).group(1)
            yield int(urlsplit(url).port or 0)
        finally:
            server.stop()


@pytest.fixture
def browser(server_port: int) -> ProxiedBrowser:
    return ProxiedBrowser(server_port)


def signed_in(browser: ProxiedBrowser) -> ProxiedBrowser:
    assert browser.get("/").status == 200  # the CSRF cookie
    answer = browser.post("/api/auth/guest/", {"name": f"g{uuid.uuid4().hex[:8]}"})
    assert answer.status == 201, answer.body
    return browser


def pages() -> list[tuple[str, str, bool]]:
    """(name, path, signed in) of every HTML page the game serves."""
    match = uuid.uuid4()
    return [
        ("start page", "/", False),
        ("lobby", "/", True),
        ("match", f"/?match={match}&ticket=x", False),
        ("match, signed in", f"/?match={match}", True),
        ("leaderboard", "/leaderboard/", False),
        ("leaderboard, team", "/leaderboard/?mode=team&page=1", True),
        ("admin login", "/admin/login/", False),
        ("not found", "/no-such-page/", False),
    ]


PAGE_IDS = [name for name, _, _ in pages()]


def policy(answer: Answer) -> dict[str, list[str]]:
    raw = answer.header("Content-Security-Policy")
    assert raw, f"no Content-Security-Policy: {dict(answer.headers)}"
    directives = [part.split() for part in raw.split(";") if part.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_security_headers(answer: Answer) -> None:
    csp = policy(answer)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'", f"wss://{HOST}"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    wide = {"*", "data:", "blob:", "http:", "https:", "ws:", "wss:"}
    assert not [s for sources in csp.values() for s in sources if "unsafe" in s or s in wide], csp
    assert answer.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("X-Frame-Options") == "DENY"
    assert answer.header("Referrer-Policy") == "same-origin"
    assert answer.header("Cross-Origin-Opener-Policy") == "same-origin"


@pytest.mark.parametrize(("name", "path", "signed"), pages(), ids=PAGE_IDS)
def test_every_page_carries_the_csp_and_the_security_headers(browser, name, path, signed):
    if signed:
        signed_in(browser)
    answer = browser.get(path)
    assert answer.status == (404 if name == "not found" else 200), answer.body[:300]
    assert answer.header("Content-Type").startswith("text/html")
    assert_security_headers(answer)


def test_api_answers_carry_the_headers_too(browser):
    for path in ["/api/auth/me/", "/api/leaderboard/duel/", "/healthz"]:
        answer = browser.get(path)
        assert answer.header("Content-Type") == "application/json", path
        assert_security_headers(answer)


class InlineCode(HTMLParser):
    """What a page has that `script-src 'self'; style-src 'self'` (and the rest) would block."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=...>: an inline event handler")
            if name == "style":
                self.blocked.append(f"<{tag} style=...>: an inline style attribute")
            url_attribute = name in {"href", "src", "action", "formaction"}
            if url_attribute and value.strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}=javascript:...>")
        if tag == "style":
            self.blocked.append("<style>: an inline style sheet")
        if tag == "script":
            if "src" in values:
                self._foreign(tag, values["src"])
            elif values.get("type", "") not in {"application/json", "application/ld+json"}:
                self.blocked.append("<script> without src: inline code")
        if tag == "link" and "stylesheet" in values.get("rel", "").split():
            self._foreign(tag, values.get("href", ""))
        if tag in {"img", "iframe", "frame", "object", "embed", "audio", "video", "source"}:
            if tag in {"iframe", "frame", "object", "embed"}:
                self.blocked.append(f"<{tag}>: default-src 'none'")
            elif "src" in values:
                self._foreign(tag, values["src"])
        if tag == "form" and values.get("action"):
            self._foreign(tag, values["action"])
        if tag == "base":
            self.blocked.append("<base>: base-uri 'none'")

    def _foreign(self, tag: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            self.blocked.append(f"<{tag}> loads {url}: not this origin")


@pytest.mark.parametrize(
    ("name", "path", "signed"),
    [pytest.param(*page, id=page[0]) for page in pages()],
)
def test_the_pages_need_nothing_the_policy_blocks(browser, name, path, signed):
    if signed:
        signed_in(browser)
    parser = InlineCode()
    parser.feed(browser.get(path).body.decode())
    assert parser.blocked == [], parser.blocked


def test_plain_http_is_redirected_to_https_but_the_probes_are_not(browser):
    for path in ["/", "/leaderboard/", "/api/auth/me/", "/admin/login/"]:
        answer = browser.get(path, https=False)
        assert answer.status == 301, path
        assert answer.header("Location") == f"{ORIGIN}{path}"
        assert "Strict-Transport-Security" not in answer.headers  # HSTS is sent over HTTPS only
    assert browser.get("/healthz", https=False).status == 200
    assert browser.get("/readyz", https=False).status in {200, 503}
    assert browser.get("/metrics", https=False).status == 200  # a loopback client


def test_the_cookies_are_https_only(browser):
    signed_in(browser)
    csrf = browser.set_cookie("csrftoken")
    session = browser.set_cookie("sessionid")
    assert re.search(r";\s*Secure\b", csrf, re.I), csrf
    assert re.search(r";\s*Secure\b", session, re.I), session
    assert re.search(r";\s*HttpOnly\b", session, re.I), session
    assert "samesite=lax" in session.lower()


def no_store(answer: Answer) -> bool:
    return "no-store" in [part.strip() for part in answer.header("Cache-Control").split(",")]


def test_answers_carrying_credentials_are_not_stored(browser):
    assert browser.get("/").status == 200
    guest = browser.post("/api/auth/guest/", {"name": f"g{uuid.uuid4().hex[:8]}"})
    assert guest.status == 201
    assert "token" in guest.json()
    assert no_store(guest)
    name, password = f"u{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    fresh = ProxiedBrowser(browser.port)
    assert fresh.get("/").status == 200
    registered = fresh.post("/api/auth/register/", {"username": name, "password": password})
    assert registered.status == 201, registered.body
    assert no_store(registered)
    other = ProxiedBrowser(browser.port)
    assert other.get("/").status == 200
    logged_in = other.post("/api/auth/login/", {"username": name, "password": password})
    assert logged_in.status == 200, logged_in.body
    assert no_store(logged_in)
    for body in [{"guest": f"t{uuid.uuid4().hex[:8]}"}, {"username": name, "password": password}]:
        token = ProxiedBrowser(browser.port).post("/api/auth/token/", body)
        assert token.status in {200, 201}, token.body
        assert "token" in token.json()
        assert no_store(token)


def test_match_tickets_are_not_stored(browser):
    assert browser.get("/").status == 200
    created = browser.post("/api/matches/", {"players": 2})
    assert created.status == 201, created.body
    assert "tickets" in created.json()
    assert no_store(created)


# --- DEBUG: the policy applies there too -------------------------------------------------------


def test_debug_sends_the_policy_with_the_plain_websocket_origin(client, settings):
    settings.DEBUG = True
    answer = client.get("/")
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert "connect-src 'self' ws://testserver;" in csp


def test_debug_leaves_djangos_own_error_pages_alone(client, settings):
    """The yellow debug pages style and script themselves inline; they are never served with
    DEBUG off, where the same 404 carries the policy (see above)."""
    settings.DEBUG = True
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    assert "Content-Security-Policy" not in answer.headers
    settings.DEBUG = False
    assert "Content-Security-Policy" in client.get("/no-such-page/").headers


def test_an_ipv6_host_gets_self_only(client, settings):
    settings.ALLOWED_HOSTS = ["[::1]"]
    csp = client.get("/", HTTP_HOST="[::1]:8000").headers["Content-Security-Policy"]
    assert "connect-src 'self';" in csp
