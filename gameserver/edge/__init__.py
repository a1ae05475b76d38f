"""The edge: what each server process owns, in one place.

A server process (Daphne or uvicorn) owns its sockets. Per process there is one relay per
channel layer (frames out: one layer message per match per tick, written straight to the
local sockets), one input batcher (inputs in: newest per seat, one message per match per
tick to the match's owner), the consumer base class every socket uses, the in-memory layer
the embedded mode runs on, and the metrics registry. Nothing else keeps per-process state.
"""
