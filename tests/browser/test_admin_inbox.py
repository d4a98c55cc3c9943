"""The inbox and the conversation page update live in Chromium while traffic arrives, and
what one admin does shows in another admin's browser without a reload."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.support.admin import PASSWORD
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    open_conversation,
    page_api,
    screenshot,
    sign_in,
    site,
    two_admins_on,
)


def _row(page, name):
    return page.locator(".conv-row", has=page.locator(".name", has_text=name))


def test_inbox_updates_live_while_messages_arrive(page, site):  # noqa: F811
    page.context.grant_permissions(["notifications"])
    sign_in(page, site)
    visitor = site.visitor("Wanda Webchat")
    visitor.say("What are your opening hours?")
    row = _row(page, "Wanda Webchat")
    expect(row).to_be_visible()
    expect(row.locator(".platform-badge")).to_have_text("Web chat")
    expect(row.locator(".status-badge")).to_have_text("active")
    # The bot's answer becomes the row's preview, live.
    expect(row.locator(".preview")).to_contain_text("open", timeout=15_000)
    expect(row.locator(".handled-badge")).to_have_text("bot")

    # A Messenger user arrives by a signed webhook and asks for a person.
    messenger = site.messenger_user()
    messenger.say("hello")
    expect(page.locator(".conv-row")).to_have_count(2)
    before = page.locator(".conv-row").count()
    messenger.say("I want to talk to a human agent")
    first = page.locator(".conv-row").first
    expect(first.locator(".human-badge")).to_be_visible(timeout=15_000)
    expect(first.locator(".human-badge")).to_contain_text("needs human")
    expect(first.locator(".platform-badge")).to_have_text("Messenger")
    expect(first.locator(".handled-badge")).to_contain_text("human")
    expect(page.locator(".toast-alert")).to_contain_text("needs a human")
    expect(page).to_have_title(re.compile(r"^\(1\) Inbox"))
    expect(page.locator("#nav-waiting")).to_have_text("1")
    assert page.locator(".conv-row").count() == before

    # Filters: only conversations waiting for a human.
    page.check("#f-needs-human")
    expect(page.locator(".conv-row")).to_have_count(1)
    page.uncheck("#f-needs-human")
    page.fill("#f-search", "wanda")
    expect(page.locator(".conv-row")).to_have_count(1)
    expect(_row(page, "Wanda Webchat")).to_be_visible()


def test_a_flag_set_in_one_browser_appears_in_another(page, site, browser):  # noqa: F811
    visitor = site.visitor("Fiona Flag")
    visitor.say("What are your opening hours?")  # the bot knows this one: no flag
    with two_admins_on(page, browser, site, visitor.conversation_id) as other:
        expect(other.locator(".msg-bot")).to_have_count(1, timeout=15_000)
        theirs = other.locator(".msg-user").first
        expect(theirs).not_to_have_class(re.compile(r"\bflagged\b"))

        page.locator(".msg-user").first.locator(".act-flag").click()
        expect(page.locator(".msg-user").first).to_have_class(re.compile(r"\bflagged\b"))
        expect(theirs).to_have_class(re.compile(r"\bflagged\b"))
        expect(theirs.locator(".flag")).to_contain_text(f"flagged by {ADMINS[0]}")
        expect(other.locator("#c-needs-human")).to_be_visible()

        # And back: marked replied in the second browser clears it in the first.
        theirs.locator(".act-replied").click()
        expect(page.locator(".msg-user").first.locator(".flag")).to_contain_text(
            f"replied by {ADMINS[1]}")
        expect(page.locator("#c-needs-human")).to_be_hidden()
        screenshot(other, "test_a_flag_set_in_one_browser_appears_in_another_second_admin")


def test_typing_shows_in_the_other_admins_browser(page, site, browser):  # noqa: F811
    visitor = site.visitor("Tina Typing")
    visitor.say("hi")
    with two_admins_on(page, browser, site, visitor.conversation_id) as other:
        page.fill("#reply-text", "Let me check that for y")
        page.locator("#reply-text").press("o")
        expect(other.locator("#typing")).to_have_text(f"{ADMINS[0]} is typing…")
        expect(page.locator("#typing")).to_be_hidden()  # not one's own typing


def test_inbox_catches_up_after_the_socket_reconnects(page, site):  # noqa: F811
    sign_in(page, site)
    page.evaluate("() => window.__adminSocket.disconnect()")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "disconnected")
    visitor = site.visitor("Otto Offline")
    visitor.say("hello while nobody listens")
    page.wait_for_timeout(500)
    expect(_row(page, "Otto Offline")).to_have_count(0)  # missed while disconnected
    page.evaluate("() => window.__adminSocket.connect()")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    expect(_row(page, "Otto Offline")).to_be_visible()  # re-read on reconnect


def test_waiting_longest_sort_puts_the_longest_wait_first(page, site):  # noqa: F811
    first = site.visitor("Wendy Waiting")
    first.say("I want to talk to a human")
    second = site.visitor("Walter Waiting")
    second.say("can I speak to a real person")
    sign_in(page, site)
    page.fill("#f-search", " Waiting")  # only these two (other tests' people wait too)
    expect(page.locator(".conv-row")).to_have_count(2)
    page.select_option("#f-sort", "waiting")
    rows = page.locator(".conv-row")
    expect(rows.nth(0).locator(".name")).to_have_text("Wendy Waiting", timeout=15_000)
    expect(rows.nth(1).locator(".name")).to_have_text("Walter Waiting")


def test_arrow_keys_move_between_rows(page, site):  # noqa: F811
    """Each row has two stops (its box, its link): the arrows go from row to row on the same
    control, Home and End to the ends, and Enter on a link still opens it."""
    for name in ("Kim Keys", "Kai Keys", "Kit Keys"):
        site.visitor(name).say("hello")
    sign_in(page, site)
    with page.expect_response(lambda r: "q=Keys" in r.url):
        page.fill("#f-search", " Keys")
    rows = page.locator(".conv-row")
    expect(rows).to_have_count(3)
    focused = "() => document.activeElement.closest('.conv-item') ? [document.activeElement" \
        ".className, [...document.querySelectorAll('.conv-item')].indexOf(" \
        "document.activeElement.closest('.conv-item'))] : null"
    rows.nth(0).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == ["conv-row", 1]
    page.keyboard.press("End")
    assert page.evaluate(focused) == ["conv-row", 2]
    page.keyboard.press("ArrowDown")  # the last: it stays
    assert page.evaluate(focused) == ["conv-row", 2]
    page.keyboard.press("Home")
    assert page.evaluate(focused) == ["conv-row", 0]
    page.locator(".select-row").nth(0).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == ["select-row", 1]
    page.keyboard.press("Space")
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    page.keyboard.press("ArrowUp")
    assert page.evaluate(focused) == ["select-row", 0]
    page.keyboard.press("Tab")  # then the row's own link, as before
    assert page.evaluate(focused) == ["conv-row", 0]
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready=conversation]")


def test_one_accounts_conversations_live(page, site):  # noqa: F811
    """The Assigned to list shows one account's conversations, and follows assignments made
    elsewhere; Mine and it exclude each other."""
    people = [site.visitor(f"Assignee Filter {n}") for n in range(3)]
    for person in people:
        person.say("hello")
    first, second, third = (p.conversation_id for p in people)
    sign_in(page, site)
    users = {u["email"]: u["id"] for u in page_api(page, "GET", "/admin/users")["users"]}
    bob, ann = users[ADMINS[1]], users[ADMINS[0]]
    page_api(page, "POST", f"/admin/conversations/{first}/assign", {"user_id": bob})
    page_api(page, "POST", f"/admin/conversations/{second}/assign", {"user_id": ann})
    with page.expect_response(lambda r: "q=Assignee+Filter" in r.url):
        page.fill("#f-search", "Assignee Filter")
    rows = page.locator(".conv-row")
    expect(rows).to_have_count(3)
    with page.expect_response(lambda r: f"assigned_to={bob}" in r.url):
        page.select_option("#f-assignee", str(bob))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(first))
    page_api(page, "POST", f"/admin/conversations/{third}/assign", {"user_id": bob})
    expect(rows).to_have_count(2)  # assigned to him elsewhere: in the list at once
    page_api(page, "POST", f"/admin/conversations/{first}/assign", {"user_id": None})
    expect(rows).to_have_count(1)  # given back: out of it
    page.check("#f-mine")
    expect(page.locator("#f-assignee")).to_have_value("")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(second))


def test_a_full_name_shows_whole_in_the_inbox_row(page, site):  # noqa: F811
    """At a laptop's width the person column leaves room for a usual full name beside its
    platform badge and unread count (it was cut to "Gustavo Fern…" while the preview
    column had room to spare)."""
    sign_in(page, site)
    visitor = site.visitor("Gustavo Fernández")
    visitor.say("What are your opening hours?")
    row = _row(page, "Gustavo Fernández")
    expect(row.locator(".preview")).to_contain_text("open", timeout=15_000)
    expect(row.locator(".unread")).to_be_visible()
    name = row.locator(".name")
    widths = name.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1], f"the name is cut: {widths[0]}px of text in {widths[1]}px"


def test_a_person_with_no_name_gets_a_short_label(page, site):  # noqa: F811
    """A web-chat visitor who gave no name is "Visitor" and the end of their id (the whole
    random id was the title), in the inbox, the conversation page and its title; the Person
    card keeps the whole id."""
    visitor = site.visitor(None)
    visitor.say("hello")
    sign_in(page, site)
    found = page.evaluate(
        "id => fetch(`/admin/conversations/${id}?limit=1`).then(r => r.json())",
        visitor.conversation_id)
    external_id = found["conversation"]["external_user_id"]
    label = f"Visitor {external_id[-6:]}"
    expect(_row(page, label)).to_be_visible()
    expect(page.locator(".conv-row .name", has_text=external_id)).to_have_count(0)
    open_conversation(page, site, visitor.conversation_id)
    expect(page.locator("#c-name")).to_have_text(label)
    expect(page).to_have_title(f"{label} · Switchboard")
    expect(page.locator(".msg-user .who").first).to_have_text(label)
    expect(page.locator("aside.side")).to_contain_text(external_id)


def test_a_burst_of_escalations_shows_at_most_three_toasts(page, site):  # noqa: F811
    """Five people asking for a person at once must not bury the page under five alerts: the
    newest three show, and a conversation's new alert replaces its old one."""
    sign_in(page, site)
    waiting = page.locator("#nav-waiting")
    before = int(waiting.text_content() or 0) if waiting.is_visible() else 0
    for person in [site.messenger_user() for _ in range(5)]:
        person.say("I want to talk to a human agent")
    expect(waiting).to_have_text(str(before + 5), timeout=15_000)
    # The alert comes with the count (same event), and alerts last 7 s: all five arrived
    # within that, so the old page showed five here.
    shown = page.locator(".toast-alert").count()
    assert 1 <= shown <= 3, shown
    # The settings page keeps the same count live in its nav.
    page.goto(site.url + "/settings")
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    expect(waiting).to_have_text(str(before + 5))
    site.messenger_user().say("I want to talk to a human agent")
    expect(waiting).to_have_text(str(before + 6), timeout=15_000)
    page.goto(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")

    # One toast per key: a second alert for the same conversation replaces the first.
    page.evaluate("""() => import("/static/js/common.js").then(({ toast }) => {
        document.getElementById("toasts").replaceChildren();
        toast("first", "", { key: "conv-1" });
        toast("other", "", { key: "conv-2" });
        toast("again", "", { key: "conv-1" });
    })""")
    expect(page.locator(".toast strong")).to_have_text(["other", "again"])


def test_an_empty_list_says_a_filter_hides_everything_and_clears_it(page, site):  # noqa: F811
    site.visitor("Edda Empty").say("What are your opening hours?")
    sign_in(page, site)
    expect(_row(page, "Edda Empty")).to_be_visible()
    expect(page.locator("#empty")).to_be_hidden()
    page.select_option("#f-platform", "messenger")
    page.check("#f-unassigned")
    page.fill("#f-search", "no one wrote this zqxj")
    expect(page.locator(".conv-row")).to_have_count(0)
    expect(page.locator("#empty-filtered")).to_be_visible()
    expect(page.locator("#empty-none")).to_be_hidden()
    page.click("#clear-filters")
    expect(_row(page, "Edda Empty")).to_be_visible()
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator("#f-search")).to_have_value("")
    expect(page.locator("#f-platform")).to_have_value("")
    expect(page.locator("#f-unassigned")).not_to_be_checked()


