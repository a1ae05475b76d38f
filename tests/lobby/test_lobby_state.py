"""The pure lobby state, driven by hand: what no socket test can reach in reasonable time."""

from __future__ import annotations

from lobby.matchmaker.pairing import PairingConfig
from lobby.matchmaker.state import Lobby, LobbyConfig
from lobby.modes import game_infos, game_modes

CONFIG = LobbyConfig(
    pairing=PairingConfig(window_start=100, window_growth=25, window_max=1000),
    party_max=4,
    invite_ttl=60,
    ready_timeout=15,
    list_max=200,
    server_timeout=30,
    modes=game_modes(),  # the default modes: duel, team and ffa of the arena
    games=game_infos(),
)


def test_the_sockets_of_a_server_that_stopped_beating_leave_the_lobby_and_the_queue():
    lobby = Lobby(CONFIG)
    lobby.connect(user_id=1, name="ann", channel="a", now=0, server="s1")
    lobby.connect(user_id=2, name="bob", channel="b", now=0, server="s2")
    lobby.queue_join(user_id=1, mode="duel", ratings={1: 1000}, now=0)
    lobby.flush_presence()
    lobby.server_alive(server="s2", now=25)
    assert lobby.expire_servers(29).sends == []
    out = lobby.expire_servers(31)
    assert set(lobby.members) == {2}
    assert (
        "user",
        1,
        {"t": "queue", "mode": "", "waited": 0, "window": 0, "rating": 0, "size": 0, "need": 0},
    ) in out.sends
    assert out.online == [(1, False)]
    presence = lobby.flush_presence().sends
    assert presence == [("all", None, {"t": "presence", "online": 1, "joined": [], "left": [1]})]


def test_a_live_server_keeps_its_sockets():
    lobby = Lobby(CONFIG)
    lobby.connect(user_id=1, name="ann", channel="a", now=0, server="s1")
    for second in range(10, 100, 10):
        lobby.server_alive(server="s1", now=second)
        lobby.expire_servers(second)
    assert set(lobby.members) == {1}


def test_a_match_whose_end_never_comes_frees_its_players_after_the_grace_time():
    lobby = Lobby(CONFIG)
    for user in (1, 2):
        lobby.connect(user_id=user, name=f"p{user}", channel=f"c{user}", now=0)
        lobby.queue_join(user_id=user, mode="duel", ratings={user: 1000}, now=0)
    pending = lobby.pass_queues(0.1)
    check_id = next(iter(lobby.checks))
    lobby.ready(user_id=1, check_id=check_id, accept=True, now=1)
    (match,) = lobby.ready(user_id=2, check_id=check_id, accept=True, now=1).matches
    lobby.match_created(match, "m1", until=100, ready={1: {"t": "match_ready"}, 2: {"t": "match_ready"}})
    assert pending.sends
    assert lobby.status_of(1) == "match"
    lobby.expire_matches(99)
    assert lobby.status_of(1) == "match"
    lobby.expire_matches(100)
    assert lobby.status_of(1) == lobby.status_of(2) == "idle"


GRACE = LobbyConfig(**{**CONFIG.__dict__, "reconnect_grace": 20})


def test_a_player_back_within_the_grace_period_keeps_party_queue_and_presence():
    lobby = Lobby(GRACE)
    for user in (1, 2):
        lobby.connect(user_id=user, name=f"p{user}", channel=f"c{user}", now=0)
    party = lobby.party_invite(user_id=1, target=2, now=0).sends
    party_id = next(m["party"] for _k, _t, m in party if m["t"] == "party_invited")
    lobby.party_accept(user_id=2, party_id=party_id, now=0)
    lobby.queue_join(user_id=1, mode="team", ratings={1: 1000, 2: 1000}, now=0)
    lobby.flush_presence()
    out = lobby.disconnect(user_id=2, channel="c2", now=1)
    assert (out.sends, out.online) == ([], []), "nobody is told anything during the grace period"
    assert lobby.expire_away(20).sends == []
    lobby.connect(user_id=2, name="p2", channel="c2b", now=20)
    assert lobby.expire_away(100).sends == []
    assert (lobby.status_of(2), lobby.party_of[2]) == ("queued", party_id)
    assert lobby.flush_presence().sends == [], "no leave and no join was ever pushed"


def test_a_player_not_back_within_the_grace_period_leaves_everything():
    lobby = Lobby(GRACE)
    for user in (1, 2):
        lobby.connect(user_id=user, name=f"p{user}", channel=f"c{user}", now=0)
        lobby.queue_join(user_id=user, mode="duel", ratings={user: 1000}, now=0)
    lobby.pass_queues(0.1)
    check_id = next(iter(lobby.checks))
    lobby.flush_presence()
    lobby.disconnect(user_id=1, channel="c1", now=1)
    assert lobby.status_of(1) == "checking", "the ready check waits for them too"
    out = lobby.expire_away(21)
    assert 1 not in lobby.members
    assert check_id not in lobby.checks
    assert out.online == [(1, False)]
    assert any(m["t"] == "match_cancelled" and m.get("reason") == "left" for _k, _t, m in out.sends)
    assert lobby.flush_presence().sends == [
        ("all", None, {"t": "presence", "online": 1, "joined": [], "left": [1]})
    ]


def test_a_player_who_signs_out_leaves_at_once_despite_the_grace_period():
    lobby = Lobby(GRACE)
    lobby.connect(user_id=1, name="p1", channel="c1", now=0)
    lobby.queue_join(user_id=1, mode="duel", ratings={1: 1000}, now=0)
    out = lobby.disconnect(user_id=1, channel="c1", now=1, leaving=True)
    assert out.online == [(1, False)]
    assert 1 not in lobby.members
    assert lobby.status_of(1) == "idle"
