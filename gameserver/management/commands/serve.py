"""``manage.py serve``: Daphne serving HTTP and WebSocket, with the tick worker and the matchmaker
in-process.

This is what ``make run`` starts. The in-memory channel layer only reaches its own process,
so the embedded mode must host the worker here; it uses exactly the code ``runworker``
uses (channels' Worker feeding the ChannelNameRouter of the same ASGI application).
"""

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL

log = logging.getLogger(__name__)

# Daphne's own cap (above it Daphne drops the connection); our protocol limit is far lower and
# is answered with an error message, so the gap between the two is where that happens.
DAPHNE_MAX_MESSAGE_BYTES = 64 * 1024


class Command(BaseCommand):
    help = "Serve the game (HTTP + WebSocket) with Daphne, hosting the tick worker and matchmaker in-process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
        parser.add_argument("--port", type=int, default=8000, help="port to bind (0: any free port)")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=(
                "do not host the tick worker and matchmaker (run `manage.py runworker match-tick` and"
                " `manage.py runworker matchmaker` instead; Redis only)"
            ),
        )

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        # Importing daphne.server installs Twisted's asyncio reactor: do it here, not at import.
        from channels.layers import get_channel_layer
        from channels.routing import get_default_application
        from channels.worker import Worker
        from daphne.server import Server

        application = get_default_application()
        layer = get_channel_layer()
        if layer is None:
            raise CommandError("CHANNEL_LAYERS is not configured")
        embedded = settings.EMBEDDED_WORKER and not no_worker
        if not embedded and not settings.REDIS_URL:
            raise CommandError("without REDIS_URL the tick worker must run in this process")
        interface = host.strip("[]")
        server: Server

        def ready() -> None:
            if embedded:
                worker = Worker(
                    application=application, channels=[TICK_CHANNEL, MATCHMAKER_CHANNEL], channel_layer=layer
                )
                # Keep a reference: the loop holds tasks only weakly.
                self.worker_task = asyncio.ensure_future(worker.arun())
            bound = server.listening_addresses[0][1] if server.listening_addresses else port
            shown = f"[{interface}]" if ":" in interface else interface
            layer_name = "redis" if settings.REDIS_URL else "in-memory"
            where = "in this process" if embedded else "external (runworker)"
            self.stdout.write(
                f"Game server running at http://{shown}:{bound}/ "
                f"(channel layer: {layer_name}, tick worker and matchmaker: {where}, {settings.TICK_HZ} Hz)"
            )
            self.stdout.flush()

        endpoint = f"tcp:port={port}:interface={interface.replace(':', chr(92) + ':')}"
        server = Server(
            application=application,
            endpoints=[endpoint],
            ready_callable=ready,
            websocket_max_message_size=DAPHNE_MAX_MESSAGE_BYTES,
            websocket_max_frame_size=DAPHNE_MAX_MESSAGE_BYTES,
            verbosity=int(options.get("verbosity", 1)),
        )
        server.run()
