"""The process's metrics (prometheus-client): what the edge counts instead of dying of it."""

from __future__ import annotations

from prometheus_client import Counter

HANDLER_ERRORS = Counter(
    "gameserver_handler_errors_total",
    "Handlers that raised; the socket was closed 1011 and cleaned up.",
    ["consumer", "event"],
)
SEND_ERRORS = Counter(
    "gameserver_send_errors_total",
    "Writes to a socket that was already closing or gone.",
    ["consumer"],
)
LAYER_ERRORS = Counter(
    "gameserver_layer_errors_total",
    "Channel-layer operations that failed (ChannelFull, connection errors), by where.",
    ["where", "error"],
)
FRAMES_RELAYED = Counter(
    "gameserver_frames_relayed_total", "Frames written to local sockets by this process's relays."
)
FRAME_RESYNCS = Counter(
    "gameserver_frame_resyncs_total", "Sockets that saw a gap (or fell behind) and asked for a snapshot."
)
INPUT_BATCHES = Counter(
    "gameserver_input_batches_total", "Input batches sent to match owners (one per match per tick at most)."
)
FLOOD_CLOSES = Counter(
    "gameserver_flood_closes_total", "Sockets closed for flooding or for too many protocol errors.", ["code"]
)


def layer_error(where: str, exc: BaseException) -> None:
    """Count a layer failure under a short, bounded label set (the exception's class name)."""
    LAYER_ERRORS.labels(where=where, error=type(exc).__name__).inc()
