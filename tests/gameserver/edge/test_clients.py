"""The client's address: the TCP peer, unless a trusted proxy says whom it forwarded for."""

import pytest

from gameserver.edge.clients import resolve, scope_address


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [
        ("1.2.3.4", None, [], "1.2.3.4"),
        ("1.2.3.4", "6.6.6.6", [], "1.2.3.4"),  # nobody trusted: the header is the client's word
        ("1.2.3.4", "6.6.6.6", ["127.0.0.1"], "1.2.3.4"),  # not from the trusted proxy
        ("127.0.0.1", "6.6.6.6", ["127.0.0.1"], "6.6.6.6"),
        ("127.0.0.1", "9.9.9.9, 6.6.6.6", ["127.0.0.1"], "6.6.6.6"),  # the rightmost untrusted hop
        ("127.0.0.1", "6.6.6.6, 10.0.0.7", ["127.0.0.1", "10.0.0.0/8"], "6.6.6.6"),
        ("127.0.0.1", "not an address", ["127.0.0.1"], "127.0.0.1"),
        ("::1", "2001:db8::1", ["::1"], "2001:db8::1"),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(settings, peer, header, trusted, client):
    settings.TRUSTED_PROXIES = trusted
    assert resolve(peer, header) == client


def test_a_handshake_scope_is_read_the_same_way(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    scope = {"client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"6.6.6.6")]}
    assert scope_address(scope) == "6.6.6.6"
    assert scope_address({"headers": []}) == ""
