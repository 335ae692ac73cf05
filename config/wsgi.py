import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

if settings.TRUSTED_PROXY_COUNT:
    from werkzeug.middleware.proxy_fix import ProxyFix

    # REMOTE_ADDR becomes the address the first trusted proxy saw (X-Forwarded-For).
    application = ProxyFix(application, x_for=settings.TRUSTED_PROXY_COUNT)
