"""Password hashing never runs on the thread that the sockets' database calls depend on."""

from __future__ import annotations

import json
import threading

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User

from gameserver.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_login_hashes_its_password_off_the_consumers_database_thread(monkeypatch):
    hashed_on: list[int] = []
    original = PBKDF2PasswordHasher.verify

    def spying(self, password, encoded):
        hashed_on.append(threading.get_ident())
        return original(self, password, encoded)

    monkeypatch.setattr(PBKDF2PasswordHasher, "verify", spying)
    await database_sync_to_async(User.objects.create_user)(username="carol", password="a long passphrase")
    body = json.dumps({"username": "carol", "password": "a long passphrase"}).encode()
    comm = HttpCommunicator(
        application,
        "POST",
        "/api/auth/token/",
        body=body,
        headers=[(b"content-type", b"application/json"), (b"host", b"localhost")],
    )
    response = await comm.get_response(timeout=60)
    assert response["status"] == 200, response["body"]
    assert len(hashed_on) == 1
    consumers_thread = await database_sync_to_async(threading.get_ident)()
    assert hashed_on[0] != consumers_thread
