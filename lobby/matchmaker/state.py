"""The lobby's shared state, owned by the matchmaker: presence, parties, queues, ready checks,
rooms. Pure and synchronous: every command returns an ``Outbox`` of messages to send and
matches to create; the worker performs them. One owner, commands applied one at a time, so no
player can be in two queues, checks or matches at once: every move checks ``status_of`` first.
"""

from lobby.matchmaker.model import LobbyConfig, LobbyError, Outbox, PendingMatch
from lobby.matchmaker.parties import PartiesMixin
from lobby.matchmaker.presence import PresenceMixin
from lobby.matchmaker.queues import QueuesMixin
from lobby.matchmaker.rooms import RoomsMixin

__all__ = ["Lobby", "LobbyConfig", "LobbyError", "Outbox", "PendingMatch"]


class Lobby(PresenceMixin, PartiesMixin, QueuesMixin, RoomsMixin):
    """Every command takes ``now`` (seconds, monotonic) and returns an Outbox."""
