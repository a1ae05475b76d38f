"""What we switch off or replace in Daphne's stack (gameserver/edge/servers.py) gives the
same bytes and the same behaviour, only cheaper."""

from __future__ import annotations

import collections
import functools
import os
import random
import types
from typing import Any

import pytest
from autobahn.exception import Disconnected
from autobahn.nvx._xormasker import create_xor_masker
from autobahn.websocket.protocol import TrafficStats
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet.testing import StringTransport

from gameserver.edge import servers
from gameserver.edge.servers import IntXorMasker, daphne_closer, daphne_frame_writer


def test_the_integer_masker_unmasks_exactly_like_autobahns_in_any_chunking():
    rnd = random.Random(7)
    for _ in range(2000):
        mask = os.urandom(4)
        data = os.urandom(rnd.randrange(0, servers.SMALL_FRAME))
        ours, theirs = IntXorMasker(mask), create_xor_masker(mask, len(data))
        at = 0
        while at < len(data):
            size = rnd.randrange(1, len(data) - at + 1)
            assert ours.process(data[at : at + size]) == theirs.process(data[at : at + size])
            assert ours.pointer() == theirs.pointer()
            at += size
    ours.reset()
    assert ours.pointer() == 0
    assert ours.process(b"") == b""


def test_small_frames_get_the_integer_masker_and_large_ones_keep_autobahns():
    from autobahn.websocket import protocol

    servers.small_frame_unmasking()
    servers.small_frame_unmasking()  # idempotent
    assert isinstance(protocol.create_xor_masker(b"abcd", 24), IntXorMasker)
    assert not isinstance(protocol.create_xor_masker(b"abcd", servers.SMALL_FRAME), IntXorMasker)


def bare_protocol(max_size: int = 0) -> Any:
    """A Daphne WebSocket protocol in the open state over an in-memory transport."""
    protocol: Any = WebSocketProtocol.__new__(WebSocketProtocol)
    protocol.state = protocol.STATE_OPEN
    protocol.maxMessagePayloadSize = max_size
    protocol._perMessageCompress = None
    protocol.send_queue = collections.deque()
    protocol.transport = StringTransport()
    protocol.trafficStats = TrafficStats()
    protocol.logOctets = False
    return protocol


def daphne_send(protocol: Any, sent: list[dict[str, Any]]) -> Any:
    """What Daphne hands the application as ``send``: its server's handle_reply, bound."""

    async def handle_reply(protocol: Any, message: dict[str, Any]) -> None:
        sent.append(message)

    return functools.partial(handle_reply, protocol)


def test_a_broadcast_is_framed_once_and_written_to_every_socket_as_a_websocket_frame(monkeypatch):
    framed = []
    from autobahn.websocket import protocol as ab

    prepared = ab.PreparedMessage

    def counting(*args: Any) -> Any:
        framed.append(args)
        return prepared(*args)

    monkeypatch.setattr(ab, "PreparedMessage", counting)
    a, b = bare_protocol(), bare_protocol()
    writers = []
    for p in (a, b):
        write = daphne_frame_writer(daphne_send(p, []))
        assert write is not None
        writers.append(write)
    payload = b"\x81\xa1t\xa5frame"
    message: dict[str, Any] = {"type": "websocket.send", "bytes": payload}
    for write in writers:
        write(message)
    assert len(framed) == 1, "one frame for all the sockets of a broadcast"
    for p in (a, b):
        assert p.transport.value() == b"\x82" + bytes([len(payload)]) + payload
    writers[0]({"type": "websocket.send", "bytes": b"next"})
    assert len(framed) == 2
    assert a.transport.value().endswith(b"\x82\x04next")


def test_a_socket_that_is_not_open_refuses_like_daphne_and_an_oversized_message_takes_daphnes_path():
    closed = bare_protocol()
    closed.state = closed.STATE_CLOSED
    write = daphne_frame_writer(daphne_send(closed, []))
    assert write is not None
    with pytest.raises(Disconnected):
        write({"type": "websocket.send", "bytes": b"x"})
    assert closed.transport.value() == b""

    sent: list[dict[str, Any]] = []
    small = bare_protocol(max_size=8)
    write = daphne_frame_writer(daphne_send(small, sent))
    assert write is not None
    big = {"type": "websocket.send", "bytes": b"y" * 9}
    write(big)
    assert sent == [big], "over the limit: Daphne's own send (and its error) decides"
    assert small.transport.value() == b""


def test_other_servers_sends_get_no_frame_writer():
    async def send(message: dict[str, Any]) -> None:
        pass

    assert daphne_frame_writer(send) is None
    assert daphne_frame_writer(functools.partial(send)) is None


def test_a_message_nobody_listens_for_is_handed_on_without_the_signal_and_a_listener_still_hears_it():
    servers.unobserved_messages()
    servers.unobserved_messages()  # idempotent

    def protocol_with(parts: list[bytes]) -> Any:
        protocol: Any = WebSocketProtocol.__new__(WebSocketProtocol)
        protocol.failedByMe = False
        protocol.trackedTimings = None
        protocol.message_data = parts
        protocol.message_is_binary = True
        protocol.got = []
        protocol._onMessage = lambda payload, binary: protocol.got.append((payload, binary))
        return protocol

    quiet = protocol_with([b"ab", b"c"])
    quiet.fire = None  # calling the signal would fail
    quiet.onMessageEnd()
    assert quiet.got == [(b"abc", True)]
    assert quiet.message_data is None

    heard = []
    observed = protocol_with([b"d"])
    observed.set_valid_events(["message"])
    observed.on("message", lambda payload, is_binary: heard.append(payload))
    observed.onMessageEnd()
    assert observed.got == [(b"d", True)]
    assert heard == [b"d"]


def test_a_server_close_code_autobahn_refuses_is_sent_as_a_close_frame_on_an_open_socket():
    # autobahn's sendClose allows only 1000 and 3000-4999, so close(code=1011) raised under Daphne.
    protocol = bare_protocol()
    protocol.closeHandshakeTimeout = 0
    protocol.logFrames = False
    protocol.factory = types.SimpleNamespace(isServer=True)
    protocol.maskServerFrames = False
    close = daphne_closer(daphne_send(protocol, []))
    assert close is not None
    assert close(1012) is True
    assert protocol.transport.value() == b"\x88\x02" + (1012).to_bytes(2, "big")
    assert protocol.state == protocol.STATE_CLOSING
    assert close(1011) is False, "already closing: nothing more to send"
    assert daphne_closer(lambda message: None) is None
