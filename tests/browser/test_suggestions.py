"""Suggested answers in Chromium: while an agent answers, the FAQ bot's knowledge entries
closest to the person's latest message are offered above the reply box; a click puts the
answer in the box, a new message of the person brings new ones, an agent's reply puts them
away."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_accessibility import _check, checked  # noqa: F401  (a fixture)
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    open_conversation,
    page_api,
    sign_in,
    site,
)


def test_an_agent_answers_with_a_suggestion(page, site):  # noqa: F811
    visitor = site.visitor("Rosa Return")
    visitor.say("where is my parcel??")  # the bot answers it well: no human needed
    cid = visitor.conversation_id
    sign_in(page, site)
    with page.expect_response(lambda r: r.url.endswith(f"/{cid}/suggestions")) as read:
        open_conversation(page, site, cid)
    assert [s["intent"] for s in read.value.json()["suggestions"]][:1] == ["order_status"]
    strip = page.locator("#suggestions")
    expect(strip).to_be_hidden()  # the bot has the conversation: nothing offered
    page_api(page, "POST", f"/admin/conversations/{cid}/take-over")
    expect(strip).to_be_visible()
    offered = strip.locator(".suggestion")
    expect(offered.first.locator(".suggestion-intent")).to_have_text("order status")

    # The person writes again: what is offered follows their latest message.
    visitor.say("my lamp arrived broken, I want my money back")
    expect(offered).to_have_count(1)
    expect(offered.locator(".suggestion-intent")).to_have_text("returns")
    answer = next(s["answer"] for s in page_api(
        page, "GET", f"/admin/conversations/{cid}/suggestions")["suggestions"])
    box = page.locator("#reply-text")
    box.fill("Hi Rosa, sorry about that.")
    offered.click()  # after what is typed, not in its place
    expect(box).to_have_value(f"Hi Rosa, sorry about that.\n{answer}")
    expect(box).to_be_focused()

    # The agent's reply puts them away until the person writes again.
    page.press("#reply-text", "Enter")
    expect(page.locator("#messages .msg[data-sender=agent]")).to_have_count(1)
    expect(strip).to_be_hidden()
    visitor.say("can I pay with paypal")
    expect(offered.first.locator(".suggestion-intent")).to_have_text("payment methods")
    expect(strip).to_be_visible()


def test_suggestions_have_no_accessibility_violations(checked, site):  # noqa: F811
    page = checked
    visitor = site.visitor("Axe Ask")
    visitor.say("my lamp arrived broken, I want my money back")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    page_api(page, "POST", f"/admin/conversations/{visitor.conversation_id}/take-over")
    expect(page.locator("#suggestions .suggestion")).to_have_count(1)
    _check(page, "conversation page with a suggestion")


def test_stats_lists_the_questions_the_bot_could_not_answer(page, site):  # noqa: F811
    visitor = site.visitor("Quentin Query")
    visitor.say("asdf qwer zxcv")  # the FAQ bot falls back: below the threshold
    cid = visitor.conversation_id
    sign_in(page, site)
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    items = page.locator("#unanswered-list li")
    expect(items.first.locator(".unanswered-question")).to_have_text("asdf qwer zxcv")
    expect(items.first).to_contain_text("% sure")
    expect(page.locator("#unanswered-empty")).to_be_hidden()
    expect(page.locator("#unanswered-older")).to_be_hidden()  # the walk reached the start
    newest = int(items.first.get_attribute("data-answer"))
    items.first.locator("a").click()
    page.wait_for_selector("body[data-ready=conversation]")
    assert page.url.endswith(f"/conversations/{cid}")

    # A walk that found nothing goes on by itself; "Show older" walks on from where the
    # last page stopped.
    calls = []

    def first_page(route):
        calls.append(route.request.url)
        if len(calls) == 1:  # the newest walk: nothing in it
            route.fulfill(json={"success": True, "threshold": 0.5, "questions": [],
                                "next_before": newest + 5})
        elif len(calls) == 2:  # the next one: one, and more below
            route.fulfill(json={"success": True, "threshold": 0.5, "next_before": newest + 1,
                                "questions": [{
                                    "answer_id": newest + 1, "conversation_id": cid,
                                    "created_at": "2026-12-01T10:00:00Z", "confidence": 0.2,
                                    "intent": "shipping", "question_id": None,
                                    "question": None}]})
        else:
            route.continue_()

    page.route("**/admin/unanswered*", first_page)
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("(the person's message is no longer there)")
    expect(items.first).to_contain_text('20% sure · took it for "shipping"')
    assert calls[1].endswith(f"?before={newest + 5}")
    page.get_by_role("button", name="Show older").click()
    expect(items.nth(1).locator(".unanswered-question")).to_have_text("asdf qwer zxcv")
    assert calls[2].endswith(f"?before={newest + 1}")
    expect(page.locator("#unanswered-older")).to_be_hidden()