def _api(page, path):
    return page.evaluate("path => fetch(path).then(r => r.json())", path)


def _count_after_the_bot(page, cid, at_least):
    """The conversation's message count once it holds ``at_least`` and has not grown for a
    second (the bot has answered)."""
    deadline, last, since = time.monotonic() + 15, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = _api(page, f"/admin/conversations/{cid}?limit=1")["conversation"]["message_count"]
        if count != last:
            last, since = count, time.monotonic()
        elif count >= at_least and time.monotonic() - since >= 1:
            return count
        time.sleep(0.1)
    raise AssertionError(f"conversation {cid} has {last} messages, not {at_least} or more")


def test_unread_counts_are_the_accounts_own_on_every_device(page, site, browser):  # noqa: F811
    """Ann reads a conversation on her phone: her laptop's inbox drops its unread count at
    once, Bob's keeps it. A message after she left is unread on both of her devices, and a
    reload shows what the server keeps. A mark this browser kept before the server did is
    handed to the server once, then forgotten."""
    visitor = site.visitor("Una Unread")
    visitor.say("What are your opening hours?")
    cid = visitor.conversation_id
    sign_in(page, site, ADMINS[0])
    page.fill("#f-search", "Una Unread")
    laptop = _row(page, "Una Unread")
    expect(laptop.locator(".preview")).to_contain_text("open", timeout=15_000)  # the bot's
    expect(laptop.locator(".unread")).to_have_text("2")
    bob = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        sign_in(bob, site, ADMINS[1])
        bob.fill("#f-search", "Una Unread")
        expect(_row(bob, "Una Unread").locator(".unread")).to_have_text("2")

        sign_in(phone, site, ADMINS[0])
        open_conversation(phone, site, cid)
        expect(laptop.locator(".unread")).to_be_hidden()  # live, from the phone
        marks = _api(page, f"/admin/read-marks?ids={cid}")["read"]
        assert [m["message_count"] for m in marks] == [2]
        # While the phone shows it, a new message is read there at once.
        visitor.say("Thanks, and on Sundays?")
        expect(phone.locator(".msg-user")).to_have_count(2, timeout=15_000)
        count = _count_after_the_bot(page, cid, 4)
        expect(laptop.locator(".unread")).to_be_hidden()
        expect(_row(bob, "Una Unread").locator(".unread")).to_have_text(str(count))
        # A page in the background (her phone in her pocket) reads nothing until it is shown.
        phone.evaluate("() => Object.defineProperty(document, 'visibilityState',"
                       " {configurable: true, get: () => 'hidden'})")
        visitor.say("Anyone there?")
        expect(phone.locator(".msg-user")).to_have_count(3, timeout=15_000)
        expect(laptop.locator(".unread")).to_be_visible()
        phone.evaluate("() => { delete document.visibilityState;"
                       " document.dispatchEvent(new Event('visibilitychange')); }")
        expect(laptop.locator(".unread")).to_be_hidden()

        phone.goto(site.url + "/")  # she leaves it
        phone.wait_for_selector("body[data-ready=inbox]")
        before = count
        visitor.say("Hello?")
        count = _count_after_the_bot(page, cid, before + 2)
        mark = _api(page, f"/admin/read-marks?ids={cid}")["read"][0]["message_count"]
        assert before <= mark < count
        phone.fill("#f-search", "Una Unread")
        for shown in (laptop, _row(phone, "Una Unread")):
            expect(shown.locator(".unread")).to_have_text(str(count - mark))
        page.reload()
        page.wait_for_selector("body[data-ready=inbox]")
        page.fill("#f-search", "Una Unread")
        expect(laptop.locator(".unread")).to_have_text(str(count - mark))

        # Bob's browser had kept a mark of its own before: it becomes his on the server.
        bob.evaluate("id => localStorage.setItem(`sb.seen.${id}`, '2')", cid)
        bob.reload()
        bob.wait_for_selector("body[data-ready=inbox]")
        bob.fill("#f-search", "Una Unread")
        expect(_row(bob, "Una Unread").locator(".unread")).to_have_text(str(count - 2))
        assert bob.evaluate("id => localStorage.getItem(`sb.seen.${id}`)", cid) is None
        deadline = time.monotonic() + 10  # the page sends it without waiting for an answer
        while _api(bob, f"/admin/read-marks?ids={cid}")["read"] == [] and (
                time.monotonic() < deadline):
            time.sleep(0.1)
        marks = _api(bob, f"/admin/read-marks?ids={cid}")["read"]
        assert [m["message_count"] for m in marks] == [2]
    finally:
        bob.context.close()
        phone.context.close()


