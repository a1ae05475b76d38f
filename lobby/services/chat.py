"""Lobby chat writes: clean the text, keep it, hand back the wire form."""

from __future__ import annotations

from typing import Any

from gameserver.protocol import lobby as lp
from gameserver.text import strip_control
from lobby.models import ChatMessage


class EmptyChat(ValueError):
    """Nothing is left of the message once control characters and outer space are removed."""


def chat_clean(text: str) -> str:
    """The line as others will see it (``strip_control``), at most CHAT_MAX_CHARS."""
    cleaned = strip_control(text)
    if not cleaned:
        raise EmptyChat(f"chat message {text!r} is empty once control characters are removed")
    return cleaned[: lp.CHAT_MAX_CHARS]


def chat_post(*, user_id: int, name: str, text: str) -> dict[str, Any]:
    """Store one message; return it as the ``chat`` wire message."""
    message = ChatMessage.objects.create(user_id=user_id, name=name, text=chat_clean(text))
    return chat_wire(message)


def chat_wire(message: ChatMessage) -> dict[str, Any]:
    return lp.chat_message(
        message_id=message.pk,
        sender=lp.player_ref(message.user_id or 0, message.name),
        text=message.text,
        at=int(message.created_at.timestamp() * 1000),
    )
