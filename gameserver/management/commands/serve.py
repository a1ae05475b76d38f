"""``manage.py serve``: the game (HTTP + WebSocket) under Daphne or uvicorn, with the tick
worker and the matchmaker in-process.

This is what ``make run`` starts. The in-memory channel layer only reaches its own process,
so the embedded mode must host the workers here; it uses exactly the code ``runworker``
uses (channels' Worker feeding the ChannelNameRouter of the same ASGI application). The
application is server-agnostic: ``--server uvicorn`` serves the same one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gameserver.edge.shutdown import GracefulStop
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL

log = logging.getLogger(__name__)

# The server's own cap on a WebSocket message (above it the server drops the connection); our
# protocol limit is far lower and is answered with an error message, so the gap between the two
# is where that happens.
SERVER_MAX_MESSAGE_BYTES = 64 * 1024


def finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running on the stopped loop and let it unwind, then close the loop.

    A task left pending at interpreter exit is collected during finalization; on CPython 3.11
    before 3.11.8 its "destroyed but pending" report can touch asyncio's C state after it was
    cleared and crash the process (python/cpython#113566: a SIGSEGV on SIGTERM under load).
    """
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


class Command(BaseCommand):
    help = "Serve the game (HTTP + WebSocket), hosting the tick worker and matchmaker in-process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
        parser.add_argument("--port", type=int, default=8000, help="port to bind (0: any free port)")
        parser.add_argument(
            "--server",
            choices=["daphne", "uvicorn"],
            default=settings.SERVE_SERVER,
            help="ASGI server (default: SERVE_SERVER, daphne)",
        )
        parser.add_argument(
            "--loop",
            choices=["asyncio", "uvloop"],
            default=settings.SERVE_LOOP,
            help="uvicorn's event loop (default: SERVE_LOOP); Daphne always runs Twisted's asyncio loop",
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help=(
                "behind a reverse proxy: believe its X-Forwarded-For for the client address (from"
                " TRUSTED_PROXIES, or from 127.0.0.1 and ::1 when that is empty)"
            ),
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=(
                "do not host the tick worker and matchmaker (run `manage.py runworker match-tick` and"
                " `manage.py runworker matchmaker` instead; Redis only)"
            ),
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        server: str,
        loop: str,
        no_worker: bool,
        proxy_headers: bool,
        **options: Any,
    ) -> None:
        if proxy_headers and not settings.TRUSTED_PROXIES:
            settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]  # the proxy on this machine
        embedded = settings.EMBEDDED_WORKER and not no_worker
        if not embedded and not settings.REDIS_URL:
            raise CommandError("without REDIS_URL the tick worker must run in this process")
        if loop == "uvloop" and server == "uvicorn":
            import uvloop

            # Daphne's Twisted reactor got its (asyncio) loop when Django loaded the daphne app,
            # before any command runs: the loop setting is uvicorn's only.
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        self.embedded = embedded
        interface = host.strip("[]")
        if server == "uvicorn":
            asyncio.run(self.serve_uvicorn(interface, port))
        else:
            self.serve_daphne(interface, port, verbosity=int(options.get("verbosity", 1)))

    def start_workers(self) -> None:
        """Host the named-channel workers on this loop (channels' Worker, made to outlive a
        failing channel layer: gameserver/edge/liveness.py)."""
        if not self.embedded:
            return
        from channels.layers import get_channel_layer
        from channels.routing import get_default_application

        from gameserver.edge.liveness import ResilientWorker

        layer = get_channel_layer()
        if layer is None:
            raise CommandError("CHANNEL_LAYERS is not configured")
        worker = ResilientWorker(
            application=get_default_application(),
            channels=[TICK_CHANNEL, MATCHMAKER_CHANNEL],
            channel_layer=layer,
        )
        # Keep a reference: the loop holds tasks only weakly.
        self.worker_task = asyncio.ensure_future(worker.arun())

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def announce(self, server: str, interface: str, port: int) -> None:
        shown = f"[{interface}]" if ":" in interface else interface
        running = type(asyncio.get_event_loop_policy().get_event_loop()).__module__
        loop = "uvloop" if running.startswith("uvloop") else "asyncio"  # the loop really in use
        layer_name = "redis" if settings.REDIS_URL else "in-memory"
        where = "in this process" if self.embedded else "external (runworker)"
        self.stdout.write(
            f"Game server running at http://{shown}:{port}/ "
            f"(channel layer: {layer_name}, tick worker and matchmaker: {where}, {settings.TICK_HZ} Hz, "
            f"{server} on {loop})"
        )
        self.stdout.flush()

    def serve_daphne(self, interface: str, port: int, *, verbosity: int) -> None:
        # Importing daphne.server installs Twisted's asyncio reactor: do it here, not at import.
        from channels.routing import get_default_application
        from daphne.server import Server

        from gameserver.edge import servers

        servers.quiet_autobahn()
        servers.direct_twisted_writes()
        servers.small_frame_unmasking()
        servers.unobserved_messages()
        servers.websocket_close_options()
        servers.request_deadlines(settings.HTTP_REQUEST_TIMEOUT)
        server: Server

        def ready() -> None:
            GracefulStop(self.say, server.stop).install(asyncio.get_event_loop())
            self.start_workers()
            bound = server.listening_addresses[0][1] if server.listening_addresses else port
            self.announce("daphne", interface, bound)

        endpoint = f"tcp:port={port}:interface={interface.replace(':', chr(92) + ':')}"
        server = Server(
            application=get_default_application(),
            endpoints=[endpoint],
            ready_callable=ready,
            signal_handlers=False,  # ours: GracefulStop
            websocket_max_message_size=SERVER_MAX_MESSAGE_BYTES,
            websocket_max_frame_size=SERVER_MAX_MESSAGE_BYTES,
            verbosity=verbosity,
        )
        server.run()
        finish_tasks(asyncio.get_event_loop())
        if not server.listening_addresses:  # Daphne logged the listen failure and stopped
            raise CommandError(f"cannot listen on {interface}:{port} (is the port in use?)")

    async def serve_uvicorn(self, interface: str, port: int) -> None:
        import uvicorn
        from channels.routing import get_default_application

        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((interface, port))
        except OSError as exc:
            raise CommandError(f"cannot listen on {interface}:{port}: {exc}") from None
        config = uvicorn.Config(
            get_default_application(),
            lifespan="off",
            http="httptools",
            ws="websockets-sansio",
            ws_max_size=SERVER_MAX_MESSAGE_BYTES,
            proxy_headers=False,  # ours: gameserver/edge/clients.py, with TRUSTED_PROXIES
            ws_per_message_deflate=False,  # no compression oracle or bomb; msgpack barely shrinks
            timeout_keep_alive=settings.HTTP_REQUEST_TIMEOUT,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        stop = GracefulStop(self.say, lambda: setattr(server, "should_exit", True))
        loop = asyncio.get_running_loop()

        def handle_exit(signum: int, frame: Any) -> None:  # uvicorn's signal handler, replaced
            loop.call_soon_threadsafe(stop, signum)

        server.handle_exit = handle_exit  # type: ignore[method-assign,assignment]
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.05)
        if server.started:
            self.start_workers()
            self.announce("uvicorn", interface, sock.getsockname()[1])
        await serving
