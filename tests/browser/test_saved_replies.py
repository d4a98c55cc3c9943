"""Saved replies in Chromium: an admin keeps the list on the Settings page; an agent types
"/" in the reply box, picks one with the keyboard or the mouse, and sends it, the person's
first name filled in."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    AGENT,
    open_conversation,
    sign_in,
    site,
)


def _submitted(page, click) -> None:
    """Submit a form of Settings and wait for the page it leads to, its script run (a
    click on the next page before its script has put the confirmations on its forms would
    skip them: seen once on a loaded machine)."""
    with page.expect_navigation():
        click()
    page.wait_for_selector("body[data-ready=settings]")


def _add(page, title: str, body: str) -> None:
    page.fill("#saved-reply-form input[name=title]", title)
    page.fill("#saved-reply-form textarea[name=body]", body)
    _submitted(page, lambda: page.click("#saved-reply-form button[type=submit]"))


def test_an_admin_keeps_the_list_and_an_agent_answers_with_it(page, site, browser):  # noqa: F811
    sign_in(page, site)
    page.goto(site.url + "/settings")
    _add(page, "Refunds", "Hi {first_name}, refunds take 5 days.")
    _add(page, "Opening hours", "We are open 9 to 5, {first_name}.")
    _add(page, "Typo", "to be deleted")
    _add(page, "refunds", "a second one")  # the same title: refused, the text kept
    expect(page.locator("#saved-reply-form .field-error")).to_have_text(
        "Another saved reply has this title.")
    expect(page.locator("#saved-reply-form textarea[name=body]")).to_have_value("a second one")
    items = page.locator("#saved-replies-list .saved-reply-title")
    expect(items).to_have_text(["Opening hours", "Refunds", "Typo"])

    typo = page.locator(".saved-reply", has_text="Typo")
    typo.locator("summary").click()
    typo.locator("input[name=title]").fill("Delivery")
    typo.locator("textarea[name=body]").fill("Parcels arrive in 2 days.")
    _submitted(page, typo.locator("button", has_text="Save").click)
    expect(items).to_have_text(["Delivery", "Opening hours", "Refunds"])
    page.once("dialog", lambda dialog: dialog.dismiss())  # asked, and said no
    page.locator(".saved-reply", has_text="Delivery").locator("button",
                                                              has_text="Delete").click()
    expect(items).to_have_count(3)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".saved-reply", has_text="Delivery").locator("button",
                                                              has_text="Delete").click()
    expect(items).to_have_text(["Opening hours", "Refunds"])

    # An agent, on a conversation: "/ref" offers Refunds first; Enter puts it in the box.
    agent = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        visitor = site.visitor("Rita Refund")
        visitor.say("where is my money?")
        sign_in(agent, site, AGENT)
        open_conversation(agent, site, visitor.conversation_id)
        box = agent.locator("#reply-text")
        box.click()
        box.type("/ref")
        options = agent.locator("#saved-picker .saved-option strong")
        expect(options).to_have_text(["Refunds"])
        expect(agent.locator("#saved-picker .saved-option span")).to_have_text(
            ["Hi Rita, refunds take 5 days."])  # the preview as it will be sent
        assert agent.evaluate("() => document.activeElement.id") == "reply-text"
        box.press("Enter")
        expect(agent.locator("#saved-picker")).to_be_hidden()
        expect(box).to_have_value("Hi Rita, refunds take 5 days.")
        expect(agent.locator(".msg-agent")).to_have_count(0)  # put in the box, not sent
        box.press("Enter")
        expect(agent.locator(".msg-agent", has_text="Hi Rita, refunds take 5 days.")) \
            .to_have_count(1)

        # "/" alone lists them all; arrows move; a click picks; the text matches too.
        box.type("/")
        expect(options).to_have_text(["Opening hours", "Refunds"])
        box.press("ArrowDown")
        expect(agent.locator("#saved-picker [aria-selected=true] strong")).to_have_text(
            "Refunds")
        box.fill("")
        box.type("/9 to")
        expect(options).to_have_text(["Opening hours"])
        agent.locator("#saved-picker .saved-option").first.click()
        expect(box).to_have_value("We are open 9 to 5, Rita.")

        # No match: Enter sends nothing until Esc closes the list; then it goes as typed.
        box.fill("")
        box.type("/shrug")
        expect(agent.locator("#saved-picker .saved-empty")).to_contain_text(
            "No saved reply matches “shrug”")
        box.press("Enter")
        expect(box).to_have_value("/shrug")
        box.press("Escape")
        expect(agent.locator("#saved-picker")).to_be_hidden()
        box.press("Enter")
        expect(agent.locator(".msg-agent", has_text="/shrug")).to_have_count(1)
        # Someone whose name is not known is "there".
        assert agent.evaluate("async () => (await import('/static/js/saved_replies.js'))"
                              ".fill('Hi {first_name}!', null)") == "Hi there!"
    finally:
        agent.context.close()
