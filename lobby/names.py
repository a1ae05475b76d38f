"""Display-name rules: which names are allowed, and the key that tells names apart.

Two names with the same key look alike on screen ("B0b" and "bob", "rn" and "m"), so the
key, not the name, is what must be unique among registered players and reserved words.
"""

from __future__ import annotations

import re

NAME_MIN_LEN = 3
NAME_MAX_LEN = 16

# Letters and digits at both ends; inside also "_", "-", "." and single spaces.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]| (?! ))*[A-Za-z0-9]")
_DROPPED = str.maketrans("", "", " _-.")
_LOOK_ALIKES = str.maketrans({"0": "o", "1": "l", "i": "l", "3": "e", "5": "s", "8": "b"})
RESERVED_NAMES = (
    "admin",
    "administrator",
    "system",
    "server",
    "moderator",
    "mod",
    "staff",
    "support",
    "guest",
    "player",
)


class InvalidName(ValueError):
    """A display name breaks the naming rules or passes for a reserved name."""


def name_key(name: str) -> str:
    """The form two names share when one could pass for the other."""
    key = name.lower().translate(_DROPPED).translate(_LOOK_ALIKES)
    return key.replace("rn", "m").replace("vv", "w")


_RESERVED_KEYS = frozenset(name_key(reserved) for reserved in RESERVED_NAMES)


def name_clean(raw: object) -> str:
    """``raw`` without surrounding whitespace, if it is an allowed display name."""
    if not isinstance(raw, str):
        raise InvalidName(f"a name must be a string, got {raw!r}")
    name = raw.strip()
    if not NAME_MIN_LEN <= len(name) <= NAME_MAX_LEN:
        raise InvalidName(f"a name must be {NAME_MIN_LEN} to {NAME_MAX_LEN} characters, got {raw!r}")
    if not _NAME_RE.fullmatch(name):
        raise InvalidName(
            f"a name may use ASCII letters, digits, '_', '-', '.' and single spaces, and must start "
            f"and end with a letter or digit, got {raw!r}"
        )
    if name_key(name) in _RESERVED_KEYS:
        raise InvalidName(f"the name {name!r} is reserved")
    return name
