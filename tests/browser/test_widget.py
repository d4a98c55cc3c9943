"""The web chat widget in Chromium, on the demo page of a live server (SQLite)."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.chat_client import admin_token
from tests.support.images import tiny_png
from tests.support.live_server import LiveServer

XSS = "<img src=x onerror=window.__pwned=1>"


def _serve(tmp_path, **env) -> LiveServer:
    return LiveServer(
        {
            "HOME": str(tmp_path),
            "DATABASE_PATH": str(tmp_path / "widget.db"),
            "SECRET_KEY_FILE": str(tmp_path / "secret"),
            "RESPONDER": "faq",
            **env,
        },
        log_path=tmp_path / "server.log",
    ).start()


@pytest.fixture
def server(tmp_path):
    server = _serve(tmp_path)
    yield server
    server.stop()


def admin_api(server):
    """Calls to the admin API of ``server`` with a real token."""
    headers = {"Authorization": f"Bearer {admin_token(server)}"}

    def call(method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, server.url + path, headers=headers, timeout=10,
                                    **kwargs)
        assert response.ok, response.text
        return response.json()

    return call


@pytest.fixture
def admin(server):
    """Calls to the admin API with a real token."""
    return admin_api(server)


def _sign_in_agent(agent: Page, server: LiveServer) -> None:
    """The agent (``admin_token``'s account) signs in on ``agent``: the inbox is open."""
    agent.goto(server.url + "/login")
    agent.fill("input[name=email]", "agent@example.com")
    agent.fill("input[name=password]", "a long password")
    agent.click("#login-submit")
    agent.wait_for_selector("body[data-ready=inbox]")


def _agent_page(browser, server: LiveServer) -> Page:
    """A desktop browser of its own, the agent signed in on it (the inbox open)."""
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    _sign_in_agent(agent, server)
    return agent


def _first_webchat_id(admin) -> int:
    """The newest web chat conversation's id, through the admin API."""
    return admin("GET", "/admin/conversations?platform=webchat")["conversations"][0]["id"]


def csp_complaints(page: Page) -> list[str]:
    """Console errors about the Content-Security-Policy (the demo page sets a strict one)."""
    complaints: list[str] = []
    page.on("console", lambda m: complaints.append(m.text)
            if "Content Security Policy" in m.text else None)
    return complaints


def open_chat(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/chat/demo")
    expect(page.locator(".sb-bubble")).to_be_visible()
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-panel")).to_be_visible()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected", timeout=15000)


def send(page: Page, text: str) -> None:
    page.locator(".sb-input").fill(text)
    page.locator(".sb-input").press("Enter")


def test_chat_on_the_demo_page(server, admin, page: Page):
    complaints = csp_complaints(page)
    # No request of the page fails (its icon was a 404; Chromium reports it on the console
    # only, not as a response event).
    refused = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    open_chat(page, server)
    expect(page.locator(".sb-title")).to_have_text("Lumen & Co.")
    expect(page.locator(".sb-greeting")).to_contain_text("Lumen's assistant")

    send(page, "What are your opening hours?")
    mine = page.locator(".sb-from-user[data-id] .sb-text")
    expect(mine).to_have_text(["What are your opening hours?"], timeout=10000)
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday to Friday", timeout=15000)

    # Tracked like any conversation: the admin API sees it on the webchat platform.
    listed = admin("GET", "/admin/conversations?platform=webchat")["conversations"]
    assert len(listed) == 1
    cid = listed[0]["id"]
    stored = admin("GET", f"/admin/conversations/{cid}")["messages"]
    assert [m["content"] for m in stored][0] == "What are your opening hours?"

    # An agent's reply reaches the open panel live, without a reload.
    admin("POST", f"/admin/conversations/{cid}/messages", json={"content": "Hello from Sam!"})
    expect(page.locator(".sb-from-agent")).to_contain_text("Hello from Sam!", timeout=15000)
    expect(page.locator(".sb-banner")).to_contain_text("joined", timeout=10000)

    # Markup typed by a visitor is text: shown as typed, run never.
    send(page, XSS)
    shown = page.locator(".sb-from-user[data-id] .sb-text").last
    expect(shown).to_have_text(XSS, timeout=10000)
    assert page.locator("#switchboard-chat img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    stored = admin("GET", f"/admin/conversations/{cid}")["messages"]
    assert XSS in [m["content"] for m in stored]

    # The agent's markup too.
    admin("POST", f"/admin/conversations/{cid}/messages", json={"content": XSS})
    expect(page.locator(".sb-from-agent .sb-text").last).to_have_text(XSS, timeout=15000)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # The page's strict CSP was in force, and the widget never tripped it.
    assert complaints == []
    assert refused == []
    assert page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inline = 1'; document.body.appendChild(s);
        return typeof window.__inline; }""") == "undefined"


def test_talk_to_a_person_button(server, admin, page: Page):
    open_chat(page, server)
    page.locator(".sb-human").click()
    expect(page.locator(".sb-from-user.sb-escalation[data-id]")).to_have_count(1, timeout=10000)
    expect(page.locator(".sb-banner")).to_contain_text("asked a person", timeout=15000)
    expect(page.locator(".sb-from-system")).to_contain_text("passing you to a person")
    expect(page.locator(".sb-human")).to_be_disabled()
    conversation = admin("GET", "/admin/conversations?platform=webchat")["conversations"][0]
    assert conversation["needs_human"] is True and conversation["handled_by"] == "human"


ASKED = "We've asked a person from our team to join. They'll answer here."


def _with_reply_time(page: Page, seconds: int) -> None:
    """The session's answer as the server gives it, but for its ``reply_time``."""
    import json

    def session(route):
        answer = route.fetch()
        route.fulfill(response=answer, body=json.dumps({**answer.json(), "reply_time": seconds}))

    page.route("**/chat/session", session)


def _answer(status: int, body: dict):
    """A route handler that answers ``body`` with ``status``, as the server would."""
    return lambda route: route.fulfill(status=status, json=body)


def test_someone_who_asks_for_a_person_is_told_the_usual_wait(tmp_path, browser):
    """CHAT_REPLY_TIME=15 through the real server, then other waits as a session could
    give them (from the stats' median): each said in words."""
    server = _serve(tmp_path, CHAT_REPLY_TIME="15")
    try:
        for seconds, said in [(None, "about 15 minutes"), (200, "a few minutes"),
                              (420, "about 7 minutes"), (700, "about 15 minutes"),
                              (3500, "about an hour"), (5400, "about 2 hours"),
                              (86000, "a day"), (200000, "about 3 days")]:
            page = browser.new_context().new_page()
            if seconds is not None:
                _with_reply_time(page, seconds)
            open_chat(page, server)
            page.locator(".sb-human").click()
            banner = page.locator(".sb-banner")
            expect(banner).to_be_visible(timeout=15000)
            expect(banner).to_have_text(f"{ASKED} They usually answer within {said}.")
            page.context.close()
    finally:
        server.stop()


def _tomorrow() -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%a").lower()


@pytest.fixture
def away_server(tmp_path):
    """Open an hour tomorrow only (UTC): away now, whatever the time of the run."""
    server = _serve(tmp_path, BUSINESS_HOURS=f"{_tomorrow()} 09:00-10:00",
                    BUSINESS_TIMEZONE="UTC")
    yield server
    server.stop()


AWAY_NOTE = r"Our team is away right now and back (tomorrow|today) at 09:00 UTC\."


def test_outside_business_hours_the_visitor_is_told_when_the_team_is_back(away_server, page):
    import re

    open_chat(page, away_server)
    expect(page.locator(".sb-away")).to_be_visible()
    expect(page.locator(".sb-away")).to_have_text(re.compile(AWAY_NOTE))
    page.locator(".sb-human").click()
    expect(page.locator(".sb-from-system")).to_have_text(
        re.compile(r"Our team is away right now; we're back (tomorrow|today) at 09:00 UTC"),
        timeout=15000)
    expect(page.locator(".sb-from-system")).not_to_contain_text("passing you to a person")
    page.screenshot(path=str(_screenshots() / "widget_away.png"))


def test_out_of_hours_the_usual_wait_is_not_promised(away_server, page):
    _with_reply_time(page, 600)
    open_chat(page, away_server)
    page.locator(".sb-human").click()
    expect(page.locator(".sb-from-system")).to_contain_text("away", timeout=15000)
    expect(page.locator(".sb-banner")).to_be_visible()
    expect(page.locator(".sb-banner")).to_have_text(ASKED)


def test_the_away_note_comes_when_the_team_closes_without_a_reload(away_server, page):
    """The session is made to say the team is in for one more second; the widget reads
    the hours again at that closing (GET /chat/hours, the real server: away)."""
    import json
    import re
    from datetime import datetime, timedelta, timezone

    def open_one_more_second(route):
        answer = route.fetch()
        body = answer.json()
        closes = datetime.now(timezone.utc) + timedelta(seconds=1)
        body["hours"] = {"open": True, "closes_at": closes.isoformat(), "next_open": None,
                         "next_open_text": None, "timezone": "UTC"}
        route.fulfill(response=answer, body=json.dumps(body))

    asked = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/chat/hours") else None)
    page.route("**/chat/session", open_one_more_second)
    open_chat(page, away_server)
    expect(page.locator(".sb-away")).to_be_hidden()
    expect(page.locator(".sb-away")).to_have_text(re.compile(AWAY_NOTE), timeout=20000)
    expect(page.locator(".sb-away")).to_be_visible()
    assert len(asked) == 1


def test_the_admin_panel_says_the_team_is_away_and_follows_the_opening(away_server, page):
    """The topbar's pill, on every page; its check of a long wait (every 6 hours) is run
    by Chromium's clock moved on, and the hours it reads then say the team is in."""
    import re
    from datetime import datetime, timedelta, timezone

    made = away_server.flask("users", "create", "ann@example.com", "--role", "agent",
                             "--password-stdin", stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    page.clock.install()
    page.goto(away_server.url + "/login")
    page.fill("input[name=email]", "ann@example.com")
    page.fill("input[name=password]", "a long password")
    page.click("#login-submit")
    page.wait_for_selector("body[data-ready=inbox]")
    pill = page.locator("#hours-pill")
    expect(pill).to_have_text(re.compile(r"^Away · back (tomorrow|today) at 09:00 UTC$"))
    page.goto(away_server.url + "/settings")
    expect(pill).to_be_visible()
    expect(page.locator("#hours-now")).to_contain_text("Away now")

    closes = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    page.route("**/chat/hours", lambda route: route.fulfill(json={"hours": {
        "open": True, "closes_at": closes, "next_open": None, "next_open_text": None,
        "timezone": "UTC"}}))
    page.clock.run_for("06:00:30")
    expect(pill).to_be_hidden()


def test_the_widget_shows_no_away_note_without_business_hours(server, page: Page):
    open_chat(page, server)
    assert requests.get(server.url + "/chat/hours", timeout=5).json() == {"hours": None}
    expect(page.locator(".sb-away")).to_be_hidden()


def test_reconnects_after_a_restart_and_sends_what_was_typed_offline(server, admin, page: Page):
    open_chat(page, server)
    send(page, "hello")
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)

    server.stop()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "reconnecting",
                                                         timeout=15000)
    send(page, "How long does shipping take?")  # typed while the server is down
    expect(page.locator(".sb-pending")).to_contain_text("Waiting for connection")

    server.start()
    status = page.locator(".sb-status")
    expect(status).to_have_attribute("data-state", "connected", timeout=30000)
    expect(status).to_have_text("Reconnected")
    expect(page.locator(".sb-pending")).to_have_count(0, timeout=10000)
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(2, timeout=15000)

    # Sent once, tracked once; and the live feed works again after the restart.
    cid = _first_webchat_id(admin)
    contents = [m["content"] for m in admin("GET", f"/admin/conversations/{cid}")["messages"]]
    assert contents.count("How long does shipping take?") == 1
    admin("POST", f"/admin/conversations/{cid}/messages", json={"content": "We're back!"})
    expect(page.locator(".sb-from-agent")).to_contain_text("We're back!", timeout=15000)

    # A reload shows the same conversation from the history.
    page.reload()
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-msg[data-id]")).to_have_count(len(contents) + 1, timeout=15000)


