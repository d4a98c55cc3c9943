"""The Flask admin app: ``create_app(settings)`` builds one with its services bound."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from admin_app.extensions import socketio
from services.runtime import Services, build_services
from services.settings import Settings, get_settings

EXTENSION_KEY = "switchboard"


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Application factory: settings from the environment unless given (tests give them)."""
    settings = settings or get_settings()
    services = services or build_services(settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions[EXTENSION_KEY] = services

    socketio.init_app(
        app,
        async_mode=settings.socketio_async_mode,
        message_queue=settings.socketio_message_queue,
    )

    from admin_app import api, cli, health

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    api.register_error_pages(app)
    cli.register(app)
    return app


def _secret_key(settings: Settings) -> str:
    """SECRET_KEY if set; otherwise one generated once and kept in ``instance/``."""
    if settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path = Path(settings.secret_key_file)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def get_services() -> Services:
    """The services bound to the current app."""
    from flask import current_app

    return current_app.extensions[EXTENSION_KEY]
