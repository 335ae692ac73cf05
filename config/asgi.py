"""The production entry point (issue 22): gunicorn with uvicorn workers (config/workers.py)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()


class TrustedProxies:
    """Behind TRUSTED_PROXY_COUNT proxies the client's address is the one the first trusted
    proxy saw in X-Forwarded-For (as werkzeug's ProxyFix does for config/wsgi.py)."""

    def __init__(self, app, count: int):
        self.app, self.count = app, count

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
            addresses = [a.strip() for a in ",".join(values).split(",") if a.strip()]
            if len(addresses) >= self.count:
                scope = {**scope, "client": (addresses[-self.count], 0)}
        await self.app(scope, receive, send)


if settings.TRUSTED_PROXY_COUNT:
    application = TrustedProxies(application, settings.TRUSTED_PROXY_COUNT)
