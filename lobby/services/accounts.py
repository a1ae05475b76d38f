"""Writes for accounts: guests, registration, the Player behind every user, API tokens.

A name is "in use" when a registered player or an online guest has its key: registered
names are owned for good, a guest's only while it is connected.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from lobby.models import AuthToken, Player
from lobby.names import NAME_MAX_LEN, name_clean, name_key

log = logging.getLogger(__name__)


class NameTaken(Exception):
    """The name, or one that looks like it, belongs to a registered player or an online guest."""


class BadCredentials(Exception):
    """The username and password do not match an account that may log in."""


class WeakPassword(Exception):
    """The password fails the configured password validators."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages


def token_hash(*, token: str) -> str:
    """What is stored for a token: a leaked table must not hand out working tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def _name_in_use(*, key: str) -> bool:
    return Player.objects.filter(Q(is_guest=False) | Q(online_since__isnull=False), name_key=key).exists()


def guest_create(*, name: object) -> Player:
    """A new guest account; its user can never log in with a password."""
    clean = name_clean(name)
    key = name_key(clean)
    with transaction.atomic():
        if _name_in_use(key=key):
            raise NameTaken(f"the name {clean!r} is taken (or too like one that is)")
        user = User.objects.create_user(username=f"guest-{secrets.token_hex(10)}")
        return Player.objects.create(user=user, name=clean, name_key=key, is_guest=True)


def user_register(*, username: object, password: object) -> Player:
    """A new registered account, owning its name (and every look-alike) from now on."""
    clean = name_clean(username)
    if not isinstance(password, str):
        raise WeakPassword([f"the password must be a string, got {type(password).__name__}"])
    try:
        validate_password(password, user=User(username=clean))
    except ValidationError as exc:
        raise WeakPassword(list(exc.messages)) from None
    key = name_key(clean)
    try:
        # The unique constraints (name key, username) settle a race the check cannot.
        with transaction.atomic():
            if _name_in_use(key=key):
                raise NameTaken(f"the name {clean!r} is taken (or too like one that is)")
            user = User.objects.create_user(username=clean, password=password)
            return Player.objects.create(user=user, name=clean, name_key=key, is_guest=False)
    except IntegrityError:
        raise NameTaken(f"the name {clean!r} is taken (or too like one that is)") from None


def user_login_check(*, username: object, password: object) -> User:
    """The account these credentials open; guests have no usable password and never pass."""
    if isinstance(username, str) and isinstance(password, str):
        user = authenticate(username=username.strip(), password=password)
        if isinstance(user, User) and user.has_usable_password():
            return user
    raise BadCredentials(f"wrong username or password for {username!r}")


def player_ensure(*, user: User) -> Player:
    """The user's Player, created for users made outside the lobby (e.g. createsuperuser)."""
    player = Player.objects.filter(user=user).first()
    if player is not None:
        return player
    name = user.get_username()[:NAME_MAX_LEN]
    suffix = f"-{user.pk}"
    try:
        return _player_get_or_create(user=user, name=name)
    except IntegrityError:
        # A registered player already owns this name's key: fall back to a numbered one.
        return _player_get_or_create(user=user, name=name[: NAME_MAX_LEN - len(suffix)] + suffix)


def _player_get_or_create(*, user: User, name: str) -> Player:
    player, _ = Player.objects.get_or_create(
        user=user, defaults={"name": name, "name_key": name_key(name), "is_guest": False}
    )
    return player


def token_issue(*, user: User) -> tuple[str, int]:
    """A new bearer token for ``user`` and its lifetime in seconds; only its hash is kept."""
    ttl: int = settings.AUTH_TOKEN_TTL
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    AuthToken.objects.filter(user=user, expires_at__lte=now).delete()  # housekeeping
    AuthToken.objects.create(
        user=user, key_hash=token_hash(token=token), expires_at=now + timedelta(seconds=ttl)
    )
    return token, ttl


def token_revoke(*, token: str) -> bool:
    """Make ``token`` stop working, and close the sockets opened with it; False if it was not
    a stored token."""
    key_hash = token_hash(token=token)
    deleted, _ = AuthToken.objects.filter(key_hash=key_hash).delete()
    if deleted:
        sockets_sign_out(group=f"auth-token-{key_hash[:40]}")
    return deleted > 0


def sockets_sign_out(*, group: str) -> None:
    """Every open socket of one sign-in (gameserver.edge.consumer.auth_group) closes 4401."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "auth.revoked"})
    except Exception:  # the layer is down: the sign-in is revoked anyway, its sockets stay
        log.exception("could not tell the sockets of %s to close", group)
