"""The lobby state as bytes: what a matchmaker taking over loads is the lobby its predecessor
had, with every deadline re-based on the new process's clock."""

from __future__ import annotations

import msgpack
import pytest

from lobby.matchmaker.persist import lobby_dump, lobby_load
from lobby.matchmaker.state import Lobby, LobbyConfig
from tests.lobby.test_lobby_state import GRACE


def busy_lobby() -> Lobby:
    """Players online and away, a party with an invite, queues, a ready check, a room, a match."""
    lobby = Lobby(GRACE)
    for user in range(1, 11):
        lobby.connect(user_id=user, name=f"p{user}", channel=f"c{user}", now=0, server=f"s{user % 2}")
    sends = lobby.party_invite(user_id=1, target=2, now=0).sends
    party = next(m["party"] for _k, _t, m in sends if m["t"] == "party_invited")
    lobby.party_accept(user_id=2, party_id=party, now=1)
    lobby.party_invite(user_id=1, target=3, now=1)
    lobby.queue_join(user_id=1, mode="team", ratings={1: 1000, 2: 1100}, now=2)
    for user in (4, 5):
        lobby.queue_join(user_id=user, mode="duel", ratings={user: 1000}, now=2)
    lobby.queue_join(user_id=6, mode="ffa", ratings={6: 1200}, now=2)
    lobby.pass_queues(2.5)  # 4 and 5: a ready check
    check = next(iter(lobby.checks))
    lobby.ready(user_id=4, check_id=check, accept=True, now=3)
    lobby.room_create(user_id=7, mode="ffa", max_players=4, public=True, password="pw", now=3)
    code = lobby.room_of[7]
    lobby.room_join(user_id=8, code=code, password="pw", now=3)
    lobby.disconnect(user_id=9, channel="c9", now=4)  # away, within the grace period
    lobby.server_alive(server="s0", now=4)
    return lobby


def test_a_loaded_lobby_is_the_one_dumped_with_its_times_rebased():
    lobby = busy_lobby()
    data = lobby_dump(lobby, now=5)
    loaded = lobby_load(data, GRACE, now=1005)
    assert lobby_dump(loaded, now=1005) == data, "the same state, 1000 s later on another clock"
    for user in range(1, 11):
        assert loaded.status_of(user) == lobby.status_of(user)
        assert loaded.state_messages(user, 1005) == lobby.state_messages(user, 5)
    assert loaded.ticket_of[1] is loaded.queues["team"][0], "one ticket object, as before"
    assert [t.members for t in next(iter(loaded.checks.values())).tickets] == [[4], [5]]


def test_the_loaded_lobby_goes_on_as_the_original_would():
    lobby = busy_lobby()
    loaded = lobby_load(lobby_dump(lobby, now=5), GRACE, now=505)
    for now, then in ((5, 505), (40, 540)):  # the check times out; the away player leaves
        for step in ("expire_invites", "expire_checks", "expire_away", "pass_queues"):
            ours, theirs = getattr(lobby, step)(now), getattr(loaded, step)(then)
            assert theirs.sends == ours.sends, step
            assert theirs.online == ours.online, step
        assert loaded.flush_presence().sends == lobby.flush_presence().sends
    assert lobby_dump(loaded, now=540) == lobby_dump(lobby, now=40)
    assert not loaded.checks, "the ready check timed out on the new clock"
    assert 9 not in loaded.members, "the away player's grace ran out on the new clock"
    assert next(loaded.ids) == next(lobby.ids), "new ids never repeat old ones"


@pytest.mark.parametrize("data", [b"", b"\x01", msgpack.packb({"v": 99}), msgpack.packb({"v": 1})])
def test_bytes_that_are_no_lobby_state_are_refused(data):
    with pytest.raises(ValueError, match="lobby state"):
        lobby_load(data, GRACE, now=0)


def test_a_rooms_game_is_kept_and_a_first_format_room_plays_its_modes_game():
    lobby = busy_lobby()
    code = lobby.room_of[7]
    assert lobby_load(lobby_dump(lobby, now=5), GRACE, now=5).rooms[code].game == "arena"
    old = msgpack.unpackb(lobby_dump(lobby, now=5), raw=False, strict_map_key=False)
    old["v"], old["rooms"] = 1, [room[:7] for room in old["rooms"]]  # as format 1 wrote them
    loaded = lobby_load(msgpack.packb(old, use_bin_type=True), GRACE, now=5)
    assert loaded.rooms[code].game == "arena"
    assert loaded.state_messages(8, 5) == lobby.state_messages(8, 5)


def test_a_lobby_saved_under_other_modes_loads_without_the_modes_that_are_gone():
    lobby = busy_lobby()
    fewer = LobbyConfig(**{**GRACE.__dict__, "modes": {m: v for m, v in GRACE.modes.items() if m != "team"}})
    loaded = lobby_load(lobby_dump(lobby, now=5), fewer, now=5)
    assert set(loaded.queues) == set(GRACE.modes) - {"team"}
    assert (loaded.status_of(1), loaded.status_of(2)) == ("idle", "idle"), "their team ticket is gone"
    assert (loaded.status_of(4), loaded.status_of(6), loaded.status_of(7)) == ("checking", "queued", "room")
    assert loaded.queue_message(loaded.ticket_of.get(1), 5)["mode"] == ""
    assert loaded.pass_queues(6).matches == []
    none = LobbyConfig(**{**GRACE.__dict__, "modes": {"team": GRACE.modes["team"]}})
    emptied = lobby_load(lobby_dump(lobby, now=5), none, now=5)
    assert (emptied.checks, emptied.rooms, emptied.room_of, emptied.check_of) == ({}, {}, {}, {})
    assert [t.members for t in emptied.queues["team"]] == [[1, 2]]
