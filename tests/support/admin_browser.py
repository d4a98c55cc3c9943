"""What the admin panel's browser tests share: one live server per test module (gunicorn,
SQLite, the Graph API stand-in behind Messenger), accounts, and signing a page in."""

from __future__ import annotations

import itertools
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.simulate import MessengerUser, Server, WebchatVisitor
from tests.browser.conftest import SCREENSHOTS
from tests.support.admin import PASSWORD
from tests.support.graph_stub import GraphStub, start_graph_stub
from tests.support.live_server import LiveServer

APP_SECRET = "browser-test-app-secret"
ADMINS = ("ann@example.com", "bob@example.com")
AGENT = "carl@example.com"
_people = itertools.count(1)


@dataclass
class AdminSite:
    """The running product and its Graph API stand-in."""

    server: LiveServer
    graph: GraphStub

    @property
    def url(self) -> str:
        return self.server.url

    def messenger_user(self, psid: str | None = None) -> MessengerUser:
        return MessengerUser(Server(self.url, APP_SECRET), psid or f"psid-{next(_people)}")

    def visitor(self, name: str) -> WebchatVisitor:
        return WebchatVisitor(Server(self.url), name)


@contextmanager
def running_site(tmp: Path, **settings: str):
    """The product on gunicorn, SQLite and the Graph API stand-in, with two admins and an
    agent; ``settings``: environment variables beside the usual ones (``AUTO_ASSIGN``)."""
    graph, httpd, thread = start_graph_stub()
    env = {
        "HOME": str(tmp),
        "DATABASE_PATH": str(tmp / "admin.db"),
        "SECRET_KEY_FILE": str(tmp / "secret"),
        "RESPONDER": "faq",
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": graph.token,
        "GRAPH_API_BASE": graph.base_url,
        "GRAPH_API_VERSION": graph.version,
        "ADMIN_STATS_INTERVAL_SECONDS": "1",
        "CHAT_SESSION_RATE_LIMIT": "1000/minute",
        # A module's tests sign in more than the default 10 times a minute, from one address
        # and mostly as one account (the limit itself: tests/unit/test_admin_auth.py).
        "LOGIN_RATE_LIMIT": "1000 per minute",
        **settings,
    }
    server = LiveServer(env, log_path=tmp / "server.log").start()
    try:
        for email, role in [(ADMINS[0], "admin"), (ADMINS[1], "admin"), (AGENT, "agent")]:
            made = server.flask("users", "create", email, "--role", role, "--password-stdin",
                                stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr
        yield AdminSite(server, graph)
    finally:
        server.stop()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("admin-site")) as running:
        yield running


def sign_in(page, site: AdminSite, email: str = ADMINS[0], password: str = PASSWORD) -> None:
    """Sign ``page`` in through the login form and wait for the inbox to be live."""
    page.goto(site.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_selector("body[data-ready=inbox]")
    page.wait_for_selector("#live-status[data-state=connected]")


def open_conversation(page, site: AdminSite, conversation_id: int) -> None:
    page.goto(f"{site.url}/conversations/{conversation_id}")
    page.wait_for_selector("body[data-ready=conversation]")
    page.wait_for_selector("#live-status[data-state=connected]")


@contextmanager
def two_admins_on(page, browser, site: AdminSite, conversation_id: int):
    """``page`` signed in as the first admin and a second browser as the other, both on the
    conversation page; yields the second page (closed after)."""
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(page, site, ADMINS[0])
        sign_in(other, site, ADMINS[1])
        open_conversation(page, site, conversation_id)
        open_conversation(other, site, conversation_id)
        yield other
    finally:
        other.context.close()


def wait_until(page, expression: str, arg=None, timeout: float = 10.0) -> None:
    """Until the page's JS ``expression`` (a function of ``arg``) is truthy. Polled from
    here: ``page.wait_for_function`` polls by evaluating a string in the page, which the
    app's Content-Security-Policy forbids, so a condition not true at once was an error."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.05)


def page_api(page, method: str, path: str, json=None):
    """Call the admin API from a signed-in page, as its scripts do (session and CSRF token);
    the answer's JSON, or the page's error thrown."""
    return page.evaluate("""([method, path, json]) => import("/static/js/common.js")
        .then(({ api }) => api(path, json === null ? { method } : { method, json }))""",
                         [method, path, json])


def screenshot(page, name: str) -> None:
    """Save a screenshot of a page the ``page`` fixture does not own (a second browser)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"),
                    full_page=True)
