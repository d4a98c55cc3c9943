"""Signing in and out of the admin panel in Chromium; anonymous browsers get nothing."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.admin import PASSWORD
from tests.support.admin_browser import ADMINS, sign_in, site  # noqa: F401  (fixture)


def test_wrong_password_then_login_then_logout(page, site):  # noqa: F811
    page.goto(site.url + "/")
    expect(page).to_have_url(site.url + "/login?next=/")
    page.fill("input[name=email]", ADMINS[0])
    page.fill("input[name=password]", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Wrong e-mail or password.")

    page.fill("input[name=email]", ADMINS[0])
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    expect(page.locator(".whoami")).to_have_text(ADMINS[0])
    # A first sign-in, before anyone wrote: the inbox says how conversations arrive.
    expect(page.locator("#empty-none")).to_be_visible()
    expect(page.locator("#empty-none a")).to_have_attribute("href", "/chat/demo")
    expect(page.locator("#empty-filtered")).to_be_hidden()

    page.click("#logout")
    expect(page).to_have_url(site.url + "/login")
    page.goto(site.url + "/stats")
    expect(page).to_have_url(site.url + "/login?next=/stats")


def test_anonymous_browser_is_sent_to_login_and_its_socket_refused(page, site):  # noqa: F811
    page.goto(site.url + "/conversations/1")
    expect(page).to_have_url(site.url + "/login?next=/conversations/1")
    # The page's own Socket.IO client (served by the app: the CSP allows nothing else).
    page.add_script_tag(url="/static/vendor/socket.io.min.js")
    outcome = page.evaluate("""() => new Promise((resolve) => {
        const socket = io("/admin", { reconnection: false });
        socket.on("connect", () => resolve("connected"));
        socket.on("connect_error", (err) => resolve("refused: " + err.message));
        setTimeout(() => resolve("timeout"), 8000);
    })""")
    assert outcome == "refused: authentication required"
    api = page.evaluate("() => fetch('/admin/conversations').then((r) => r.status)")
    assert api == 401


def test_the_session_socket_connects_after_login(page, site):  # noqa: F811
    sign_in(page, site, ADMINS[1])
    connected = page.evaluate("() => window.__adminSocket && window.__adminSocket.connected")
    assert connected is True


def test_every_page_loads_without_script_errors_or_policy_violations(page, site):  # noqa: F811
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" or "Content Security Policy" in msg.text else None)
    site.visitor("Paula Pages").say("What are your opening hours?")
    sign_in(page, site)
    conversation = page.locator(".conv-row").first.get_attribute("href")
    for path, ready in [(conversation, "conversation"), ("/stats", "stats"), ("/", "inbox")]:
        page.goto(site.url + path)
        page.wait_for_selector(f"body[data-ready={ready}]")
    page.goto(site.url + "/settings")
    expect(page.locator("#users-table")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert problems == []
