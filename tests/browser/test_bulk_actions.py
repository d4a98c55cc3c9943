"""Several conversations at once from the inbox, in Chromium: select rows (or all shown),
then assign, mark read, close, reopen or tag them in one go; the rows follow live, the page
says what was done and what could not be, and the selection bar passes axe."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_accessibility import _check
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    page_api,
    sign_in,
    site,
)


def _conversation(page, cid):
    return page_api(page, "GET", f"/admin/conversations/{cid}?limit=1")["conversation"]


def _row(page, cid):
    return page.locator(f".conv-row[data-id='{cid}']")


def _box(page, cid):
    return page.locator(f".select-row[data-id='{cid}']")


def test_select_rows_then_assign_read_close_and_reopen_them(browser, site):  # noqa: F811
    people = [site.visitor(f"Bulk Person {n}") for n in range(3)]
    for person in people:
        person.say("What are your opening hours?")
    ids = [p.conversation_id for p in people]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, site)
        page.fill("#f-search", "Bulk Person")
        for cid in ids:  # each with the bot's answer, so unread counts show
            expect(_row(page, cid).locator(".unread")).to_be_visible(timeout=15_000)
        bar = page.locator("#bulk-bar")
        expect(bar).to_be_visible()
        expect(page.locator("#bulk-actions")).to_be_hidden()

        first, second, third = ids
        _box(page, first).check()
        _box(page, second).check()
        expect(page.locator("#bulk-count")).to_have_text("2 selected")
        expect(page.locator("#select-all")).to_have_js_property("indeterminate", True)
        _check(page, "inbox, two rows selected")

        # Assign both to the other admin: the server has it, the third is untouched.
        bob = next(u for u in page_api(page, "GET", "/admin/users")["users"]
                   if u["email"] == ADMINS[1])
        page.select_option("#bulk-assign", str(bob["id"]))
        expect(page.locator("#toasts")).to_contain_text("2 conversations assigned")
        expect(page.locator("#bulk-actions")).to_be_hidden()  # the selection is cleared
        assert [_conversation(page, cid)["assigned_to"] for cid in ids] == [
            bob["id"], bob["id"], None]

        # Mark read: their unread counts go, live; the third keeps its own.
        _box(page, first).check()
        _box(page, second).check()
        page.click("#bulk-actions button[data-bulk=read]")
        expect(_row(page, first).locator(".unread")).to_be_hidden()
        expect(_row(page, second).locator(".unread")).to_be_hidden()
        expect(_row(page, third).locator(".unread")).to_be_visible()

        # Close all shown, after a confirmation: every row says closed, live.
        page.check("#select-all")
        expect(page.locator("#bulk-count")).to_have_text("3 selected")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#bulk-actions button[data-bulk=close]")
        for cid in ids:
            expect(_row(page, cid).locator(".status-badge")).to_have_text("closed")
        expect(page.locator("#toasts")).to_contain_text("3 conversations closed")

        # Reopen: one whose person wrote again (a new conversation) cannot be, and says so.
        people[0].say("one more question")
        newer = people[0].conversation_id
        assert newer != first
        expect(_row(page, newer)).to_be_visible(timeout=15_000)
        _box(page, first).check()
        _box(page, third).check()
        page.click("#bulk-actions button[data-bulk=reopen]")
        expect(page.locator("#toasts")).to_contain_text("1 conversation reopened; 1 could not be")
        expect(_row(page, third).locator(".status-badge")).to_have_text("active")
        expect(_row(page, first).locator(".status-badge")).to_have_text("closed")
        assert _conversation(page, second)["status"] == "closed"
    finally:
        context.close()


def test_tag_a_selection_then_take_the_tag_off(browser, site):  # noqa: F811
    people = [site.visitor(f"Bulk Tagged {n}") for n in range(3)]
    for person in people:
        person.say("hello")
    first, second, third = (p.conversation_id for p in people)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, site)
        with page.expect_response(lambda r: "q=Bulk+Tagged" in r.url):
            page.fill("#f-search", "Bulk Tagged")
        expect(page.locator(".conv-row")).to_have_count(3)
        _box(page, first).check()
        _box(page, second).check()
        page.click("#bulk-actions button[data-bulk-tag=tag]")  # no tag typed: nothing
        expect(page.locator("#bulk-tag")).to_be_focused()
        page.fill("#bulk-tag", "Big Order")
        page.press("#bulk-tag", "Enter")
        expect(page.locator("#toasts")).to_contain_text("2 conversations tagged")
        for cid in (first, second):  # the rows follow, live
            expect(_row(page, cid).locator(".row-tags .tag")).to_have_text(["big order"])
        expect(_row(page, third).locator(".row-tags")).to_be_hidden()
        expect(page.locator("#bulk-tag")).to_have_value("")
        assert _conversation(page, third)["tags"] == []

        page.check("#select-all")
        page.fill("#bulk-tag", "big order")
        page.click("#bulk-actions button[data-bulk-tag=untag]")
        expect(page.locator("#toasts")).to_contain_text("3 conversations untagged")
        for cid in (first, second):
            expect(_row(page, cid).locator(".row-tags")).to_be_hidden()
        assert [_conversation(page, cid)["tags"] for cid in (first, second, third)] == [[]] * 3
    finally:
        context.close()


def test_a_phone_selects_and_the_bar_fits(browser, site):  # noqa: F811
    person = site.visitor("Bulk Phone")
    person.say("hello")
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, site)
        page.fill("#f-search", "Bulk Phone")
        _box(page, person.conversation_id).check()
        expect(page.locator("#bulk-count")).to_have_text("1 selected")
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        _check(page, "inbox, a row selected")
        # Opening the row still opens the conversation: the box is beside the link.
        _row(page, person.conversation_id).locator(".name").click()
        page.wait_for_selector("body[data-ready=conversation]")
    finally:
        context.close()


def test_select_all_that_match_loads_the_rest_of_the_list(browser, site):  # noqa: F811
    """More conversations match than the first page shows: "Select all that match" loads
    and selects them all, and one action reaches every one."""
    people = [site.visitor(f"Many Match {n}") for n in range(57)]
    for person in people:
        person.say("hi")
    ids = {p.conversation_id for p in people}
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, site)
        with page.expect_response(lambda r: "q=Many+Match" in r.url):
            page.fill("#f-search", "Many Match")  # read 300 ms after the last key
        rows = page.locator(".conv-row")
        expect(page.locator(".conv-row .name", has_text="Many Match")).to_have_count(
            50, timeout=15_000)  # the search's first page
        expect(rows).to_have_count(50)
        matching = page.locator("#select-matching")
        expect(matching).to_be_hidden()  # nothing selected yet
        page.check("#select-all")
        expect(page.locator("#bulk-count")).to_have_text("50 selected")
        matching.click()
        expect(rows).to_have_count(57)
        expect(page.locator("#bulk-count")).to_have_text("57 selected")
        expect(matching).to_be_hidden()  # nothing more matches
        assert page.locator(".select-row:not(:checked)").count() == 0
        _check(page, "inbox, all that match selected")
        expect(page.locator("#bulk-count")).to_have_text("57 selected")

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#bulk-actions button[data-bulk=close]")
        expect(page.locator("#toasts")).to_contain_text("57 conversations closed")
        assert {cid for cid in ids if _conversation(page, cid)["status"] == "closed"} == ids
    finally:
        context.close()
