"""Flask extensions, created here and bound to an app in ``create_app``."""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

socketio = SocketIO()
login_manager = LoginManager()
# CSRF is checked where a browser session authenticates a change (the admin pages, and
# the JSON API when it is called with the session cookie): see ``admin_app.auth``.
# Webhooks and token-authenticated calls carry no ambient credential to forge.
csrf = CSRFProtect()
# No default limits: each view that needs one says so (the login form, the web chat).
limiter = Limiter(key_func=get_remote_address)
# The blueprints whose views declare a limit of this limiter. Every other request (a
# Messenger webhook above all, the JSON API) skips resolving limits it does not have, which
# took about 4% of a web process's CPU under webhook load (half of that is left: the
# limiter's hook itself). A test checks that each limited view's blueprint is listed here.
LIMITED_BLUEPRINTS = frozenset({"account"})


@limiter.request_filter
def _nothing_to_limit() -> bool:
    return request.blueprint not in LIMITED_BLUEPRINTS
