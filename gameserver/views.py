"""Views of the project itself (not of a game or the lobby)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gameserver.edge.liveness import readiness
from gameserver.http import page


@page("GET")
def metrics_view(request: HttpRequest) -> HttpResponse:
    """This process's counters in Prometheus' text format; loopback only unless METRICS_PUBLIC."""
    try:
        local = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        local = False
    if not (local or settings.METRICS_PUBLIC):
        return HttpResponse(status=404)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


@page("GET")
async def readyz_view(request: HttpRequest) -> HttpResponse:
    """Readiness: the channel layer answers and a tick worker and the matchmaker listen; 503
    otherwise (while Redis restarts, or with no worker running), so that a load balancer sends
    players elsewhere. /healthz only says the process is alive."""
    ready, details = await readiness()
    return JsonResponse({"ready": ready, **details}, status=200 if ready else 503)
