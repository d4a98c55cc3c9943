"""Working through the queue, and with the team, in Chromium: a conversation page's "Next
waiting →" opens the conversation that has waited longest for a human among the agent's
own, else among nobody's, never one assigned to someone else, and says so when nothing
else waits; a note naming a teammate ("@bob") tells their pages."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    open_conversation,
    page_api,
    sign_in,
    site,
    wait_until,
)


def _waiting(page, cid) -> bool:
    return page_api(page, "GET", f"/admin/conversations/{cid}?limit=1")["conversation"][
        "needs_human"]


def _next_is(page, cid) -> None:
    page.click("#next-waiting")
    page.wait_for_url(f"**/conversations/{cid}")
    page.wait_for_selector("body[data-ready=conversation]")


def test_next_waiting_takes_mine_then_nobodys_oldest_first(browser, site):  # noqa: F811
    # Four people ask for a person, oldest first: a, b, c, d.
    people = [site.visitor(f"Queue {name}") for name in "abcd"]
    for person in people:
        person.say("I want to talk to a human")
        time.sleep(0.05)  # each waits from its own instant
    a, b, c, d = (p.conversation_id for p in people)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, site)
        deadline = time.monotonic() + 15
        while not all(_waiting(page, cid) for cid in (a, b, c, d)):
            assert time.monotonic() < deadline, "the requests for a person were not flagged"
            time.sleep(0.1)
        users = {u["email"]: u["id"] for u in page_api(page, "GET", "/admin/users")["users"]}
        page_api(page, "POST", f"/admin/conversations/{b}/assign", {"user_id": users[ADMINS[0]]})
        page_api(page, "POST", f"/admin/conversations/{d}/assign", {"user_id": users[ADMINS[1]]})

        open_conversation(page, site, c)
        _next_is(page, b)  # hers first, though a has waited longer
        page.fill("#reply-text", "Hello! I'm on it.")
        page.press("#reply-text", "Enter")
        expect(page.locator("#c-needs-human")).to_be_hidden()  # answered: no longer waiting
        _next_is(page, a)  # then nobody's, longest first; d is someone else's
        _next_is(page, c)  # a is still waiting, but it is this one: the next
        page.fill("#reply-text", "Hi, how can I help?")
        page.press("#reply-text", "Enter")
        expect(page.locator("#c-needs-human")).to_be_hidden()
        _next_is(page, a)
        page.fill("#reply-text", "Hello there!")
        page.press("#reply-text", "Enter")
        expect(page.locator("#c-needs-human")).to_be_hidden()

        page.click("#next-waiting")  # only d waits, and it is bob's
        expect(page.locator("#toasts")).to_contain_text("Nothing else is waiting")
        assert page.url.endswith(f"/conversations/{a}")
        assert _waiting(page, d)
    finally:
        context.close()


def test_a_note_naming_a_teammate_tells_their_pages(browser, site):  # noqa: F811
    """Ann writes "@bob …" in a note: Bob's inbox says so at once, and the toast opens the
    conversation."""
    person = site.visitor("Nora Noted")
    person.say("hello")
    ann = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    bob = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    background = browser.new_context(viewport={"width": 1280, "height": 800},
                                     permissions=["notifications"]).new_page()
    # Bob's other tab, in the background, with notifications on: the system notification
    # it shows is recorded.
    background.add_init_script("""
        window.__shown = [];
        window.Notification = class { static permission = "granted";
            constructor(title, options) { window.__shown.push([title, options.body, options.tag]); } };
        Object.defineProperty(document, "hidden", { get: () => true });""")
    try:
        sign_in(background, site, ADMINS[1])
        sign_in(bob, site, ADMINS[1])
        sign_in(ann, site, ADMINS[0])
        open_conversation(ann, site, person.conversation_id)
        note = ann.locator("#note-text")
        note.click()
        note.press_sequentially("@")  # the teammates to name: not herself
        options = ann.locator("#mention-picker .saved-option strong")
        expect(options).to_have_text(["@bob", "@carl"])
        note.press_sequentially("b")
        expect(options).to_have_text(["@bob"])
        note.press("Enter")  # picks, does not add the note
        expect(note).to_have_value("@bob ")
        expect(ann.locator("#mention-picker")).to_be_hidden()
        note.press_sequentially("can you take this one? They asked about returns.")
        note.press("Control+Enter")
        toast = bob.locator("#toasts .toast", has_text="ann@example.com mentioned you")
        expect(toast).to_contain_text("Nora Noted: @bob can you take this one?")
        expect(ann.locator("#toasts")).not_to_contain_text("mentioned you")
        wait_until(background, "() => window.__shown.length > 0")
        shown = background.evaluate("window.__shown")
        assert len(shown) == 1 and shown[0][0] == "ann@example.com mentioned you"
        assert shown[0][1].startswith("Nora Noted: @bob can you take this one?")
        assert bob.evaluate("window.__shown") is None  # a tab in front: the toast only
        toast.click()
        bob.wait_for_url(f"**/conversations/{person.conversation_id}")
        bob.wait_for_selector("body[data-ready=conversation]")
        line = bob.locator("#activity li", has_text="can you take this one?")
        expect(line.locator(".mention-me")).to_have_text("@bob")  # his name stands out
        expect(ann.locator("#activity li .mention")).to_have_text(["@bob"])
        expect(ann.locator("#activity li .mention-me")).to_have_count(0)
        expect(line).to_contain_text("ann@example.com: @bob can you take this one?")
    finally:
        for page in (ann, bob, background):
            page.context.close()


def test_the_persons_other_conversations_and_the_transcript(browser, site):  # noqa: F811
    person = site.visitor("Otto Often")
    person.say("where is my parcel?")
    first = person.conversation_id
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(page, site)
        open_conversation(page, site, first)
        expect(page.locator("#person-history-none")).to_be_visible()  # their only one
        expect(page.locator("#person-history li")).to_have_count(0)
        page_api(page, "POST", f"/admin/conversations/{first}/close")
        person.say("it came, but it is the wrong size")  # a new conversation
        second = person.conversation_id
        assert second != first
        open_conversation(page, site, second)
        earlier = page.locator("#person-history li")
        expect(earlier).to_have_count(1)
        expect(earlier).to_contain_text("closed")
        expect(earlier).to_contain_text("closed You'll find your order's status")  # the bot's
        expect(page.locator("#person-history-none")).to_be_hidden()
        with page.expect_download() as download:  # the new one, as text
            page.click("#transcript")
        assert download.value.suggested_filename == f"conversation-{second}.txt"
        text = open(download.value.path(), encoding="utf-8").read()
        assert text.startswith(f"Conversation {second} · Web chat · Otto Often\n")
        assert "] Otto Often: it came, but it is the wrong size\n" in text
        assert "where is my parcel?" not in text  # the earlier conversation's
        earlier.locator("a").click()
        page.wait_for_url(f"**/conversations/{first}")
        page.wait_for_selector("body[data-ready=conversation]")
        expect(page.locator("#person-history li")).to_contain_text("active")
    finally:
        page.context.close()
