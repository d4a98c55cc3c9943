"""Reply drafts in Chromium: what an agent types and does not send is still in the reply box
(or the note box) when they come back to the conversation, the inbox marks its row
"Draft", another tab follows, sending drops it, and logging out (or another account
signing in at this browser) leaves none behind."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    open_conversation,
    sign_in,
    site,
)

DRAFT_KEYS = """() => Object.keys(localStorage).filter((k) => k.startsWith("sb.draft.")).sort()"""


def _draft(page, cid):
    return page.locator(f".conv-row[data-id='{cid}'] .row-draft")


def test_an_unsent_reply_waits_in_its_conversation_and_the_inbox_says_so(browser, site):  # noqa: F811
    first, second = site.visitor("Drafty One"), site.visitor("Drafty Two")
    first.say("Can I change my order?")
    second.say("Do you ship abroad?")
    a, b = first.conversation_id, second.conversation_id
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, site)
        open_conversation(page, site, a)
        box = page.locator("#reply-text")
        box.click()
        box.press_sequentially("Yes, until it ships: which")
        page.click("nav a[href='/']")  # to the inbox, the reply unsent
        page.wait_for_selector("body[data-ready=inbox]")
        page.fill("#f-search", "Drafty")
        expect(_draft(page, a)).to_be_visible(timeout=15_000)
        expect(_draft(page, a)).to_have_attribute(
            "title", "Your unsent reply: Yes, until it ships: which")
        expect(_draft(page, b)).to_be_hidden()

        # Back on the conversation: the reply box has it, ready to go on.
        page.locator(f".conv-row[data-id='{a}']").click()
        page.wait_for_selector("body[data-ready=conversation]")
        expect(box).to_have_value("Yes, until it ships: which")

        # A second tab on the inbox follows the first tab's typing, then its sending.
        inbox = context.new_page()
        inbox.goto(site.url + "/")
        inbox.wait_for_selector("body[data-ready=inbox]")
        inbox.fill("#f-search", "Drafty")
        expect(_draft(inbox, a)).to_be_visible(timeout=15_000)
        box.press("End")
        box.press_sequentially(" item?")
        expect(_draft(inbox, a)).to_have_attribute(
            "title", "Your unsent reply: Yes, until it ships: which item?")
        # ... and a second tab on the conversation takes the text while it is not typing.
        twin = context.new_page()
        open_conversation(twin, site, a)
        expect(twin.locator("#reply-text")).to_have_value("Yes, until it ships: which item?")
        box.press("Enter")
        expect(page.locator("#messages .msg", has_text="which item?")).to_be_visible()
        expect(box).to_have_value("")
        expect(_draft(inbox, a)).to_be_hidden()
        expect(twin.locator("#reply-text")).to_have_value("")
        assert page.evaluate(DRAFT_KEYS) == []
        twin.close()

        # A note being written is kept the same way (never shown as a reply's "Draft").
        note = page.locator("#note-text")
        note.fill("Customer wants the blue one")
        note.dispatch_event("input")
        page.reload()
        page.wait_for_selector("body[data-ready=conversation]")
        expect(note).to_have_value("Customer wants the blue one")
        expect(_draft(inbox, a)).to_be_hidden()
        page.click("#note-add")
        expect(page.locator("#activity li", has_text="Customer wants the blue one")
               ).to_be_visible()
        expect(note).to_have_value("")
        assert page.evaluate(DRAFT_KEYS) == []

        # Emptying the box drops a draft too; one on another conversation stays.
        open_conversation(page, site, b)
        box.press_sequentially("We ship to")
        expect(_draft(inbox, b)).to_be_visible()
        box.fill("")
        box.dispatch_event("input")
        expect(_draft(inbox, b)).to_be_hidden()
        box.press_sequentially("We ship to the EU.")
        expect(_draft(inbox, b)).to_be_visible()

        # A draft untouched for more than a week is dropped when a page opens.
        me = page.evaluate("() => document.body.dataset.userId")
        page.evaluate("""([key]) => localStorage.setItem(key, JSON.stringify(
            { text: "old", at: Date.now() - 8 * 24 * 3600 * 1000 }))""", [f"sb.draft.{me}.{a}"])
        page.reload()
        page.wait_for_selector("body[data-ready=conversation]")
        assert page.evaluate(DRAFT_KEYS) == [f"sb.draft.{me}.{b}"]
        expect(box).to_have_value("We ship to the EU.")

        # Logging out leaves no draft at this browser.
        inbox.close()
        page.click("#logout")
        page.wait_for_url("**/login**")
        assert page.evaluate(DRAFT_KEYS) == []

        # Another account's draft left here (its session ran out) is dropped, never shown.
        page.evaluate("""([key]) => localStorage.setItem(key, JSON.stringify(
            { text: "someone else's words", at: Date.now() }))""", [f"sb.draft.{me}.{b}"])
        sign_in(page, site, ADMINS[1])
        assert page.evaluate(DRAFT_KEYS) == []
        open_conversation(page, site, b)
        expect(box).to_have_value("")
    finally:
        context.close()