def test_the_unread_filter_follows_what_the_account_reads(page, site, browser):  # noqa: F811
    """"Unread" lists the conversations with messages the account has not read: one read on
    another device leaves the list at once, and comes back with the person's next message."""
    visitor = site.visitor("Ursula Unread")
    visitor.say("What are your opening hours?")
    sign_in(page, site, ADMINS[0])
    page.fill("#f-search", "Ursula Unread")
    row = _row(page, "Ursula Unread")
    expect(row.locator(".unread")).to_have_text("2", timeout=15_000)
    page.check("#f-unread")
    expect(row).to_be_visible()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        sign_in(phone, site, ADMINS[0])
        open_conversation(phone, site, visitor.conversation_id)
        expect(row).to_have_count(0)  # read on her phone: gone from the list, live
        expect(page.locator("#empty-filtered")).to_be_visible()
        phone.goto(site.url + "/")
        phone.wait_for_selector("body[data-ready=inbox]")
        visitor.say("And on Sundays?")
        expect(row).to_be_visible(timeout=15_000)
        expect(row.locator(".unread")).not_to_have_text("0")
        page.uncheck("#f-unread")
        page.reload()
        page.wait_for_selector("body[data-ready=inbox]")
        page.fill("#f-search", "Ursula Unread")
        page.check("#f-unread")
        expect(row).to_be_visible()  # from the server's filter too
    finally:
        phone.context.close()


