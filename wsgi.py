"""WSGI entry point: ``app`` and ``socketio`` for gunicorn and ``flask --app wsgi``."""

import os

if os.environ.get("SOCKETIO_ASYNC_MODE", "").lower() == "gevent":
    # Patch the standard library before anything else imports it.
    from gevent import monkey

    monkey.patch_all()

from admin_app import create_app  # noqa: E402
from admin_app.extensions import socketio  # noqa: E402

app = create_app()

__all__ = ["app", "socketio"]
