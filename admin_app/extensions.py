"""Flask extensions, created here and bound to an app in ``create_app``."""

from functools import partial

from flask import Flask
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
# The blueprints whose views declare a limit of this limiter (see ``scope_limiter``). A
# test checks that each limited view's blueprint is listed here.
LIMITED_BLUEPRINTS = frozenset({"account"})


def scope_limiter(app: Flask, limiter: Limiter, blueprints: frozenset[str]) -> None:
    """Run ``limiter``'s request hooks only for requests of ``blueprints``.

    Flask-Limiter hooks every request of the app: before it (resolve the limits, build a
    per-request context), after it (rate-limit headers) and at teardown. Ours declare no
    default limits, only limits on views of a few blueprints, so for every other request
    (a Messenger webhook, the JSON API, the admin pages) that is work for nothing: about
    a tenth of a trivial request's CPU with our two limiters, even with a request filter
    that says "nothing to limit" (it is asked only after that work). Flask calls the hooks
    it keeps under a blueprint's name only for that blueprint's requests, so the limiter's
    three hooks move there, first in each list: a limited request runs them as before. Call
    it once, after ``limiter.init_app(app)``."""
    def owned(hook) -> bool:  # a bound method of the limiter, or a partial given it first
        if isinstance(hook, partial):
            return bool(hook.args) and hook.args[0] is limiter
        return getattr(hook, "__self__", None) is limiter

    hooks = {"before": app.before_request_funcs, "after": app.after_request_funcs,
             "teardown": app.teardown_request_funcs}
    for kind, funcs in hooks.items():
        mine = [hook for hook in funcs.get(None, []) if owned(hook)]
        if len(mine) != 1:  # Flask-Limiter registers one of each in init_app
            raise RuntimeError(f"Flask-Limiter's {kind}-request hook not found once on the "
                               f"app ({len(mine)}): has its init_app changed?")
        funcs[None].remove(mine[0])
        for name in blueprints:
            funcs.setdefault(name, []).insert(0, mine[0])
