"""Display-name rules and the look-alike key."""

import pytest

from lobby.names import NAME_MAX_LEN, NAME_MIN_LEN, InvalidName, name_clean, name_key


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("bob", "bob"),
        ("  Alice  ", "Alice"),
        ("x" * NAME_MAX_LEN, "x" * NAME_MAX_LEN),
        ("a" * NAME_MIN_LEN, "a" * NAME_MIN_LEN),
        ("Mr. Pink", "Mr. Pink"),
        ("dark_knight-99", "dark_knight-99"),
        ("a b c", "a b c"),
        ("007", "007"),
    ],
)
def test_allowed_names_come_back_without_surrounding_whitespace(raw, clean):
    assert name_clean(raw) == clean


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("ab", "3 to 16 characters"),
        ("   ab   ", "3 to 16 characters"),
        ("", "3 to 16 characters"),
        ("x" * (NAME_MAX_LEN + 1), "3 to 16 characters"),
        ("two  spaces", "single spaces"),
        ("_bob", "start and end with a letter or digit"),
        ("bob.", "start and end with a letter or digit"),
        ("-bob-", "start and end with a letter or digit"),
        ("bob!", "ASCII letters"),
        ("b\u00f6b", "ASCII letters"),
        ("b\u043eb", "ASCII letters"),  # Cyrillic o
        ("bo\tb", "ASCII letters"),
        ("bob\u202e", "ASCII letters"),
        ("bo\nb", "ASCII letters"),
        (None, "must be a string"),
        (42, "must be a string"),
    ],
)
def test_names_breaking_a_rule_are_refused_with_the_rule_and_the_value(raw, rule):
    with pytest.raises(InvalidName) as caught:
        name_clean(raw)
    assert rule in str(caught.value)
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("bob", "BOB"),
        ("bob", "B0b"),
        ("bob", "8ob"),
        ("Bill", "B1ll"),
        ("Bill", "BiII"),
        ("Jessie", "J3ss1e"),
        ("sam", "5am"),
        ("morn", "rnorn"),
        ("Wave", "VVave"),
        ("dark knight", "dark_knight"),
        ("dark knight", "Dark.Knight"),
        ("dark knight", "darkknight"),
    ],
)
def test_look_alike_names_share_a_key(one, other):
    assert name_key(one) == name_key(other)


@pytest.mark.parametrize(("one", "other"), [("bob", "rob"), ("anna", "anne"), ("rn1", "m2")])
def test_different_names_have_different_keys(one, other):
    assert name_key(one) != name_key(other)


@pytest.mark.parametrize(
    "raw",
    [
        "admin",
        "Admin",
        "ADM1N",
        "adrnin",
        "Administrator",
        "sys tem",
        "Server",
        "M0D",
        "Staff",
        "Support",
        "guest",
        "Gue5t",
        "player",
        "PlAyEr",
        "moderator",
        "s.y.s.t.e.m",
    ],
)
def test_reserved_names_and_their_look_alikes_are_refused(raw):
    with pytest.raises(InvalidName, match="reserved"):
        name_clean(raw)


@pytest.mark.parametrize("raw", ["admin2", "guests", "modern", "players1", "the server"])
def test_names_merely_containing_a_reserved_word_are_allowed(raw):
    assert name_clean(raw) == raw
