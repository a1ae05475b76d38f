"""A bin map key (msgpack's strict_map_key lets ``bytes`` through) is ``bad_encoding``, not a
crash: at the top of a message it used to close either socket 1011 (``sorted`` of mixed keys)."""

import pytest

from tests.lobby.conftest import online, workers  # noqa: F401
from tests.match.conftest import create_match, join, recv, recv_until, tick_worker  # noqa: F401

BIN_KEY_PING = bytes.fromhex("83a174a470696e67a2696401c4017801")  # {"t": "ping", "id": 1, b"x": 1}


@pytest.mark.django_db(transaction=True)
async def test_a_match_socket_answers_a_bin_key_with_bad_encoding_and_stays_open(tick_worker):  # noqa: F811
    match = await create_match(players=2)
    a = await join(match, 0)
    await recv_until(a, "snapshot")
    await a.send_to(bytes_data=BIN_KEY_PING)
    while (message := await recv(a))["t"] not in {"error", "<close>"}:
        pass
    assert (message["t"], message.get("code")) == ("error", "bad_encoding")
    await a.send_to(bytes_data=bytes.fromhex("82a174a470696e67a2696402"))  # {"t": "ping", "id": 2}
    assert (await recv_until(a, "pong"))["id"] == 2
    await a.disconnect()


@pytest.mark.usefixtures("workers")
@pytest.mark.django_db(transaction=True)
async def test_a_lobby_socket_answers_a_bin_key_with_bad_encoding_and_stays_open():
    (ann,) = await online(1)
    await ann.ws.send_to(bytes_data=BIN_KEY_PING)
    assert (await ann.expect("error"))["code"] == "bad_encoding"
    await ann.send({"t": "ping", "id": 5})
    assert (await ann.expect("pong"))["id"] == 5
