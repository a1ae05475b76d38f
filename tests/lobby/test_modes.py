"""Games and modes come from settings (GAMES, GAME_MODES), checked at start with errors that
name the bad entry; the defaults are today's three arena modes exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from gameserver.protocol import lobby as lp
from lobby.matchmaker.pairing import Mode
from lobby.modes import game_infos, game_modes, parse_modes, rated_modes
from match.games import default_game, games, get_game, load_games
from match.games.arena import ARENA

ROOT = Path(__file__).resolve().parents[2]
MINI = "tests.lobby.minigame"


def test_the_default_modes_start_with_the_three_arena_modes_of_before():
    """(A game added to the defaults later adds its modes after these.)"""
    assert dict(list(game_modes().items())[:3]) == {
        "duel": Mode(name="duel", game="arena", players=2, team_size=1, party=1, min_players=2, wait=0),
        "team": Mode(name="team", game="arena", players=4, team_size=2, party=2, min_players=4, wait=0),
        "ffa": Mode(name="ffa", game="arena", players=8, team_size=1, party=8, min_players=3, wait=20),
    }
    assert rated_modes()[:3] == ["duel", "team", "ffa"]
    assert lp.MODES[:3] == ("duel", "team", "ffa")
    assert (game_modes()["team"].teams, game_modes()["team"].has_teams) == (2, True)
    assert (game_modes()["duel"].teams, game_modes()["duel"].has_teams) == (2, False)


def test_the_arena_is_the_first_default_game():
    assert next(iter(games().items())) == ("arena", ARENA)
    assert default_game() == "arena"
    arena = game_infos()["arena"]
    assert (arena.name, arena.min_players, arena.max_players, arena.teams) == ("arena", 2, 8, True)


def test_a_game_added_to_the_settings_is_registered_and_its_modes_follow(settings):
    settings_games_before = list(games())
    settings.GAMES = [*settings.GAMES, MINI]
    settings.GAME_MODES = {**settings.GAME_MODES, "mini3": {"game": "mini", "players": 3}}
    assert list(games()) == [*settings_games_before, "mini"]
    assert get_game("mini").max_players == 4
    assert game_modes()["mini3"] == Mode(name="mini3", game="mini", players=3)
    assert "mini3" in lp.MODES
    assert lp.check_lobby_message({"t": "queue_join", "mode": "mini3"}) == "queue_join"
    assert game_infos()["mini"].teams is False, "no mode plays it in teams"


def test_a_mode_the_settings_no_longer_have_is_refused_by_the_schema(settings):
    settings.GAME_MODES = {"duel": {"game": "arena", "players": 2}}
    with pytest.raises(lp.ProtocolError, match=r"must be one of \['duel'\], got 'ffa'"):
        lp.check_lobby_message({"t": "queue_join", "mode": "ffa"})


ARENA_ONLY: dict[str, Any] = {"arena": ARENA}


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ({}, "GAME_MODES must be a non-empty mapping"),
        ([], "GAME_MODES must be a non-empty mapping"),
        ({"Duel": {"game": "arena", "players": 2}}, "GAME_MODES['Duel']: a mode name is 1..16"),
        ({"room": {"game": "arena", "players": 2}}, "GAME_MODES['room']: a mode name"),
        ({"x" * 17: {"game": "arena", "players": 2}}, "a mode name is 1..16"),
        ({"duel": "arena"}, "GAME_MODES['duel'] must be a mapping"),
        ({"duel": {"game": "arena", "players": 2, "size": 2}}, "unknown keys ['size']"),
        ({"duel": {"game": "chess", "players": 2}}, "game 'chess' is not in GAMES (registered: arena)"),
        ({"duel": {"players": 2}}, "game None is not in GAMES"),
        ({"duel": {"game": "arena"}}, "GAME_MODES['duel'] needs 'players'"),
        ({"big": {"game": "arena", "players": 9}}, "'players' must be an integer in 2..8, got 9"),
        ({"duel": {"game": "arena", "players": "2"}}, "'players' must be an integer"),
        ({"duel": {"game": "arena", "players": True}}, "'players' must be an integer"),
        ({"t": {"game": "arena", "players": 6, "team_size": 4}}, "'team_size' must be an integer in 1..3"),
        (
            {"t": {"game": "arena", "players": 6, "team_size": 2}},
            "'arena' refuses a match of 6 in teams of 2",
        ),
        ({"t": {"game": "arena", "players": 5, "team_size": 2}}, "5 players do not make teams of 2"),
        (
            {"t": {"game": "arena", "players": 4, "team_size": 2, "party": 3}},
            "'party' must be an integer in 1..2",
        ),
        ({"f": {"game": "arena", "players": 8, "min": 1}}, "'min' must be an integer in 2..8, got 1"),
        ({"t": {"game": "arena", "players": 4, "team_size": 2, "min": 2}}, "needs a mode without teams"),
        (
            {"f": {"game": "arena", "players": 8, "min": 3, "wait": -1}},
            "'wait' must be an integer in 0..86400",
        ),
        ({"duel": {"game": "arena", "players": 2, "rated": 1}}, "'rated' must be true or false, got 1"),
    ],
)
def test_a_bad_mode_is_refused_naming_the_entry_and_the_problem(modes, message):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_modes(modes, ARENA_ONLY)
    assert message in str(refused.value)


def test_a_mode_that_never_starts_smaller_waits_zero_seconds():
    (mode,) = parse_modes({"duel": {"game": "arena", "players": 2, "wait": 30}}, ARENA_ONLY).values()
    assert (mode.min_players, mode.wait) == (2, 0)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ([], "GAMES must be a non-empty list"),
        ("match.games.arena", "GAMES must be a non-empty list"),
        (["match.games.nope"], "GAMES[0] 'match.games.nope' cannot be imported"),
        (["match.games.arena", "match.rules"], "GAMES[1] 'match.rules' has no RULES"),
        (["match.games.arena", "match.games.arena"], "a game named 'arena' is already registered"),
    ],
)
def test_a_bad_game_list_is_refused_naming_the_entry(paths, message):
    with pytest.raises(ImproperlyConfigured) as refused:
        load_games(paths)
    assert message in str(refused.value)


SHOW = (
    "import django; django.setup(); from lobby.modes import game_modes; from match.games import games; "
    "print(list(games()), {m.name: (m.game, m.players, m.rated) for m in game_modes().values()})"
)


def start(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh process setting Django up (``manage.py check`` by default), as every server and
    worker does at start."""
    own = {"GAMES", "GAME_MODES", "MM_FFA_MIN", "MM_FFA_WAIT"}
    clean = {k: v for k, v in os.environ.items() if k not in own}
    return subprocess.run(
        [sys.executable, *(command or ("manage.py", "check"))],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "gameserver.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GAME_MODES": '{"duel": {"game": "chess", "players": 2}}'}, "game 'chess' is not in GAMES"),
        ({"GAME_MODES": "{duel"}, "GAME_MODES must be a JSON object"),
        ({"GAME_MODES": "[1]"}, "GAME_MODES must be a JSON object"),
        ({"GAMES": "match.games.arena,match.games.nope"}, "GAMES[1] 'match.games.nope' cannot be imported"),
    ],
    ids=["unknown game", "not json", "not an object", "no such module"],
)
def test_a_process_refuses_to_start_with_bad_games_or_modes(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_the_environment_sets_games_and_modes():
    modes = (
        '{"mini3": {"game": "mini", "players": 3, "rated": false}, "duel": {"game": "arena", "players": 2}}'
    )
    result = start("-c", SHOW, GAMES=f"match.games.arena,{MINI}", GAME_MODES=modes)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == "['arena', 'mini'] {'mini3': ('mini', 3, False), 'duel': ('arena', 2, True)}"
    )


def test_the_free_for_all_minimum_and_wait_still_come_from_their_own_variables():
    result = start("-c", SHOW.replace("m.rated", "m.min_players, m.wait"), MM_FFA_MIN="2", MM_FFA_WAIT="5")
    assert result.returncode == 0, result.stderr
    assert "'ffa': ('arena', 8, 2, 5)" in result.stdout
