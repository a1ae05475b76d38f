"""docs/protocol.md stays true: every example's bytes are what the server sends, every code is listed.

Each example in the doc is a ```json block directly followed by a ```hex block holding the exact
msgpack bytes of that JSON value (space-separated lowercase pairs, 32 per line).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgpack
import pytest

from gameserver import protocol
from gameserver.protocol import CloseCode, ErrorCode

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

MESSAGE_TYPES = (
    protocol.INPUT,
    protocol.PING,
    protocol.SNAPSHOT,
    protocol.PHASE,
    protocol.FRAME,
    protocol.END,
    protocol.ERROR,
    protocol.PONG,
)

EXAMPLES: list[tuple[str, str]] = [(m["json"], m["hex"]) for m in PAIR.finditer(DOC)]


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
