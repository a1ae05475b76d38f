"""Names of the Locust request entries the locustfile reports, importable without Locust (and
so without gevent's monkey-patching), for the smoke test and anyone reading the CSV."""

# The Type column: where it happened (HTTP calls show their method, POST).
LOBBY = "lobby"
MATCH = "match"

TOKEN = "token"
LOGOUT = "logout"
LOBBY_CONNECT = "lobby connect"
MATCHMAKING_WAIT = "matchmaking wait"
READY_TO_START = "ready-to-start"
MATCH_JOIN = "match join"
INPUT_TO_STATE = "input-to-state"
FRAMES_PER_SECOND = "frames per second"
MATCH_DURATION = "match duration"
BACK_TO_LOBBY = "back to lobby"
PARTY_INVITE = "party invite"
PARTY_ACCEPT = "party accept"
ROOM_CREATE = "room create"
ROOM_JOIN = "room join"
ROOM_START = "room start"
CHAT = "chat round trip"
LOBBY_PING = "lobby ping"
# Failures only, of no one step: a socket's error message or unexpected close, and frames that
# never arrived (a failure there would drag the frame-rate figures of `frames per second` to 0).
LOBBY_SOCKET = "lobby socket"
MATCH_SOCKET = "match socket"
FRAME_GAPS = "frame gaps"
# Faults only: a socket that dropped and came back. ``match resume``: from the drop to the
# resumed snapshot, its size the ticks whose frames never arrived; ``match over while away``: the
# match ended before the seat got back (its size likewise); ``lobby resume``: from the drop to
# the new socket's ``welcome``. A resume that fails is a failure of these names.
MATCH_RESUME = "match resume"
MATCH_OVER_AWAY = "match over while away"
LOBBY_RESUME = "lobby resume"

# Every entry a clean mixed run produces (the CI smoke test checks each has a count).
STEPS = (
    ("POST", TOKEN),
    ("POST", LOGOUT),
    (LOBBY, LOBBY_CONNECT),
    (LOBBY, MATCHMAKING_WAIT),
    (LOBBY, READY_TO_START),
    (LOBBY, BACK_TO_LOBBY),
    (LOBBY, PARTY_INVITE),
    (LOBBY, PARTY_ACCEPT),
    (LOBBY, ROOM_CREATE),
    (LOBBY, ROOM_JOIN),
    (LOBBY, ROOM_START),
    (LOBBY, CHAT),
    (LOBBY, LOBBY_PING),
    (MATCH, MATCH_JOIN),
    (MATCH, INPUT_TO_STATE),
    (MATCH, FRAMES_PER_SECOND),
    (MATCH, MATCH_DURATION),
)

# Entries only a fault produces (a cut connection, a restarted server): none in a clean run.
FAULT_STEPS = (
    (MATCH, MATCH_RESUME),
    (MATCH, MATCH_OVER_AWAY),
    (LOBBY, LOBBY_RESUME),
)
