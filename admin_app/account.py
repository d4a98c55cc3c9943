"""Signing in and out of the admin panel (Flask-Login sessions, throttled login attempts)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user as session_user
from flask_login import login_user, logout_user

from admin_app import get_services
from admin_app.auth import SessionUser
from admin_app.extensions import limiter
from admin_app.forms import LoginForm
from admin_app.security import hash_password, verify_password
from admin_app.web import admin_pages

bp = admin_pages(Blueprint("account", __name__))

# Compared against when the e-mail is unknown, so a wrong e-mail costs the same time as a
# wrong password and response times do not tell which accounts exist.
_DUMMY_HASH = hash_password("not a real password")


def _login_limit() -> str:
    return get_services().settings.login_rate_limit


def _submitted_email() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("pages.inbox")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=get_remote_address,
               scope="login-address")
@limiter.limit(_login_limit, methods=["POST"], key_func=_submitted_email, scope="login-email")
def login():
    """The login form; a good e-mail and password start a session."""
    form = LoginForm()
    if request.method == "GET":
        if session_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")))
        form.next.data = request.args.get("next", "")
        return render_template("login.html", form=form)
    error = None
    if form.validate_on_submit():
        services = get_services()
        user = services.store.get_user_by_email(form.email.data.strip())
        valid = verify_password(user.password_hash if user else _DUMMY_HASH, form.password.data)
        if user is not None and valid and not user.disabled:
            session.clear()  # a fresh session (and CSRF token) for the signed-in user
            login_user(SessionUser(user))
            session.permanent = True
            current_app.logger.info("login: %s", user.email)
            return redirect(safe_next(form.next.data))
        current_app.logger.warning("failed login for %r", form.email.data[:254])
        error = "Wrong e-mail or password."
    else:
        error = "Enter your e-mail and password."
    return render_template("login.html", form=form, error=error), 401


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("account.login"))


@bp.errorhandler(429)
def _too_many(exc):
    form = LoginForm()
    error = "Too many login attempts. Wait a minute and try again."
    return render_template("login.html", form=form, error=error), 429
