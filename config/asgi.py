"""The production entry point (issue 22): gunicorn with uvicorn workers (config/workers.py)."""

import asyncio
import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()


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


class BoundedViews:
    """At most ``limit`` requests of this worker inside Django's views at once, as gthread's
    threads bounded them: each holds a database connection until its answer starts. Django runs
    synchronous views in a thread per request under ASGI, so without this bound a burst (every
    open page reconnecting after a deploy) would open a PostgreSQL connection per request. A live
    connection leaves the bound when its stream starts (it has released its database connection).
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        semaphore = self._semaphore
        await semaphore.acquire()
        held = True

        async def send_and_release(message):
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                semaphore.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if held:
                semaphore.release()


application = BoundedViews(django_application, settings.ASGI_CONCURRENT_VIEWS)
if settings.TRUSTED_PROXY_COUNT:
    application = TrustedProxies(application, settings.TRUSTED_PROXY_COUNT)
