"""Every page of the admin panel, and the web chat widget, checked with axe-core (the rules of
WCAG 2.1 A and AA and axe's best practices) in Chromium, in the states people meet: lists
with rows and their tags, a conversation with a flagged message, its tags and a refused one,
a reply and the saved replies open, the team's figures and tags, the settings with accounts,
tokens, saved replies and tags (a reply's and a tag's forms open), the widget's chat.
Any violation fails, with what axe says about it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    open_conversation,
    sign_in,
    site,
)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def _check(page, where: str) -> None:
    """Run axe on the page as it is once its animations end (a toast fading in is not yet
    its colours; an endless one, a typing indicator's, is left running); fail with every
    violation, where and why."""
    page.wait_for_function("document.getAnimations().every(a => a.playState !== 'running'"
                           " || a.effect.getComputedTiming().endTime === Infinity)")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(r"""async () => (await axe.run(document, {resultTypes: ["violations"]}))
        .violations.map(v => `${v.impact} ${v.id}: ${v.help}\n` + v.nodes.slice(0, 3)
            .map(n => `  ${n.target.join(" ")}: ${n.failureSummary}`).join("\n"))""")
    assert found == [], f"{where} ({page.viewport_size['width']} px):\n" + "\n".join(found)


@pytest.fixture(params=[(1366, 900), (390, 844)], ids=["desktop", "phone"])
def checked(browser, request):
    """A page that may take axe's script: the app's Content-Security-Policy allows no
    script it does not serve, so this context alone bypasses it."""
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height},
                                  bypass_csp=True)
    yield context.new_page()
    context.close()


def test_the_admin_panel_has_no_accessibility_violations(checked, site):  # noqa: F811
    page = checked
    visitor = site.visitor("Ada Access")
    visitor.say("I want to talk to a person please")
    page.goto(site.url + "/login")
    _check(page, "login")
    page.fill("input[name=email]", "nobody@example.com")
    page.fill("input[name=password]", "wrong password")
    page.click("#login-submit")
    expect(page.locator(".form-error, .field-error, .flash").first).to_be_visible()
    _check(page, "login, refused")
    sign_in(page, site)
    expect(page.locator(".conv-row").first).to_be_visible()
    for tag in ("billing", "needs follow-up"):  # chips on a row, and options of the Tag filter
        page.evaluate("""([id, tag]) => import("/static/js/common.js").then(({ api }) =>
            api(`/admin/conversations/${id}/tags`, { method: "POST", json: { tag } }))""",
                      [visitor.conversation_id, tag])
    row = page.locator(f".conv-row[data-id='{visitor.conversation_id}']")
    expect(row.locator(".row-tags .tag")).to_have_count(2)
    _check(page, "inbox, a row with tags")
    site.visitor("Toby Toast").say("I want to talk to a human please")
    expect(page.locator("#toasts > *").first).to_be_visible(timeout=15_000)
    _check(page, "inbox, a toast for a conversation that needs a human")

    page.goto(site.url + "/settings")
    page.fill("#saved-reply-form input[name=title]", f"Hours {page.viewport_size['width']}")
    page.fill("#saved-reply-form textarea[name=body]", "Hi {first_name}, we open at 9.")
    page.click("#saved-reply-form button[type=submit]")
    page.wait_for_selector("body[data-ready=settings]")
    page.locator(".saved-reply summary").first.click()  # an edit form open
    page.locator(".tag-rename summary").first.click()  # a tag's rename form open
    expect(page.locator(".tag-rename input[name=tag]").first).to_be_visible()
    _check(page, "settings")

    open_conversation(page, site, visitor.conversation_id)
    page.fill("#reply-text", "Hello Ada, I'm here.")
    page.press("#reply-text", "Enter")
    expect(page.locator(".msg-agent")).to_have_count(1)
    page.locator("#reply-text").type("/hou")
    expect(page.locator("#saved-picker .saved-option").first).to_be_visible()
    _check(page, "conversation, saved replies open")
    page.fill("#reply-text", "")
    page.locator("#reply-text").type("/zzz")
    expect(page.locator("#saved-picker .saved-empty")).to_be_visible()
    _check(page, "conversation, no saved reply matches")
    page.fill("#reply-text", "")
    page.fill("#note-text", "Ada asked twice")
    page.click("#note-add")
    page.locator("#activity li.note .note-edit").first.click()  # an edited note, and editing
    page.fill("#note-text", "Ada asked twice already")
    page.click("#note-add")
    expect(page.locator("#activity li.note .edited")).to_have_count(1)
    page.locator("#activity li.note .note-edit").first.click()
    _check(page, "conversation, a note edited and being edited")
    expect(page.locator("#c-tags .tag")).to_have_count(2)
    page.fill("#tag-input", "no <tags> here!")
    page.press("#tag-input", "Enter")
    expect(page.locator("#tag-error")).to_be_visible()
    _check(page, "conversation, tags and a refused one")

    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(page.locator("#team-table tbody tr").first).to_be_visible()
    expect(page.locator("#tags-table tbody tr").first).to_be_visible()
    expect(page.locator("#satisfaction[data-period]")).to_be_visible()
    _check(page, "stats")

    # Ada's conversation closed, and rated by her (over HTTP, as the widget does): the stats'
    # Satisfaction section with its figures, scores, accounts and comment; "Rated 4/5" on the
    # conversation page.
    page.evaluate("""(id) => import("/static/js/common.js").then(({ api }) =>
        api(`/admin/conversations/${id}/close`, { method: "POST" }))""", visitor.conversation_id)
    rated = visitor.http.post(f"{site.url}/chat/{visitor.conversation_id}/rating", timeout=10,
                              json={"score": 4, "comment": "Quick and kind, thank you"})
    assert rated.status_code == 200, rated.text
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(page.locator("#satisfaction-body")).to_be_visible()
    expect(page.locator("#satisfaction-agents tbody tr").first).to_be_visible()
    expect(page.locator("#rating-comments .rated-comment").first).to_be_visible()
    _check(page, "stats, with ratings")
    open_conversation(page, site, visitor.conversation_id)
    expect(page.locator("#c-rating .rating-comment")).to_have_text("Quick and kind, thank you")
    _check(page, "conversation, rated")


def test_the_web_chat_widget_has_no_accessibility_violations(checked, site):  # noqa: F811
    page = checked
    page.goto(site.url + "/chat/demo")
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected",
                                                         timeout=15_000)
    page.locator(".sb-input").fill("What are your opening hours?")
    page.locator(".sb-input").press("Enter")
    expect(page.locator(".sb-msg.sb-from-bot:not(.sb-greeting)").first).to_be_visible(
        timeout=15_000)
    _check(page, "widget")

    # Closed by the team: "How was this conversation?", a score picked, a failure, the thanks.
    import requests

    from tests.support.chat_client import admin_token

    cid = page.evaluate("""() => JSON.parse(localStorage.getItem(
        "switchboard-chat:" + location.origin)).conversationId""")
    requests.post(f"{site.url}/admin/conversations/{cid}/close", timeout=10, headers={
        "Authorization": f"Bearer {admin_token(site.server)}"}).raise_for_status()
    card = page.locator(".sb-rating")
    expect(card).to_be_visible(timeout=15_000)
    _check(page, "widget, the rating card")
    card.locator(".sb-score").nth(3).click()
    expect(card.locator(".sb-rating-comment")).to_be_visible()
    card.locator(".sb-score").nth(3).focus()  # a focused, pressed score
    _check(page, "widget, a score picked and the comment offered")
    page.route("**/chat/*/rating", lambda route: route.abort())
    card.locator(".sb-rating-comment").fill("Helpful")
    card.locator(".sb-rating-send").click()
    expect(card.locator(".sb-rating-error")).to_be_visible()
    _check(page, "widget, a rating not sent")
    page.unroute("**/chat/*/rating")
    card.locator(".sb-rating-send").click()
    expect(card.locator(".sb-rating-note")).to_have_text("Thanks for your feedback.")
    _check(page, "widget, the rating sent")