def test_two_tabs_of_one_visitor_share_the_conversation(server, page: Page):
    first = page
    open_chat(first, server)  # a visitor with a token, no conversation yet
    second = first.context.new_page()
    open_chat(second, server)
    send(second, "What are your opening hours?")  # opens the conversation in the second tab
    for tab in (first, second):
        expect(tab.locator(".sb-from-user[data-id]")).to_have_count(1, timeout=15000)
        expect(tab.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15000)
    send(first, "thanks")
    expect(second.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["What are your opening hours?", "thanks"], timeout=15000)


def test_works_on_a_phone_sized_screen(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, reduced_motion="reduce")
    page = context.new_page()
    try:
        open_chat(page, server)
        box = page.locator(".sb-panel").bounding_box()
        assert box and box["width"] == 390 and box["height"] >= 800
        send(page, "What are your opening hours?")
        expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15000)
        page.screenshot(path=str(_screenshots() / "widget_phone.png"))
        page.locator(".sb-close").click()
        expect(page.locator(".sb-bubble")).to_be_visible()
    finally:
        context.close()


def _screenshots():
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


# -- "How was this conversation?": the rating card of a closed conversation ------------------
def _eventually(read, expected, timeout: float = 10.0):
    """Poll ``read()`` (e.g. the admin API) until it returns ``expected``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if got == expected or time.monotonic() > deadline:
            assert got == expected
            return
        time.sleep(0.2)


def _rated(admin, cid):
    def read():
        c = admin("GET", f"/admin/conversations/{cid}")["conversation"]
        return c["rating"], c["rating_comment"]

    return read


def _score(page: Page, n: int):
    words = ["Very bad", "Bad", "Okay", "Good", "Very good"]
    return page.get_by_role("button", name=f"{n} of 5: {words[n - 1]}", exact=True)


def _pressed(page: Page) -> list[str]:
    return [b.get_attribute("aria-pressed") for b in page.locator(".sb-score").all()]


def _chat_then_close(page: Page, server, admin) -> int:
    """A visitor chats with the bot, then an agent closes the conversation: its id."""
    open_chat(page, server)
    send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]").first).to_contain_text("Monday",
                                                                        timeout=15000)
    expect(page.locator(".sb-rating")).to_be_hidden()  # open: nothing to rate yet
    cid = _first_webchat_id(admin)
    admin("POST", f"/admin/conversations/{cid}/close")
    expect(page.locator(".sb-banner")).to_contain_text("was closed", timeout=15000)
    return cid


def test_the_visitor_rates_a_closed_conversation_live_and_writing_again_ends_it(
        server, admin, page: Page):
    cid = _chat_then_close(page, server, admin)
    card = page.locator(".sb-rating")
    expect(card).to_be_visible(timeout=10000)  # live, without a reload
    expect(page.get_by_role("group", name="How was this conversation?")).to_be_visible()
    expect(card.locator(".sb-score")).to_have_text(["1", "2", "3", "4", "5"])
    assert [b.get_attribute("aria-label") for b in card.locator(".sb-score").all()] == [
        "1 of 5: Very bad", "2 of 5: Bad", "3 of 5: Okay", "4 of 5: Good", "5 of 5: Very good"]
    assert _pressed(page) == ["false"] * 5
    expect(card.locator(".sb-rating-comment")).to_be_hidden()

    # 4: sent at once, shown selected; the comment is offered.
    _score(page, 4).click()
    expect(_score(page, 4)).to_have_attribute("aria-pressed", "true")
    assert _pressed(page) == ["false", "false", "false", "true", "false"]
    expect(card.get_by_label("Thanks! Anything to add? (optional)")).to_be_visible()
    assert card.locator(".sb-rating-comment").evaluate("t => t.maxLength") == 500
    _eventually(_rated(admin, cid), (4, None))
    page.screenshot(path=str(_screenshots() / "widget_rating.png"))

    card.get_by_label("Thanks! Anything to add? (optional)").fill("Quick & <b>kind</b>")
    card.get_by_role("button", name="Send", exact=True).click()
    expect(card.locator(".sb-rating-note")).to_have_text("Thanks for your feedback.")
    expect(card.locator(".sb-rating-comment")).to_be_hidden()
    _eventually(_rated(admin, cid), (4, "Quick & <b>kind</b>"))

    # Changed to 5: the rating is replaced, the comment sent stays.
    _score(page, 5).click()
    expect(_score(page, 5)).to_have_attribute("aria-pressed", "true")
    expect(_score(page, 4)).to_have_attribute("aria-pressed", "false")
    _eventually(_rated(admin, cid), (5, "Quick & <b>kind</b>"))
    expect(card.locator(".sb-rating-note")).to_have_text("Thanks for your feedback.")

    # Writing again: the card goes, a new conversation opens; the old rating stays.
    send(page, "One more thing: do you ship abroad?")
    expect(card).to_be_hidden()
    expect(page.locator(".sb-divider")).to_have_text("New conversation", timeout=15000)
    listed = admin("GET", "/admin/conversations?platform=webchat")["conversations"]
    assert len(listed) == 2
    newer = max(c["id"] for c in listed)
    assert newer != cid
    assert _rated(admin, newer)() == (None, None)
    assert _rated(admin, cid)() == (5, "Quick & <b>kind</b>")
    expect(card).to_be_hidden()


def test_the_rating_card_works_with_the_keyboard(server, admin, page: Page):
    cid = _chat_then_close(page, server, admin)
    expect(page.locator(".sb-rating")).to_be_visible(timeout=10000)
    page.locator(".sb-close").focus()
    page.keyboard.press("Tab")
    expect(_score(page, 1)).to_be_focused()
    outline = _score(page, 1).evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid"  # focus is visible
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(_score(page, 4)).to_be_focused()
    page.keyboard.press("Enter")
    expect(_score(page, 4)).to_have_attribute("aria-pressed", "true")
    _eventually(_rated(admin, cid), (4, None))
    page.keyboard.press("Tab")
    expect(_score(page, 5)).to_be_focused()
    page.keyboard.press("Space")
    expect(_score(page, 5)).to_have_attribute("aria-pressed", "true")
    expect(_score(page, 4)).to_have_attribute("aria-pressed", "false")
    _eventually(_rated(admin, cid), (5, None))
    page.keyboard.press("Tab")
    comment = page.locator(".sb-rating-comment")
    expect(comment).to_be_focused()
    page.keyboard.type("Typed with the keys")
    page.keyboard.press("Tab")
    expect(page.locator(".sb-rating-send")).to_be_focused()
    page.keyboard.press("Enter")
    note = page.locator(".sb-rating-note")
    expect(note).to_have_text("Thanks for your feedback.")
    expect(note).to_be_focused()  # the form went: focus is kept in the card
    _eventually(_rated(admin, cid), (5, "Typed with the keys"))


def test_the_rating_card_goes_when_the_conversation_is_reopened(server, admin, page: Page):
    cid = _chat_then_close(page, server, admin)
    card = page.locator(".sb-rating")
    expect(card).to_be_visible(timeout=10000)

    # A 409 alone (the conversation was reopened, the widget not told yet) hides the card.
    page.route("**/chat/*/rating", lambda route: route.fulfill(
        status=409, json={"error": "conflict", "detail": "not closed"}))
    _score(page, 3).click()
    expect(card).to_be_hidden()
    expect(page.locator(".sb-input")).to_be_focused()
    page.unroute("**/chat/*/rating")
    assert _rated(admin, cid)() == (None, None)

    # Reopened, live: the card goes; closed again, it comes back.
    admin("POST", f"/admin/conversations/{cid}/reopen")
    admin("POST", f"/admin/conversations/{cid}/close")
    expect(card).to_be_visible(timeout=10000)
    admin("POST", f"/admin/conversations/{cid}/reopen")
    expect(card).to_be_hidden(timeout=10000)
    admin("POST", f"/admin/conversations/{cid}/close")
    expect(card).to_be_visible(timeout=10000)

    # Reopened just before the visitor's click: the server's own 409.
    def reopen_first(route):
        admin("POST", f"/admin/conversations/{cid}/reopen")
        route.continue_()

    page.route("**/chat/*/rating", reopen_first)
    with page.expect_response("**/chat/*/rating") as answer:
        _score(page, 2).click()
    assert answer.value.status == 409
    expect(card).to_be_hidden()
    assert _rated(admin, cid)() == (None, None)


def test_a_rating_that_failed_can_be_sent_again(server, admin, page: Page):
    cid = _chat_then_close(page, server, admin)
    card = page.locator(".sb-rating")
    _score(page, 4).click()
    comment = card.locator(".sb-rating-comment")
    expect(comment).to_be_visible()
    _eventually(_rated(admin, cid), (4, None))
    note = card.locator(".sb-rating-note")

    page.route("**/chat/*/rating", lambda route: route.fulfill(
        status=429, json={"error": "rate_limited", "detail": "slow down"}))
    comment.fill("Lovely, thanks")
    card.get_by_role("button", name="Send", exact=True).click()
    expect(note).to_contain_text("try again")
    expect(note).to_have_class("sb-rating-note sb-rating-error")
    expect(comment).to_have_value("Lovely, thanks")  # kept, to send again
    expect(comment).to_be_visible()
    page.unroute("**/chat/*/rating")

    # Refused (a server that takes shorter comments than the widget lets one type): why,
    # in the widget's words, with the limit the refusal carries.
    page.route("**/chat/*/rating", _answer(413, {
        "error": "too_large", "detail": "a comment is at most 300 characters", "status": 413,
        "limit": 300}))
    card.get_by_role("button", name="Send", exact=True).click()
    expect(note).to_have_text("Not sent: too long (at most 300 characters)")
    expect(note).to_have_class("sb-rating-note sb-rating-error")
    expect(comment).to_have_value("Lovely, thanks")
    page.unroute("**/chat/*/rating")

    page.route("**/chat/*/rating", lambda route: route.abort())  # the network is down
    _score(page, 2).click()
    expect(note).to_contain_text("Couldn't send your rating")
    expect(_score(page, 4)).to_have_attribute("aria-pressed", "true")  # what is saved
    expect(_score(page, 2)).to_have_attribute("aria-pressed", "false")
    card.get_by_role("button", name="Send", exact=True).click()
    expect(note).to_contain_text("Couldn't send your rating")
    expect(comment).to_have_value("Lovely, thanks")
    page.unroute("**/chat/*/rating")
    assert _rated(admin, cid)() == (4, None)

    card.get_by_role("button", name="Send", exact=True).click()
    expect(note).to_have_text("Thanks for your feedback.")
    expect(note).not_to_have_class("sb-rating-note sb-rating-error")
    _eventually(_rated(admin, cid), (4, "Lovely, thanks"))


def test_two_tabs_show_the_same_rating(server, admin, page: Page):
    first = page
    open_chat(first, server)
    send(first, "What are your opening hours?")
    expect(first.locator(".sb-from-bot[data-id]").first).to_contain_text("Monday",
                                                                         timeout=15000)
    second = first.context.new_page()
    open_chat(second, server)  # resumes the open conversation
    expect(second.locator(".sb-from-user[data-id]")).to_have_count(1, timeout=15000)
    cid = _first_webchat_id(admin)
    admin("POST", f"/admin/conversations/{cid}/close")
    for tab in (first, second):
        expect(tab.locator(".sb-rating")).to_be_visible(timeout=15000)
    _score(first, 3).click()
    _eventually(_rated(admin, cid), (3, None))
    expect(_score(second, 3)).to_have_attribute("aria-pressed", "true", timeout=10000)
    assert _pressed(second) == ["false", "false", "true", "false", "false"]
    # Writing in the second tab opens a new conversation: the first follows, its card goes.
    send(second, "Hello again")
    expect(second.locator(".sb-rating")).to_be_hidden()
    expect(first.locator(".sb-rating")).to_be_hidden(timeout=15000)
    expect(first.locator(".sb-from-user[data-id] .sb-text").last).to_have_text(
        "Hello again", timeout=15000)
    assert _rated(admin, cid)() == (3, None)


def test_the_rating_card_fits_a_phone_sized_screen(server, admin, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, reduced_motion="reduce")
    page = context.new_page()
    try:
        _chat_then_close(page, server, admin)
        card = page.locator(".sb-rating")
        expect(card).to_be_visible(timeout=10000)
        for button in card.locator(".sb-score").all():
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
            assert box["height"] >= 44 and box["width"] >= 44  # a finger's target
        _score(page, 5).tap()
        comment = card.locator(".sb-rating-comment")
        expect(comment).to_be_in_viewport()
        assert comment.evaluate("t => getComputedStyle(t).fontSize") == "16px"
        expect(page.locator(".sb-input")).to_be_in_viewport()
        page.screenshot(path=str(_screenshots() / "widget_rating_phone.png"))
    finally:
        context.close()


def test_a_visitor_back_on_another_page_is_asked_about_the_conversation_closed_meanwhile(
        server, admin, page: Page):
    open_chat(page, server)
    send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]").first).to_contain_text("Monday",
                                                                        timeout=15000)
    cid = _first_webchat_id(admin)
    page.goto("about:blank")  # the visitor went elsewhere; the agent closed it meanwhile
    admin("POST", f"/admin/conversations/{cid}/close")

    open_chat(page, server)
    card = page.locator(".sb-rating")
    expect(card).to_be_visible(timeout=10000)
    expect(page.locator(".sb-rating-q")).to_have_text("How was your last conversation?")
    _score(page, 5).click()
    _eventually(_rated(admin, cid), (5, None))
    page.reload()  # rated: not asked again
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected",
                                                         timeout=15000)
    expect(card).to_be_hidden()


def test_an_agents_files_show_in_the_widget(server, admin, page: Page):
    complaints = csp_complaints(page)
    open_chat(page, server)
    send(page, "Do you have a photo of it?")
    expect(page.locator(".sb-from-user[data-id]")).to_have_count(1, timeout=10000)
    cid = _first_webchat_id(admin)
    files = [admin("POST", f"/admin/conversations/{cid}/files",
                   files={"file": (name, data, kind)})["attachment"]
             for name, data, kind in (("lamp.png", tiny_png(40, 30), "image/png"),
                                      ("Lamp manual.pdf", b"%PDF-1.4\n" + b"q" * 3000,
                                       "application/pdf"))]
    admin("POST", f"/admin/conversations/{cid}/messages",
          json={"content": "Here it is, with its manual.",
                "attachments": [f["file_id"] for f in files]})

    bubble = page.locator(".sb-from-agent", has_text="Here it is")
    expect(bubble).to_be_visible(timeout=15000)
    image = bubble.locator("img.sb-image")
    expect(image).to_have_attribute("alt", "lamp.png")
    expect(image).to_have_js_property("naturalWidth", 40)
    expect(bubble.locator("a.sb-file").last).to_have_text("📎 Lamp manual.pdf (3 KB)")
    assert bubble.locator("a.sb-file").last.get_attribute("href") == files[1]["url"]
    # A file alone: no empty text line, just the file.
    admin("POST", f"/admin/conversations/{cid}/messages",
          json={"attachments": [files[1]["file_id"]]})
    expect(page.locator(".sb-from-agent")).to_have_count(2, timeout=15000)
    alone = page.locator(".sb-from-agent").last
    expect(alone.locator(".sb-text")).to_have_count(0)
    expect(alone.locator("a.sb-file")).to_have_text("📎 Lamp manual.pdf (3 KB)")
    # After a reload the history brings them back the same way.
    page.reload()
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-from-agent img.sb-image")).to_have_js_property("naturalWidth", 40,
                                                                             timeout=15000)
    assert complaints == []


def test_a_visitor_sends_files_from_the_widget(server, admin, page: Page):
    complaints = csp_complaints(page)
    open_chat(page, server)
    attach = page.locator(".sb-attach")
    expect(attach).to_be_visible()
    expect(attach).to_have_attribute("aria-label", "Send a file")
    # Chosen with the paperclip: shown as sent, the image itself once stored.
    with page.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(files=[{"name": "broken lamp.png", "mimeType": "image/png",
                                    "buffer": tiny_png(30, 20)}])
    mine = page.locator(".sb-from-user[data-id]")
    expect(mine).to_have_count(1, timeout=10000)
    expect(mine.locator("img.sb-image")).to_have_js_property("naturalWidth", 30)
    expect(mine.locator("img.sb-image")).to_have_attribute("alt", "broken lamp.png")
    expect(mine.locator(".sb-text")).to_have_count(0)
    cid = _first_webchat_id(admin)
    stored = admin("GET", f"/admin/conversations/{cid}")["messages"]
    assert [(m["sender_type"], m["attachments"][0]["name"]) for m in stored
            if m["attachments"]] == [("user", "broken lamp.png")]

    # Pasted into the message box: a PDF, shown as a link with its size.
    page.evaluate("""([bytes]) => {
        const box = document.querySelector("#switchboard-chat").shadowRoot
            .querySelector(".sb-input");
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "receipt.pdf",
                                { type: "application/pdf" }));
        box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true,
                                                        cancelable: true }));
    }""", [list(b"%PDF-1.4\n" + b"r" * 3000)])
    expect(mine).to_have_count(2, timeout=10000)
    expect(mine.last.locator("a.sb-file")).to_have_text("📎 receipt.pdf (3 KB)")
    expect(page.locator(".sb-input")).to_have_value("")

    # Too large for the server's limit: refused in the widget with the reason, never sent.
    page.locator(".sb-compose input[type=file]").set_input_files(files=[{
        "name": "huge.zip", "mimeType": "application/zip",
        "buffer": b"z" * (5 * 1024 * 1024 + 1)}])
    failed = page.locator(".sb-failed", has_text="huge.zip")
    expect(failed).to_contain_text("Not sent: a file is at most 5.0 MB")
    expect(failed.locator(".sb-attachment")).to_have_text("📎 huge.zip (5.0 MB)")
    expect(failed.locator("a")).to_have_count(0)  # nothing to open: it was never sent
    assert len([m for m in admin("GET", f"/admin/conversations/{cid}")["messages"]
                if m["sender_type"] == "user"]) == 2
    assert complaints == []


def test_the_widget_offers_no_files_when_the_chat_takes_none(tmp_path, page: Page):
    server = _serve(tmp_path, CHAT_UPLOAD_MAX_BYTES="0")
    try:
        open_chat(page, server)
        expect(page.locator(".sb-input")).to_be_visible()
        expect(page.locator(".sb-attach")).to_be_hidden()
    finally:
        server.stop()


def test_the_visitor_sees_when_an_agent_has_read_their_message(server, admin, page, browser):
    """An agent's conversation page reading the visitor's message is the widget's "Seen",
    under the visitor's newest message only; it moves on as the agent reads on, and a
    reload keeps it."""
    open_chat(page, server)
    send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
    seen = page.locator(".sb-seen")
    expect(seen).to_have_count(0)  # no one of the team has read it
    cid = _first_webchat_id(admin)

    agent = _agent_page(browser, server)
    try:
        agent.goto(f"{server.url}/conversations/{cid}")  # the page reads what it shows
        agent.wait_for_selector("body[data-ready=conversation]")

        mine = page.locator(".sb-from-user[data-id]")
        expect(mine.locator(".sb-seen")).to_have_text(" · Seen", timeout=15000)
        expect(seen).to_have_count(1)
        expect(seen).to_be_visible()
        # The visitor writes again: "Seen" leaves the older message, and comes back under
        # the new one when the agent's open page shows it.
        agent.wait_for_selector("#live-status[data-state=connected]")
        send(page, "thanks")
        expect(mine).to_have_count(2, timeout=15000)
        expect(mine.last.locator(".sb-seen")).to_be_visible(timeout=15000)
        expect(seen).to_have_count(1)
        expect(mine.first.locator(".sb-seen")).to_have_count(0)
    finally:
        agent.context.close()

    page.reload()
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-from-user[data-id]").last.locator(".sb-seen")).to_be_visible(
        timeout=15000)
    expect(page.locator(".sb-seen")).to_have_count(1)


def test_the_agent_sees_when_the_visitor_has_received_and_read_their_reply(
        server, admin, page, browser):
    """The widget's receipts on the agent's page: "read" while the visitor has the chat
    open in front of them, "delivered" while it is closed, "read" once they open it."""
    open_chat(page, server)
    send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
    cid = _first_webchat_id(admin)

    agent = _agent_page(browser, server)
    try:
        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        agent.wait_for_selector("#live-status[data-state=connected]")
        bot_id = page.locator(".sb-from-bot[data-id]").get_attribute("data-id")
        expect(agent.locator(f'.msg[data-id="{bot_id}"] .delivery')).to_have_text(
            "read", timeout=15000)

        page.locator(".sb-close").click()  # the visitor closes the chat
        expect(page.locator(".sb-panel")).to_be_hidden()
        reply = admin("POST", f"/admin/conversations/{cid}/messages",
                      json={"content": "Sam here: anything else?"})["message"]
        status = agent.locator(f'.msg[data-id="{reply["id"]}"] .delivery')
        expect(status).to_have_text("delivered", timeout=15000)
        expect(page.locator(".sb-badge")).to_be_visible()
        page.locator(".sb-bubble").click()  # and opens it again: the reply is read
        expect(status).to_have_text("read", timeout=15000)
    finally:
        agent.context.close()


def test_seen_and_receipts_work_without_socket_io(server, admin, page):
    """A widget that could not load the Socket.IO client polls over HTTP: the team's
    "Seen" comes with the history it polls, and its receipts go as requests."""
    page.route("**/chat/static/vendor/socket.io.min.js", lambda route: route.abort())
    receipts = []
    page.on("response", lambda r: receipts.append((r.url, r.status))
            if r.url.endswith("/receipts") else None)
    open_chat(page, server)
    send(page, "What are your opening hours?")
    bot = page.locator(".sb-from-bot[data-id]")
    expect(bot).to_have_count(1, timeout=15000)
    cid = _first_webchat_id(admin)
    bot_id = int(bot.get_attribute("data-id"))

    def status() -> str:
        messages = admin("GET", f"/admin/conversations/{cid}")["messages"]
        return next(m["delivery_status"] for m in messages if m["id"] == bot_id)

    _eventually(status, "read", timeout=15)

    def recorded() -> bool:
        # Playwright hands the test the page's events only while one of its calls runs
        # (not while _eventually sleeps): the request may be answered before it is heard.
        page.wait_for_timeout(50)
        return bool(receipts)

    _eventually(recorded, True, timeout=5)
    assert all(code == 200 for _, code in receipts)
    admin("PUT", f"/admin/conversations/{cid}/read", json={"message_count": 2})
    expect(page.locator(".sb-from-user[data-id] .sb-seen")).to_be_visible(timeout=15000)


def test_the_agent_sees_the_page_the_visitor_wrote_from(server, admin, page, browser):
    open_chat(page, server)
    send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
    send(page, "thanks")  # from the same page: said once
    expect(page.locator(".sb-from-user[data-id]")).to_have_count(2, timeout=15000)
    cid = _first_webchat_id(admin)
    title = page.title()

    agent = _agent_page(browser, server)
    try:
        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        shown = agent.locator("#messages .msg[data-sender=user] .page:visible")
        expect(shown).to_have_count(1)
        expect(shown).to_have_text(f"on {title}")
        link = shown.locator("a")
        assert link.get_attribute("href") == server.url + "/chat/demo"
        assert link.get_attribute("rel") == "noopener noreferrer"
    finally:
        agent.context.close()


def test_the_agent_sees_the_visitors_local_time_and_language(server, admin, browser):
    """The widget tells the server its browser's time zone and language: the conversation
    page says the visitor's time now where they are (as Tokyo's clock says it)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    visitor = browser.new_context(timezone_id="Asia/Tokyo", locale="ja-JP").new_page()
    try:
        open_chat(visitor, server)
        send(visitor, "What are your opening hours?")
        expect(visitor.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
    finally:
        visitor.context.close()
    cid = _first_webchat_id(admin)

    # In the machine's own time zone, a locale with a 24-hour clock (en-US would say "01:05
    # PM"): the agent's browser words the time as its locale does.
    agent = browser.new_context(viewport={"width": 1280, "height": 800},
                                locale="en-GB").new_page()
    _sign_in_agent(agent, server)
    try:
        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        profile = agent.locator("#profile")
        expect(profile.locator("dt", has_text="Local time")).to_be_visible()
        shown = profile.locator("dt:has-text('Local time') + dd").inner_text()
        tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
        assert shown.endswith(" (Asia/Tokyo)"), shown
        assert shown[:5] in {(tokyo + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}
        expect(profile.locator("dt:has-text('language') + dd")).to_have_text("ja-JP")
    finally:
        agent.context.close()


@pytest.fixture
def shop_server(tmp_path):
    """The product, and a shop on another origin (a server of its own on loopback, as a real
    site) whose pages sign their customers in to the widget with CHAT_IDENTITY_SECRET:
    ``/as/<customer>`` signed in as them, ``/`` signed out, ``/wrongly/<customer>`` signed
    with another secret (a misconfigured site)."""
    import hashlib
    import hmac

    from tests.support.html_site import serve_pages
    from tests.support.live_server import free_port

    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, CHAT_IDENTITY_SECRET="shop-secret", CHAT_ALLOWED_ORIGINS=shop)

    def page_for(path: str) -> str:
        customer = path.split("/")[2] if path.startswith(("/as/", "/wrongly/")) else None
        secret = b"another-secret" if path.startswith("/wrongly/") else b"shop-secret"
        signed = "" if not customer else (
            f' data-user-id="{customer}" data-email="{customer}@shop.example"'
            ' data-user-hash="'
            f'{hmac.new(secret, customer.encode(), hashlib.sha256).hexdigest()}"')
        return (f'<!doctype html><title>Shop</title><p>Welcome</p>'
                f'<script src="{server.url}/chat/widget.js" defer{signed}></script>')

    httpd = serve_pages(port, page_for)
    yield server, shop
    httpd.shutdown()
    httpd.server_close()
    server.stop()


def _shop_page(page, shop: str, customer: str | None) -> None:
    """The shop's page, its customer signed in (or nobody), the chat opened."""
    page.goto(f"{shop}/as/{customer}" if customer else f"{shop}/")
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected", timeout=15000)


def test_a_signed_in_customer_finds_their_chat_on_another_device(shop_server, browser):
    server, shop = shop_server
    admin = admin_api(server)
    laptop = browser.new_context().new_page()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        _shop_page(laptop, shop, "ann")
        send(laptop, "Where is my order?")
        expect(laptop.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)

        _shop_page(phone, shop, "ann")  # another device, the same customer
        mine = phone.locator(".sb-from-user[data-id] .sb-text")
        expect(mine).to_have_text(["Where is my order?"], timeout=15000)
        send(phone, "It's order 1234")
        expect(laptop.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
            ["Where is my order?", "It's order 1234"], timeout=15000)
        cid = _first_webchat_id(admin)
        profile = admin("GET", f"/admin/conversations/{cid}")["conversation"]["profile"]
        assert profile == {"user_id": "ann", "verified": True, "email": "ann@shop.example",
                           # and what her browser says (the machine's zone and language)
                           "time_zone": profile["time_zone"], "language": profile["language"]}
        # The agent sees who it is: her e-mail for a name, and that the shop vouched for her.
        agent = browser.new_context().new_page()
        _sign_in_agent(agent, server)
        expect(agent.locator(f'.conv-row[data-id="{cid}"]')).to_contain_text("ann@shop.example")
        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        expect(agent.locator("#c-name")).to_have_text("ann@shop.example")
        facts = agent.locator("#profile")
        expect(facts).to_contain_text("verifiedyes")
        expect(facts).to_contain_text("user idann")
        agent.context.close()

        # Ann signs out on the phone, a message of hers unsent (it waits in the widget's
        # storage): the next person there starts afresh, sees nothing of hers, and her
        # message is not sent as theirs.
        phone.evaluate("""() => {
            const key = Object.keys(localStorage).find((k) => k.startsWith("switchboard-chat:"));
            const state = JSON.parse(localStorage.getItem(key));
            state.outbox.push({ client_id: "ann-unsent", kind: "message",
                                content: "My card number is…" });
            localStorage.setItem(key, JSON.stringify(state));
        }""")
        _shop_page(phone, shop, None)
        expect(phone.locator(".sb-greeting")).to_be_visible()
        expect(phone.locator(".sb-msg[data-id]")).to_have_count(0)
        send(phone, "Hello")
        expect(phone.locator(".sb-from-user[data-id] .sb-text")).to_have_text(["Hello"],
                                                                             timeout=15000)
        expect(laptop.locator(".sb-from-user[data-id]")).to_have_count(2)
        contents = [m["content"] for c in admin("GET", "/admin/conversations")["conversations"]
                    for m in admin("GET", f"/admin/conversations/{c['id']}")["messages"]]
        assert "My card number is…" not in contents and "Hello" in contents
    finally:
        laptop.context.close()
        phone.context.close()


def test_a_site_that_signs_its_customer_wrongly_still_has_a_chat(shop_server, browser):
    """A hash the server refuses (the site's secret is not ours): the visitor chats
    anonymously, and the site's developer reads why in the console."""
    server, shop = shop_server
    page = browser.new_context().new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{shop}/wrongly/bo")
        page.locator(".sb-bubble").click()
        expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected",
                                                             timeout=15000)
        send(page, "Do you ship to Oslo?")
        expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
        (listed,) = admin_api(server)("GET", "/admin/conversations?platform=webchat"
                                      )["conversations"]
        assert listed["profile"].get("verified") is not True
        assert "bo@shop.example" not in str(listed)
        assert any("identity was refused" in line for line in console), console
    finally:
        page.context.close()


