"""Parties through real LobbyConsumers and the real matchmaker: invite, accept, decline, leave,
kick, one leader, and the mistakes a client can make."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lobby.conftest import Player, online

pytestmark = pytest.mark.usefixtures("workers")


async def form_party(leader: Player, *others: Player) -> int:
    party_id = 0
    for other in others:
        await leader.send({"t": "party_invite", "player": other.user_id})
        invite = await other.expect("party_invited")
        assert invite["from"] == {"id": leader.user_id, "n": leader.name}
        party_id = invite["party"]
        await other.send({"t": "party_accept", "party": party_id})
        await other.expect("party", id=party_id)
    return party_id


def member_ids(message: dict) -> list[int]:
    return [m["id"] for m in message["members"]]


async def test_an_accepted_invite_makes_a_party_with_one_leader():
    ann, bob = await online(2)
    party_id = await form_party(ann, bob)
    party = await ann.expect("party", where=lambda m: len(m["members"]) == 2)
    assert party["id"] == party_id
    assert party["leader"] == ann.user_id
    assert member_ids(party) == [ann.user_id, bob.user_id]
    assert party["invited"] == []


async def test_a_declined_invite_leaves_no_party():
    ann, bob = await online(2)
    await ann.send({"t": "party_invite", "player": bob.user_id})
    invite = await bob.expect("party_invited")
    await ann.expect("party", invited=[bob.user_id])
    await bob.send({"t": "party_decline", "party": invite["party"]})
    assert (await ann.expect("party", id=0))["members"] == []
    await bob.send({"t": "party_accept", "party": invite["party"]})
    assert (await bob.expect("error"))["code"] == "no_such_party"


async def test_leaving_hands_the_lead_on_and_the_last_two_keep_their_party():
    ann, bob, cat = await online(3)
    party_id = await form_party(ann, bob, cat)
    await bob.expect("party", id=party_id, where=lambda m: len(m["members"]) == 3)
    await ann.send({"t": "party_leave"})
    await ann.expect("party", id=0)
    party = await bob.expect("party", id=party_id)
    assert member_ids(party) == [bob.user_id, cat.user_id]
    assert party["leader"] == bob.user_id


async def test_the_leader_kicks_a_member_and_a_party_of_one_disbands():
    ann, bob = await online(2)
    await form_party(ann, bob)
    await ann.send({"t": "party_kick", "player": bob.user_id})
    await bob.expect("party", id=0)
    await ann.expect("party", id=0)


async def test_a_member_who_goes_offline_leaves_the_party(no_lobby_grace):
    ann, bob, cat = await online(3)
    party_id = await form_party(ann, bob, cat)
    await ann.expect("party", id=party_id, where=lambda m: len(m["members"]) == 3)
    await cat.close()
    party = await ann.expect("party", id=party_id)
    assert member_ids(party) == [ann.user_id, bob.user_id]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("invite self", "cannot_target_self"),
        ("invite offline", "player_offline"),
        ("accept unknown party", "no_such_party"),
        ("accept without invite", "no_such_party"),
        ("leave without party", "not_in_party"),
        ("kick as member", "not_party_leader"),
        ("invite as member", "not_party_leader"),
        ("kick self", "cannot_target_self"),
        ("kick stranger", "not_in_party"),
        ("invite member again", "already_in_party"),
    ],
)
async def test_party_mistakes_are_answered_with_errors_and_the_party_survives(case, code):
    ann, bob, cat = await online(3)
    party_id = await form_party(ann, bob)
    requests: dict[str, tuple[Player, dict[str, Any]]] = {
        "invite self": (ann, {"t": "party_invite", "player": ann.user_id}),
        "invite offline": (ann, {"t": "party_invite", "player": 999999}),
        "accept unknown party": (cat, {"t": "party_accept", "party": 424242}),
        "accept without invite": (cat, {"t": "party_accept", "party": party_id}),
        "leave without party": (cat, {"t": "party_leave"}),
        "kick as member": (bob, {"t": "party_kick", "player": ann.user_id}),
        "invite as member": (bob, {"t": "party_invite", "player": cat.user_id}),
        "kick self": (ann, {"t": "party_kick", "player": ann.user_id}),
        "kick stranger": (ann, {"t": "party_kick", "player": cat.user_id}),
        "invite member again": (ann, {"t": "party_invite", "player": bob.user_id}),
    }
    who, message = requests[case]
    await who.send(message)
    error = await who.expect("error")
    assert (error["code"], error["re"]) == (code, message["t"])
    # The party is intact: the leader can still invite.
    await ann.send({"t": "party_invite", "player": cat.user_id})
    assert (await cat.expect("party_invited"))["party"] == party_id


async def test_a_party_is_full_at_the_size_limit(settings):
    settings.PARTY_MAX_SIZE = 2
    ann, bob, cat = await online(3)
    await form_party(ann, bob)
    await ann.send({"t": "party_invite", "player": cat.user_id})
    assert (await ann.expect("error"))["code"] == "party_full"


async def test_an_invite_expires(settings):
    settings.PARTY_INVITE_TTL = 1
    ann, bob = await online(2)
    await ann.send({"t": "party_invite", "player": bob.user_id})
    invite = await bob.expect("party_invited")
    assert invite["expires_in"] == 1
    await ann.expect("party", id=invite["party"])
    await ann.expect("party", id=0, within=3)  # expired: a party of one with no invites disbands
    await bob.send({"t": "party_accept", "party": invite["party"]})
    assert (await bob.expect("error"))["code"] == "no_such_party"


async def test_an_invitee_who_leaves_the_lobby_drops_the_invitation_and_a_lone_party_disbands(no_lobby_grace):
    ann, bob = await online(2)
    await ann.send({"t": "party_invite", "player": bob.user_id})
    party_id = (await bob.expect("party_invited"))["party"]
    await ann.expect("party", id=party_id)
    await bob.close()
    await ann.expect("party", id=0)
