"""Rooms: made by hand, joined by code, listed when public, started by the host."""

from __future__ import annotations

import secrets
from typing import Any

from gameserver.protocol import ErrorCode
from gameserver.protocol import lobby as lp
from lobby.matchmaker.base import LobbyBase
from lobby.matchmaker.model import (
    Outbox,
    PendingMatch,
    Room,
    lobby_error,
)
from lobby.matchmaker.pairing import (
    balance,
)


class RoomsMixin(LobbyBase):
    def room_view(self, room: Room | None, *, members: bool = True) -> dict[str, Any] | None:
        if room is None:
            return None
        view: dict[str, Any] = {
            "code": room.code,
            "mode": room.mode,
            "game": room.game,
            "max": room.max,
            "count": len(room.members),
            "host": self.ref(room.host),
            "public": room.public,
            "locked": bool(room.password),
        }
        if members:
            view["members"] = [self.ref(m) for m in room.members]
        return view

    def public_rooms(self) -> list[dict[str, Any]]:
        rooms = [r for r in self.rooms.values() if r.public and len(r.members) < r.max]
        return [v for r in rooms[: self.config.list_max] if (v := self.room_view(r, members=False))]

    def list_event(self, room: Room, event: str, out: Outbox) -> None:
        if room.public:
            view = self.room_view(room, members=False)
            assert view is not None
            out.everyone(lp.room_listed_message(event=event, room=view))

    def tell_room(self, room: Room, out: Outbox) -> None:
        message = lp.room_message(self.room_view(room))
        for member in room.members:
            out.user(member, message)

    def room_create(
        self,
        *,
        user_id: int,
        mode: str,
        max_players: int,
        public: bool,
        password: str,
        now: float,
        game: str | None = None,
    ) -> Outbox:
        """``game``: what the room plays (a registered game); None: its mode's game."""
        out = Outbox()
        spec = self.config.modes.get(mode)
        if spec is None:
            raise lobby_error(ErrorCode.BAD_SHAPE, f"unknown mode {mode!r}")
        info = self.config.games.get(spec.game if game is None else game)
        if info is None:
            raise lobby_error(
                ErrorCode.BAD_SHAPE, f"unknown game {game!r} (games: {', '.join(self.config.games)})"
            )
        if spec.has_teams and not info.teams:
            raise lobby_error(ErrorCode.BAD_SHAPE, f"{info.name!r} is not played in teams, as {mode!r} is")
        low, high = self.config.room_limits(spec, info)
        if not low <= max_players <= high:
            raise lobby_error(
                ErrorCode.BAD_SHAPE,
                f"a {mode!r} room of {info.name!r} takes {low}..{high} players, got {max_players!r}",
            )
        self.require_idle([user_id], "create a room")
        code = "".join(secrets.choice(lp.ROOM_CODE_CHARS) for _ in range(lp.ROOM_CODE_LEN))
        while code in self.rooms:
            code = "".join(secrets.choice(lp.ROOM_CODE_CHARS) for _ in range(lp.ROOM_CODE_LEN))
        room = Room(
            code=code,
            host=user_id,
            mode=mode,
            max=max_players,
            public=public,
            password=password,
            members=[user_id],
            game=info.name,
        )
        self.rooms[code] = room
        self.room_of[user_id] = code
        self.tell_room(room, out)
        self.list_event(room, lp.ROOM_CREATED, out)
        return out

    def room_join(self, *, user_id: int, code: str, password: str, now: float) -> Outbox:
        out = Outbox()
        room = self.rooms.get(code.strip().upper())
        if room is None:
            raise lobby_error(ErrorCode.NO_SUCH_ROOM, f"no room {code!r}")
        if user_id in room.members:
            raise lobby_error(ErrorCode.IN_ROOM, "you are already in this room")
        if room.password and not secrets.compare_digest(room.password.encode(), password.encode()):
            raise lobby_error(ErrorCode.WRONG_PASSWORD, f"wrong password for room {room.code!r}")
        if len(room.members) >= room.max:
            raise lobby_error(ErrorCode.ROOM_FULL, f"room {room.code!r} is full ({room.max} players)")
        self.require_idle([user_id], "join a room")
        room.members.append(user_id)
        self.room_of[user_id] = room.code
        self.tell_room(room, out)
        self.list_event(room, lp.ROOM_FILLED if len(room.members) >= room.max else lp.ROOM_UPDATED, out)
        return out

    def room_leave(self, *, user_id: int, now: float) -> Outbox:
        out = Outbox()
        if user_id not in self.room_of:
            raise lobby_error(ErrorCode.NOT_IN_ROOM, "you are not in a room")
        self.room_remove(user_id, out)
        return out

    def room_remove(self, user_id: int, out: Outbox) -> None:
        room = self.rooms[self.room_of.pop(user_id)]
        was_full = len(room.members) >= room.max
        room.members.remove(user_id)
        out.user(user_id, lp.room_message(None))
        if not room.members:
            del self.rooms[room.code]
            self.list_event(room, lp.ROOM_CLOSED, out)
            return
        if room.host == user_id:
            room.host = room.members[0]
        self.tell_room(room, out)
        # A full room is not in the open list: coming back into it is a "created" for clients.
        self.list_event(room, lp.ROOM_CREATED if was_full else lp.ROOM_UPDATED, out)

    def room_start(self, *, user_id: int, ratings: dict[int, int], now: float) -> Outbox:
        """``ratings``: the room members' ratings in the room's mode, to balance teams."""
        out = Outbox()
        room = self.rooms.get(self.room_of.get(user_id, ""))
        if room is None:
            raise lobby_error(ErrorCode.NOT_IN_ROOM, "you are not in a room")
        if room.host != user_id:
            raise lobby_error(ErrorCode.NOT_ROOM_HOST, "only the host can start the match")
        spec = self.config.modes[room.mode]
        low = self.config.room_limits(spec, self.config.games[room.game])[0]
        count = len(room.members)
        if count < low or (spec.has_teams and count % spec.teams):
            need = f"at least {low} players"
            if spec.has_teams:
                need += " in teams of equal size" if spec.teams > 2 else ", an even number"
            raise lobby_error(
                ErrorCode.NOT_ENOUGH_PLAYERS, f"a {room.mode!r} match needs {need}, the room has {count}"
            )
        teams = balance(room.members, ratings, spec.teams) if spec.has_teams else [[m] for m in room.members]
        del self.rooms[room.code]
        for member in room.members:
            del self.room_of[member]
            out.user(member, lp.room_message(None))
        self.list_event(room, lp.ROOM_STARTED, out)
        out.matches.append(
            PendingMatch(
                source="room",
                key=room.code,
                mode=room.mode,
                teams=teams,
                names={m: self.ref(m)["n"] for m in room.members},
                game=room.game,
            )
        )
        return out
