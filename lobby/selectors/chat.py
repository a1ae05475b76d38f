"""Lobby chat reads."""

from __future__ import annotations

from typing import Any

from lobby.models import ChatMessage
from lobby.services.chat import chat_wire


def chat_history(*, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` messages, oldest first (as a client shows them)."""
    recent = list(ChatMessage.objects.order_by("-id")[:limit])
    return [chat_wire(m) for m in reversed(recent)]