def test_a_visitor_who_signs_in_keeps_their_chat(shop_server, browser):
    """Chatting, then signing in on the shop: the thread stays on the screen, once, and goes
    on as the customer's conversation (the team sees them verified)."""
    server, shop = shop_server
    admin = admin_api(server)
    page = browser.new_context().new_page()
    try:
        _shop_page(page, shop, None)
        send(page, "Do you ship to Oslo?")
        expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
        page.wait_for_function("""() => {  /* the conversation is remembered */
            const key = Object.keys(localStorage).find((k) => k.startsWith("switchboard-chat:"));
            return key && JSON.parse(localStorage.getItem(key)).conversationId;
        }""")

        _shop_page(page, shop, "bo")  # signed in on the shop
        mine = page.locator(".sb-from-user[data-id] .sb-text")
        expect(mine).to_have_text(["Do you ship to Oslo?"], timeout=15000)
        expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1)
        send(page, "And to Bergen?")
        expect(mine).to_have_text(["Do you ship to Oslo?", "And to Bergen?"], timeout=15000)
        expect(page.locator(".sb-divider")).to_have_count(0)  # no new conversation begun

        listed = admin("GET", "/admin/conversations?platform=webchat")["conversations"]
        assert len(listed) == 1
        shown = admin("GET", f"/admin/conversations/{listed[0]['id']}")
        profile = shown["conversation"]["profile"]
        assert profile == {"user_id": "bo", "verified": True, "email": "bo@shop.example",
                           "time_zone": profile["time_zone"], "language": profile["language"]}
        assert [m["content"] for m in shown["messages"] if m["sender_type"] == "user"] == [
            "Do you ship to Oslo?", "And to Bergen?"]

        agent = _agent_page(browser, server)  # the trail says so
        try:
            agent.goto(f"{server.url}/conversations/{listed[0]['id']}")
            agent.wait_for_selector("body[data-ready=conversation]")
            line = agent.locator("#activity li", has_text="signed in")
            expect(line).to_have_count(1, timeout=10000)
            expect(line).to_be_visible()
            expect(line).to_contain_text("The visitor signed in on the site")
        finally:
            agent.context.close()
    finally:
        page.context.close()


