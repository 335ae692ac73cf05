"""/healthz, /readyz (V1) and /metrics (V2), answered before the rest of the middleware.

Probes and scrapers call these by the pod's or machine's address, over plain http, without a
session: answered here they skip the host check (ALLOWED_HOSTS), the https redirect, sessions,
CSRF, sign-in throttling and the session timeout, and never touch the session store.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from . import health

PATHS = ("/healthz", "/readyz", "/metrics")


@never_cache
def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
def readyz(request):
    ready, body = health.readiness()
    return JsonResponse(body, status=200 if ready else 503)


def metrics_view(request):
    from . import metrics

    return metrics.view(request)


VIEWS = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


class OpsEndpointsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = VIEWS.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)
