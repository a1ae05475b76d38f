"""ASGI entry point: one ProtocolTypeRouter for HTTP, WebSocket and worker channels.

``daphne gameserver.asgi:application`` serves it; ``manage.py serve`` (what ``make run``
starts) also hosts the tick worker in the same process.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")
# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from gameserver.edge.middleware import ServerSendMiddleware  # noqa: E402
from gameserver.routing import websocket_urlpatterns, worker_channels  # noqa: E402
from lobby.auth import TokenAuthMiddleware  # noqa: E402

http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": ServerSendMiddleware(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
        "channel": ChannelNameRouter(worker_channels),
    }
)
