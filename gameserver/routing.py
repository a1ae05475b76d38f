"""WebSocket URL routes and the named worker channels, in one place."""

from typing import Any

from django.urls import path, re_path

from gameserver.consumers import UnknownRouteConsumer
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL
from lobby.consumers import LobbyConsumer
from lobby.matchmaker.worker import MatchmakerConsumer
from match.consumers import MatchConsumer
from match.worker import TickWorkerConsumer

# django-stubs types path() for views only; Channels' URLRouter takes ASGI apps the same way.
websocket_urlpatterns: list[Any] = [
    path("ws/lobby/", LobbyConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/match/<uuid:match_id>/", MatchConsumer.as_asgi()),  # type: ignore[arg-type]
    re_path(r"", UnknownRouteConsumer.as_asgi()),  # type: ignore[arg-type]
]

worker_channels: dict[str, Any] = {
    TICK_CHANNEL: TickWorkerConsumer.as_asgi(),
    MATCHMAKER_CHANNEL: MatchmakerConsumer.as_asgi(),
}
