"""The Flask admin app: ``create_app(settings)`` builds one with its services bound."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_app.extensions import (
    LIMITED_BLUEPRINTS, csrf, limiter, login_manager, scope_limiter, socketio,
)
from admin_app import live_queue
from admin_app.http_security import init_security
from admin_app.websocket_compression import DeclineWebSocketCompression
from services import log_redaction
from services.runtime import Services, build_services
from services.settings import Settings, get_settings

EXTENSION_KEY = "switchboard"


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Application factory: settings from the environment unless given (tests give them)."""
    settings = settings or get_settings()
    secret_key = _secret_key(settings)
    # Before anything else logs: no record of this process may carry a configured secret.
    log_redaction.install([secret_key, *settings.secret_values()])
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    services = services or build_services(settings)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_NAME="switchboard_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        # CSRF is enforced by the admin blueprints themselves (admin_app.auth), so
        # webhooks and the web chat's token-authenticated endpoints are not caught by it.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session: pages stay open
        WTF_CSRF_SSL_STRICT=settings.session_cookie_secure or settings.force_https,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.extensions[EXTENSION_KEY] = services
    init_security(app, settings)  # headers and cookie flags (admin_app.http_security)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    # Redis: publishes pipelined (admin_app.live_queue); another queue URL: Flask-SocketIO's
    # own choice. A manager left by an app built earlier in this process (tests) goes.
    socketio.server_options.pop("client_manager", None)
    manager = live_queue.client_manager(settings.socketio_message_queue)
    socketio.init_app(
        app,
        async_mode=settings.socketio_async_mode,
        message_queue=settings.socketio_message_queue,
        **({"client_manager": manager} if manager is not None else {}),
    )

    from admin_app import account, api, cli, files, health, live, pages, settings_page
    # Their routes join api.bp:
    from admin_app import (  # noqa: F401
        api_actions,
        api_hours,
        api_saved_replies,
        api_suggestions,
        export,
    )
    from channels import messenger, webchat
    from channels.webchat import ratelimit as webchat_ratelimit

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(settings_page.bp)
    app.register_blueprint(files.bp)
    live.register(socketio, services)
    app.context_processor(live.store_status_context)  # the "store unavailable" banner
    app.context_processor(live.hours_context)  # the "Away" pill outside business hours
    messenger.init_app(app)  # the webhook, and the Send API sender when configured
    webchat.init_app(app, socketio)  # the widget, /chat namespace and its sender
    # Each limiter's hooks run only for the blueprints with its limits (not the webhook).
    scope_limiter(app, limiter, LIMITED_BLUEPRINTS)
    scope_limiter(app, webchat_ratelimit.limiter, webchat_ratelimit.LIMITED_BLUEPRINTS)
    api.register_error_pages(app)
    cli.register(app)
    if not settings.socketio_websocket_compression:
        app.wsgi_app = DeclineWebSocketCompression(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxy_hops:
        # Outermost, so Socket.IO's requests see the client's address, scheme and host too.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxy_hops,
            x_proto=settings.trusted_proxy_hops,
            x_host=settings.trusted_proxy_hops,
        )
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
