"""docs/protocol.md stays true: every example's bytes are what the server sends, every code is listed.

Each example in the doc is a ```json block directly followed by a ```hex block holding the exact
msgpack bytes of that JSON value (space-separated lowercase pairs, 32 per line). Every match and
lobby message type has an example, and every lobby client example passes the lobby's own schema
check, so the documented requests are ones the server accepts. Every snapshot example names its
game and carries exactly the keys, in order, that the game's own ``snapshot`` sends, so a field
added to a game shows up here until the doc has it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import msgpack
import pytest
from django.conf import settings

from gameserver import protocol
from gameserver.protocol import CloseCode, ErrorCode
from gameserver.protocol import lobby as lobby_protocol
from match.games import get_game

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

# A json block (which cannot contain a fence) immediately followed by a hex block.
PAIR = re.compile(
    r"^```json\n(?P<json>(?:(?!```).)*?)\n```\n```hex\n(?P<hex>(?:(?!```).)*?)\n```$",
    re.DOTALL | re.MULTILINE,
)
HEX_LINE = re.compile(r"[0-9a-f]{2}(?: [0-9a-f]{2}){0,31}")
BYTES_PER_LINE = 32
MIN_EXAMPLES = 8

MATCH_TYPES = (
    protocol.INPUT,
    protocol.PING,
    protocol.SEAT,
    protocol.SNAPSHOT,
    protocol.PHASE,
    protocol.FRAME,
    protocol.END,
    protocol.ERROR,
    protocol.PONG,
)
LOBBY_TYPES = tuple(sorted(lobby_protocol.CLIENT_TYPES | lobby_protocol.SERVER_TYPES))
MESSAGE_TYPES = tuple(dict.fromkeys(MATCH_TYPES + LOBBY_TYPES))

# The lobby's client-message reference: from its heading to the next heading of level 2 or 3.
LOBBY_CLIENT_SECTION = re.compile(
    r"^### [0-9.]+ Lobby client → server messages\n(?P<body>.*?)(?=^#{2,3} )", re.DOTALL | re.MULTILINE
)
# Types only a lobby client sends ("chat" is also a server message, "ping" a match message too).
LOBBY_CLIENT_ONLY = (
    lobby_protocol.CLIENT_TYPES - lobby_protocol.SERVER_TYPES - protocol.CLIENT_TYPES - protocol.SERVER_TYPES
)

EXAMPLES: list[tuple[str, str]] = [(m["json"], m["hex"]) for m in PAIR.finditer(DOC)]
LOBBY_CLIENT_MATCH = LOBBY_CLIENT_SECTION.search(DOC)


def in_lobby_client_section(position: int) -> bool:
    if LOBBY_CLIENT_MATCH is None:
        return False
    return LOBBY_CLIENT_MATCH.start("body") <= position < LOBBY_CLIENT_MATCH.end("body")


def example_type(text: str) -> object:
    try:
        return json.loads(text).get("t")
    except (ValueError, AttributeError):
        return None


# Examples a lobby client sends: everything in its section, and lobby-only client types anywhere.
LOBBY_CLIENT_INDEXES = [
    i
    for i, m in enumerate(PAIR.finditer(DOC))
    if in_lobby_client_section(m.start()) or example_type(m["json"]) in LOBBY_CLIENT_ONLY
]


def example_id(index: int) -> str:
    """Name an example by its position and message type, e.g. ``3-snapshot``."""
    text = EXAMPLES[index][0]
    try:
        kind = json.loads(text).get("t", "?")
    except (ValueError, AttributeError):
        kind = "?"
    return f"{index + 1}-{kind}"


INDEXES = [pytest.param(i, id=example_id(i)) for i in range(len(EXAMPLES))]


def example_value(index: int) -> Any:
    return json.loads(EXAMPLES[index][0])


def example_bytes(index: int) -> bytes:
    return bytes.fromhex(EXAMPLES[index][1])


def test_the_doc_has_at_least_eight_examples() -> None:
    assert len(EXAMPLES) >= MIN_EXAMPLES


def test_every_json_block_is_directly_followed_by_a_hex_block() -> None:
    json_fences = len(re.findall(r"^```json$", DOC, re.MULTILINE))
    hex_fences = len(re.findall(r"^```hex$", DOC, re.MULTILINE))
    assert json_fences == hex_fences == len(EXAMPLES)


@pytest.mark.parametrize("index", INDEXES)
def test_each_hex_block_is_lowercase_pairs_wrapped_at_32_bytes(index: int) -> None:
    lines = EXAMPLES[index][1].split("\n")
    for line in lines:
        assert HEX_LINE.fullmatch(line), f"badly formatted hex line {line!r}"
    for line in lines[:-1]:
        assert len(line.split(" ")) == BYTES_PER_LINE, f"hex line shorter than 32 bytes: {line!r}"


@pytest.mark.parametrize("index", INDEXES)
def test_each_hex_block_decodes_to_its_json_example(index: int) -> None:
    decoded = msgpack.unpackb(example_bytes(index))
    expected = example_value(index)
    assert decoded == expected
    # == treats true as 1 and ignores key order; the JSON text does not.
    assert json.dumps(decoded) == json.dumps(expected)


@pytest.mark.parametrize("index", INDEXES)
def test_encoding_each_json_example_gives_exactly_its_hex_bytes(index: int) -> None:
    assert protocol.encode(example_value(index)).hex(" ") == example_bytes(index).hex(" ")


@pytest.mark.parametrize("index", INDEXES)
def test_each_example_is_a_message_with_a_known_type(index: int) -> None:
    value = example_value(index)
    assert isinstance(value, dict)
    assert value.get("t") in MESSAGE_TYPES


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_every_message_type_is_documented_with_an_example(kind: str) -> None:
    assert f"`{kind}`" in DOC
    assert any(example_value(i).get("t") == kind for i in range(len(EXAMPLES)))


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: str(code))
def test_every_error_code_has_a_row_in_the_error_table(code: ErrorCode) -> None:
    assert re.search(rf"^\| `{re.escape(code.value)}` \|", DOC, re.MULTILINE)


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: code.name)
def test_every_close_code_has_a_row_in_the_close_table(code: CloseCode) -> None:
    assert re.search(rf"^\| {code.value} \| `{code.name}` \|", DOC, re.MULTILINE)


def test_daphnes_own_close_code_1009_is_documented() -> None:
    assert re.search(r"^\| 1009 \|", DOC, re.MULTILINE)


def test_a_chat_flood_is_documented_as_the_close_the_server_sends() -> None:
    """The server closes a chat flood with 4429 (tests/lobby/test_presence_and_chat.py)."""
    assert not [line for line in DOC.splitlines() if "chat" in line and "4400" in line]


@pytest.mark.parametrize("name", ["MATCH_TIME_LIMIT", "MATCH_SCORE_LIMIT"])
def test_the_match_limit_settings_are_documented_with_their_ranges(name: str) -> None:
    low, high = getattr(settings, f"{name}_RANGE")
    operations = (DOC_PATH.parent / "operations.md").read_text(encoding="utf-8")
    for doc in (DOC, operations):
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"{low}..{high}" in row, row


def test_the_lobby_client_section_holds_an_example_of_every_lobby_client_message() -> None:
    assert LOBBY_CLIENT_MATCH is not None, "no 'Lobby client → server messages' section"
    in_section = {
        example_value(i).get("t")
        for i, m in enumerate(PAIR.finditer(DOC))
        if in_lobby_client_section(m.start())
    }
    assert in_section == set(lobby_protocol.CLIENT_TYPES)


@pytest.mark.parametrize("index", [pytest.param(i, id=example_id(i)) for i in LOBBY_CLIENT_INDEXES])
def test_each_lobby_client_example_passes_the_lobby_schema(index: int) -> None:
    value = example_value(index)
    assert value.get("t") in lobby_protocol.CLIENT_TYPES
    assert lobby_protocol.check_lobby_message(value) == value["t"]
    assert len(protocol.encode(value)) <= protocol.DEFAULT_LIMITS.max_message_bytes


SNAPSHOT_INDEXES = [
    pytest.param(i, id=example_id(i))
    for i in range(len(EXAMPLES))
    if example_type(EXAMPLES[i][0]) == protocol.SNAPSHOT
]


def test_both_shipped_games_have_a_snapshot_example() -> None:
    documented = {example_value(i).get("game") for i in range(len(EXAMPLES))}
    assert {"arena", "grid"} <= documented


@pytest.mark.parametrize("index", SNAPSHOT_INDEXES)
def test_each_snapshot_example_has_the_keys_its_game_sends_in_order(index: int) -> None:
    """The message as MatchConsumer writes it (``game`` last), and a state shaped like the one the
    game's rules make for the same players and settings."""
    value = example_value(index)
    state = value["state"]
    rules = get_game(value["game"])
    names = [p["n"] for p in state["players"]]
    real = rules.snapshot(
        rules.initial_state(
            players=[{"seat": seat, "name": name} for seat, name in enumerate(names)],
            settings={
                "tick_hz": state["hz"],
                "score_limit": state["score_limit"],
                "time_limit_ticks": state["end_tick"],
            },
            seed=1,
        )
    )
    message = protocol.snapshot_message(
        tick=0, seat=0, phase=protocol.PHASE_WAITING, state=real, acks=[0], game=rules.name
    )
    assert list(value) == list(message)
    assert list(state) == list(real)
    made_players = cast(list[dict[str, Any]], real["players"])
    for documented, made in zip(state["players"], made_players, strict=True):
        assert list(documented) == list(made)