def test_the_agent_sees_whether_the_visitor_is_on_the_site(server, admin, browser):
    visitor = browser.new_context().new_page()
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        open_chat(visitor, server)
        send(visitor, "What are your opening hours?")
        expect(visitor.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
        cid = _first_webchat_id(admin)
        title = visitor.title()

        _sign_in_agent(agent, server)
        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        here = agent.locator("#c-here")
        expect(here).to_be_visible(timeout=10000)
        expect(here).to_have_text(f"On the site now · chat open · {title}")
        assert here.locator("a").get_attribute("href") == server.url + "/chat/demo"

        visitor.locator(".sb-close").click()  # the chat closed, the page still open
        expect(here).to_have_text(f"On the site now · chat closed · {title}", timeout=10000)
        visitor.evaluate("""() => {  /* another tab in front */
            Object.defineProperty(document, "hidden", { value: true, configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
        expect(here).to_have_text(f"On the site now · site in the background · {title}",
                                  timeout=10000)
        expect(here).to_have_attribute("data-state", "background")
        visitor.context.close()  # gone from the site
        expect(here).to_contain_text("Left the site at", timeout=10000)
        expect(here).to_have_attribute("data-state", "left")

        agent.reload()  # a page that never heard the widget: nobody answers
        agent.wait_for_selector("body[data-ready=conversation]")
        expect(agent.locator("#c-here")).to_have_text("Not on the site now", timeout=10000)
        expect(agent.locator("#c-here")).to_be_visible()
    finally:
        agent.context.close()


def _site_in(tmp_path, lang_attr: str, **env):
    """The product, and a site of its own (another origin on loopback) whose page embeds
    the widget with ``lang_attr`` on its <html> or script tag."""
    from tests.support.html_site import serve_pages
    from tests.support.live_server import free_port

    port = free_port()
    site = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, CHAT_ALLOWED_ORIGINS=site, **env)

    def page_for(path: str) -> str:
        html, script = (lang_attr, "") if path == "/" else ("", lang_attr)
        return (f'<!doctype html><html {html}><title>Boutique</title><p>Bienvenue</p>'
                f'<script src="{server.url}/chat/widget.js" defer {script}></script></html>')

    return server, site, serve_pages(port, page_for)


def test_the_widget_speaks_the_sites_language(tmp_path, browser):
    """A French page (<html lang="fr">): the widget's own words are French, the team's
    usual wait and the away note included; what the team wrote stays as written."""
    from datetime import datetime, timedelta, timezone

    server, site, httpd = _site_in(tmp_path, 'lang="fr"', CHAT_REPLY_TIME="15")
    page = browser.new_context(locale="en-US").new_page()  # the browser's own: English
    try:
        page.goto(site + "/")
        bubble = page.locator(".sb-bubble")
        expect(bubble).to_have_attribute("aria-label", "Ouvrir le chat : Discutons")
        bubble.click()
        expect(page.locator(".sb-status")).to_have_text("En ligne", timeout=15000)
        expect(page.locator(".sb-title")).to_have_text("Discutons")
        expect(page.locator(".sb-greeting")).to_have_text(
            "Bonjour ! Comment pouvons-nous vous aider ?")
        expect(page.locator(".sb-input")).to_have_attribute("placeholder", "Écrivez un message…")
        page.locator(".sb-human").click()
        expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
            ["Je voudrais parler à une personne, s'il vous plaît."], timeout=15000)
        banner = page.locator(".sb-banner")
        expect(banner).to_have_text(
            "Nous avons demandé à une personne de notre équipe de vous rejoindre. Elle vous "
            "répondra ici. Nous répondons généralement en environ 15 minutes.", timeout=15000)
        # The handoff message is the server's (HANDOFF_MESSAGE), as the team wrote it.
        expect(page.locator(".sb-from-system")).to_contain_text("passing you to a person")
    finally:
        page.context.close()
        httpd.shutdown()
        httpd.server_close()
        server.stop()

    # data-lang on the script tag wins over the page's; out of hours, the away note says
    # when the team is back in the page's language and the team's time zone.
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%a").lower()
    (tmp_path / "away").mkdir()
    server, site, httpd = _site_in(tmp_path / "away", 'data-lang="de"', CHAT_REPLY_TIME="15",
                                   BUSINESS_HOURS=f"{tomorrow} 09:00-10:00",
                                   BUSINESS_TIMEZONE="UTC")
    page = browser.new_context(locale="fr-FR").new_page()
    try:
        page.goto(site + "/script")
        page.locator(".sb-bubble").click()
        expect(page.locator(".sb-away")).to_have_text(
            "Unser Team ist gerade nicht da und ist morgen um 09:00 UTC zurück. Hinterlassen "
            "Sie eine Nachricht: Wir antworten hier.", timeout=15000)
        expect(page.locator(".sb-human")).to_have_text("Mit einer Person sprechen")
        page.locator(".sb-human").click()
        expect(page.locator(".sb-banner")).to_have_text(
            "Wir haben eine Person aus unserem Team gebeten, dazuzukommen. Sie antwortet hier.",
            timeout=15000)  # no usual wait promised out of hours
    finally:
        page.context.close()
        httpd.shutdown()
        httpd.server_close()
        server.stop()


def test_the_servers_refusals_are_in_the_visitors_language(tmp_path, browser):
    """A French page: what the server refuses is said in French, with the limit the
    refusal carries, never with the server's English ``detail``. A message typed while the
    limit was higher waits in the outbox (from the visitor's last visit) and is refused, over
    the socket and over HTTP (no Socket.IO client); a file is refused by a server that takes
    less than the widget was told (a process with another CHAT_UPLOAD_MAX_BYTES)."""
    import json

    server, site, httpd = _site_in(tmp_path, 'lang="fr"', CHAT_MAX_MESSAGE_LENGTH="20",
                                   CHAT_UPLOAD_MAX_BYTES="2048")
    kept = {"outbox": [{"client_id": "typed-before", "kind": "message",
                        "content": "Où en est ma commande numéro 4512 ?"}]}

    def session(route):
        answer = route.fetch()
        told = answer.json()
        told["limits"]["max_file_bytes"] = 1024 * 1024
        route.fulfill(response=answer, body=json.dumps(told))

    try:
        for over_http in (False, True):
            page = browser.new_context(locale="en-US").new_page()  # the browser's: English
            try:
                page.add_init_script(
                    f"localStorage.setItem({json.dumps('switchboard-chat:' + server.url)},"
                    f" {json.dumps(json.dumps(kept))});")
                page.route("**/chat/session", session)
                if over_http:
                    page.route("**/chat/static/vendor/socket.io.min.js",
                               lambda route: route.abort())
                page.goto(site + "/")
                page.locator(".sb-bubble").click()
                expect(page.locator(".sb-status")).to_have_text("En ligne", timeout=15000)
                typed = page.locator(".sb-failed", has_text="Où en est ma commande")
                expect(typed).to_be_visible(timeout=15000)
                expect(typed.locator(".sb-meta")).to_have_text(
                    "Non envoyé : trop long (20 caractères au plus)")
                if over_http:
                    continue  # files go over HTTP either way
                files = page.locator(".sb-compose input[type=file]")
                files.set_input_files(files=[{"name": "facture.pdf", "mimeType":
                                              "application/pdf", "buffer": b"f" * 3000}])
                sent = page.locator(".sb-failed", has_text="facture.pdf")
                expect(sent).to_be_visible(timeout=15000)
                expect(sent.locator(".sb-meta")).to_have_text(
                    "Non envoyé : un fichier fait au plus 2 KB")
                # The file's other refusals, as the server words them (checked in
                # tests/integration/test_webchat_files.py); one the widget does not know
                # is "refused".
                for n, (status, body, said) in enumerate([
                    (403, {"error": "forbidden", "detail": "this chat takes no files",
                           "max_bytes": 0}, "ce chat n'accepte pas de fichiers"),
                    (403, {"error": "forbidden", "detail": "this conversation belongs to "
                           "someone else"}, "cette conversation appartient à quelqu'un d'autre"),
                    (400, {"error": "bad_request", "detail": "the file is empty"}, "refusé"),
                ]):
                    page.route("**/chat/files", _answer(status, {**body, "status": status}))
                    files.set_input_files(files=[{"name": f"photo{n}.png",
                                                  "mimeType": "image/png",
                                                  "buffer": tiny_png(4, 4)}])
                    refused = page.locator(".sb-failed", has_text=f"photo{n}.png")
                    expect(refused).to_be_visible(timeout=15000)
                    expect(refused.locator(".sb-meta")).to_have_text(f"Non envoyé : {said}")
                    page.unroute("**/chat/files")
                for english in ("at most", "takes no files", "someone else", "empty"):
                    expect(page.locator(".sb-panel")).not_to_contain_text(english)
            finally:
                page.context.close()
        assert admin_api(server)("GET", "/admin/conversations?platform=webchat"
                                 )["conversations"] == []  # the server took none of it
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()


def test_the_visitor_sees_the_name_the_agent_gave_on_settings(server, admin, page, browser):
    open_chat(page, server)
    send(page, "Where is my parcel?")
    expect(page.locator(".sb-from-bot[data-id]")).to_have_count(1, timeout=15000)
    cid = _first_webchat_id(admin)

    agent = _agent_page(browser, server)
    try:
        agent.goto(server.url + "/settings")
        agent.get_by_label("Your name for the people you answer").fill("  Sam  ")
        agent.locator("#name-form button[type=submit]").click()
        expect(agent.locator(".flash").filter(has_text="now see “Sam”")
               ).to_have_count(1)
        expect(agent.get_by_label("Your name for the people you answer")).to_have_value("Sam")
        agent.get_by_label("Your name for the people you answer").fill("Sam\u0007")
        agent.locator("#name-form button[type=submit]").click()
        expect(agent.locator("#name-form")).to_contain_text("no control characters")

        agent.goto(f"{server.url}/conversations/{cid}")
        agent.wait_for_selector("body[data-ready=conversation]")
        agent.locator("#reply-text").press_sequentially("Let me check", delay=20)
        typing = page.locator(".sb-typing")
        expect(typing).to_be_visible(timeout=10000)
        expect(typing).to_have_text("Sam is typing")
        agent.fill("#reply-text", "Let me check, one moment.")
        agent.press("#reply-text", "Enter")
        reply = page.locator(".sb-from-agent[data-id]")
        expect(reply).to_have_count(1, timeout=15000)
        expect(reply.locator(".sb-who")).to_have_text("Sam")
        expect(page.locator(".sb-from-bot[data-id] .sb-who")).to_have_text("Assistant")
        page.reload()  # from the history too
        page.locator(".sb-bubble").click()
        expect(page.locator(".sb-from-agent[data-id] .sb-who")).to_have_text("Sam",
                                                                             timeout=15000)
    finally:
        agent.context.close()