def test_mark_unread_goes_back_to_the_inbox_with_one_unread(page, site, browser):  # noqa: F811
    visitor = site.visitor("Mara Marked")
    visitor.say("What are your opening hours?")
    sign_in(page, site, ADMINS[0])
    page.fill("#f-search", "Mara Marked")
    expect(_row(page, "Mara Marked").locator(".unread")).to_have_text("2", timeout=15_000)
    laptop = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        sign_in(laptop, site, ADMINS[0])
        open_conversation(laptop, site, visitor.conversation_id)
        expect(_row(page, "Mara Marked").locator(".unread")).to_be_hidden()
        laptop.click("#mark-unread")
        laptop.wait_for_selector("body[data-ready=inbox]")
        laptop.fill("#f-search", "Mara Marked")
        expect(_row(laptop, "Mara Marked").locator(".unread")).to_have_text("1")
        # The other page of the account follows at once, back as well as on.
        expect(_row(page, "Mara Marked").locator(".unread")).to_have_text("1")
    finally:
        laptop.context.close()


def test_mark_all_read_clears_every_badge_on_every_page(page, site, browser):  # noqa: F811
    reader = "dora@example.com"  # an account of its own: every mark of it moves
    made = site.server.flask("users", "create", reader, "--role", "agent", "--password-stdin",
                             stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    for name in ("Alma Allread", "Bert Allread"):
        site.visitor(name).say("What are your opening hours?")
    sign_in(page, site, reader)
    page.fill("#f-search", "Allread")
    badges = page.locator(".conv-row .unread")
    expect(badges.filter(has_text="2")).to_have_count(2, timeout=15_000)
    other = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        sign_in(other, site, reader)
        other.fill("#f-search", "Allread")
        expect(other.locator(".conv-row .unread").filter(has_text="2")).to_have_count(2)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#mark-all-read")
        for p in (page, other):  # the other page of the account follows, live
            expect(p.locator(".conv-row")).to_have_count(2)
            expect(p.locator(".conv-row .unread:visible")).to_have_count(0)
    finally:
        other.context.close()


def test_a_page_scrolled_up_does_not_read_what_arrives(page, site, browser):  # noqa: F811
    """Reading an older part of a conversation is not reading the message that arrives
    meanwhile: it is read once the page is scrolled back down to it."""
    visitor = site.visitor("Sam Scrolled")
    for n in range(12):
        visitor.say(f"What are your opening hours? ({n})")
    cid = visitor.conversation_id
    sign_in(page, site, ADMINS[0])
    page.fill("#f-search", "Sam Scrolled")
    row = _row(page, "Sam Scrolled")
    expect(row.locator(".unread")).to_have_text("24", timeout=15_000)
    reader = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(reader, site, ADMINS[0])
        open_conversation(reader, site, cid)
        expect(row.locator(".unread")).to_be_hidden()
        reader.evaluate("() => { document.getElementById('stream').scrollTop = 0; }")
        visitor.say("Hello?")
        expect(row.locator(".unread")).to_be_visible(timeout=15_000)
        reader.wait_for_timeout(1000)  # a page that would mark it read has done so by now
        expect(row.locator(".unread")).to_be_visible()
        reader.evaluate("() => { const s = document.getElementById('stream');"
                        " s.scrollTop = s.scrollHeight; }")
        expect(row.locator(".unread")).to_be_hidden()
    finally:
        reader.context.close()
