"""Text that players type and others see."""

import unicodedata


def strip_control(text: str) -> str:
    """Drop control and format characters (newlines, bidi overrides, zero-width joiners ...)
    and surrounding space, so nobody can break or disguise what others read."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
