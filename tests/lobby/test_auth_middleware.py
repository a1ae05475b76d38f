"""WebSocket: TokenAuthMiddleware inside the session auth stack, with a real communicator."""

from datetime import timedelta

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from lobby.auth import TokenAuthMiddleware
from lobby.models import AuthToken
from lobby.services.accounts import token_issue

pytestmark = pytest.mark.usefixtures("transactional_db")


class WhoAmI(AsyncJsonWebsocketConsumer):
    """Reports the user the middleware put in the scope."""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        assert user is not None, "AuthMiddlewareStack always sets a user"
        await self.send_json({"id": user.pk, "authenticated": user.is_authenticated})


application = AuthMiddlewareStack(TokenAuthMiddleware(WhoAmI.as_asgi()))


@database_sync_to_async
def make_user(username: str) -> User:
    return User.objects.create_user(username=username, password="correct horse battery staple")


@database_sync_to_async
def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@database_sync_to_async
def issue(user: User) -> str:
    return token_issue(user=user)[0]


async def who(headers: list[tuple[bytes, bytes]]) -> dict:
    comm = WebsocketCommunicator(application, "/ws/whoami/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    answer = await comm.receive_json_from()
    await comm.disconnect()
    return answer


async def test_a_valid_token_connects_as_its_user_whatever_the_session():
    ann, bob = await make_user("ann"), await make_user("bob")
    token = await issue(ann)
    assert await who([(b"authorization", f"Bearer {token}".encode())]) == {
        "id": ann.pk,
        "authenticated": True,
    }
    headers = [(b"cookie", await session_cookie(bob)), (b"authorization", f"Bearer {token}".encode())]
    assert await who(headers) == {"id": ann.pk, "authenticated": True}


@pytest.mark.parametrize("header", [b"Bearer nope", b"Bearer ", b"bearer \xff"])
async def test_a_bad_token_is_anonymous_even_with_a_valid_session_cookie(header):
    bob = await make_user("bob")
    cookie = await session_cookie(bob)
    assert await who([(b"cookie", cookie)]) == {"id": bob.pk, "authenticated": True}
    assert await who([(b"cookie", cookie), (b"authorization", header)]) == {
        "id": None,
        "authenticated": False,
    }


async def test_an_expired_token_is_anonymous():
    ann = await make_user("ann")
    token = await issue(ann)
    await database_sync_to_async(AuthToken.objects.update)(expires_at=timezone.now() - timedelta(seconds=1))
    assert await who([(b"authorization", f"Bearer {token}".encode())]) == {"id": None, "authenticated": False}


async def test_without_a_bearer_header_the_session_user_stays():
    bob = await make_user("bob")
    headers = [(b"cookie", await session_cookie(bob)), (b"authorization", b"Basic Ym9iOng=")]
    assert await who(headers) == {"id": bob.pk, "authenticated": True}


async def test_without_any_credentials_the_user_is_anonymous():
    assert await who([]) == {"id": None, "authenticated": False}
