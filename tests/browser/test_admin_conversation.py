"""The conversation page in Chromium: replies and their delivery states, take over and hand
back, and messages containing HTML shown as text."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    AGENT,
    open_conversation,
    sign_in,
    site,
    two_admins_on,
)

XSS = "<img src=x onerror=window.__pwned=1>"


def _send(page, text):
    page.fill("#reply-text", text)
    page.click("#reply-send")


def test_messenger_reply_turns_pending_then_sent_then_delivered(page, site):  # noqa: F811
    user = site.messenger_user()
    user.say("What are your opening hours?")
    sign_in(page, site)
    conversation_id = int(page.locator(".conv-row").first.get_attribute("data-id"))
    open_conversation(page, site, conversation_id)
    expect(page.locator("#c-window")).to_contain_text("reply window open until")
    expect(page.locator(".msg-bot")).to_have_count(1, timeout=15_000)  # the bot answered

    # Facebook is slow today: the reply stays pending a moment (the typing indicator the
    # agent's typing sends is not what is slow).
    site.graph.delay(2.0, messages_only=True)
    sent_before = len(site.graph.sent_messages())
    _send(page, "Hi, this is Ann from the shop.")
    reply = page.locator(".msg-agent", has_text="Hi, this is Ann from the shop.")
    expect(reply.locator(".delivery")).to_have_text("pending")
    expect(reply.locator(".delivery")).to_have_text("sent", timeout=15_000)
    sent = site.graph.sent_messages()[sent_before:]
    assert [m["message"]["text"] for m in sent] == ["Hi, this is Ann from the shop."]
    assert sent[0]["recipient"] == {"id": user.psid}
    expect(page.locator("#c-handled")).to_contain_text("handled by human")

    # Facebook's delivery receipt, then the read receipt, arrive by webhook.
    mid = reply.get_attribute("data-id")
    assert mid
    user.receipts([], read=False)
    expect(reply.locator(".delivery")).to_have_text("delivered")
    user.receipts([], read=True)
    expect(reply.locator(".delivery")).to_have_text("read")


def test_failed_reply_shows_the_reason_and_retry_sends_it(page, site):  # noqa: F811
    user = site.messenger_user()
    user.say("What are your opening hours?")
    sign_in(page, site)
    conversation_id = int(page.locator(".conv-row").first.get_attribute("data-id"))
    open_conversation(page, site, conversation_id)
    expect(page.locator(".msg-bot")).to_have_count(1, timeout=15_000)

    site.graph.fail(200, "Requires pages_messaging permission to manage the object",
                    messages_only=True)
    _send(page, "Can you see this?")
    reply = page.locator(".msg-agent", has_text="Can you see this?")
    expect(reply.locator(".delivery")).to_have_text("failed", timeout=15_000)
    expect(reply.locator(".delivery-error")).to_contain_text("pages_messaging")
    reply.locator(".act-retry").click()
    expect(reply.locator(".delivery")).to_have_text("sent", timeout=15_000)
    expect(reply.locator(".delivery-error")).to_be_hidden()


def test_webchat_reply_is_sent_over_the_socket(page, site):  # noqa: F811
    visitor = site.visitor("Sam Socket")
    visitor.say("hello")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    _send(page, "Hello Sam!")
    reply = page.locator(".msg-agent", has_text="Hello Sam!")
    expect(reply.locator(".delivery")).to_have_text("sent", timeout=15_000)


def test_a_reply_shows_what_it_answered_as_replied_in_every_open_page(page, site, browser):  # noqa: F811
    """The agent's reply answers the message that asked for a person (the store marks it in
    the same write): both admins' pages show it replied at once, with no reload."""
    visitor = site.visitor("Wilma Waiting")
    visitor.say("I want to talk to a real person please")
    with two_admins_on(page, browser, site, visitor.conversation_id) as other:
        for p in (page, other):
            asked = p.locator(".msg-user").first
            expect(asked).to_have_class(re.compile(r"\bflagged\b"), timeout=15_000)
            expect(asked.locator(".act-replied")).to_be_visible()

        # The nav's waiting count shows here too, and goes down once she is answered.
        badge = page.locator("#nav-waiting")
        expect(badge).to_be_visible()
        waiting = int(badge.text_content())
        expect(page).to_have_title("Wilma Waiting · Switchboard")  # the count is not in it
        _send(page, "Hi Wilma, I'm here.")
        if waiting > 1:
            expect(badge).to_have_text(str(waiting - 1))
        else:
            expect(badge).to_be_hidden()
        for p in (page, other):
            asked = p.locator(".msg-user").first
            expect(asked.locator(".flag")).to_have_text(f"replied by {ADMINS[0]}")
            expect(asked.locator(".flag")).to_have_class(re.compile(r"\banswered\b"))
            expect(asked).not_to_have_class(re.compile(r"\bflagged\b"))
            expect(asked.locator(".act-replied")).to_be_hidden()
            # Only the person's and the bot's messages offer "Flag for a human".
            expect(p.locator(".msg-agent")).to_have_count(1)
            expect(p.locator(".msg-agent .act-flag")).to_be_hidden()
            expect(p.locator(".msg-system")).to_have_count(1)  # "I'm passing you to a person…"
            expect(p.locator(".msg-system .act-flag")).to_be_hidden()
            expect(asked.locator(".act-flag")).to_be_visible()
        # The escalation left it with nobody; the one who answered has it now.
        expect(page.locator("#c-handled")).to_have_text("handled by human · you")


def test_the_activity_panel_tells_who_had_the_conversation_live_in_every_page(
        page, site, browser):  # noqa: F811
    """The bot's handover, the first answer, an assignment and closing are lines of the
    conversation's activity, newest first, in both admins' pages as they happen, named
    "you" on the page of whoever did it."""
    ann, bob = ADMINS
    visitor = site.visitor("Tessa Trail")
    visitor.say("Can I speak to a person please?")
    with two_admins_on(page, browser, site, visitor.conversation_id) as other:
        for p in (page, other):
            expect(p.locator("#activity li")).to_have_count(1, timeout=15_000)
            expect(p.locator("#activity li").first).to_contain_text(
                "The bot handed it over: Asked for a person")
            expect(p.locator("#activity-empty")).to_be_hidden()

        _send(page, "Hi Tessa, Ann here.")  # Ann answers first: it becomes hers
        expect(page.locator("#activity li").first).to_contain_text("You picked it up")
        expect(other.locator("#activity li").first).to_contain_text(f"{ann} picked it up")

        bob_id = other.evaluate("async () => (await (await fetch('/admin/me')).json()).user.id")
        other.select_option("#assign", str(bob_id))  # Bob takes it from her
        expect(other.locator("#activity li").first).to_contain_text("You picked it up")
        expect(page.locator("#activity li").first).to_contain_text(f"{bob} picked it up")

        page.click("#close")
        expect(page.locator("#activity li").first).to_contain_text("You closed it")
        expect(other.locator("#activity li").first).to_contain_text(f"{ann} closed it")
        for p in (page, other):
            expect(p.locator("#activity li")).to_have_count(4)
            kinds = p.locator("#activity li").evaluate_all("ns => ns.map(n => n.dataset.kind)")
            assert kinds == ["closed", "assigned", "assigned", "escalated"]

        # A new page reads the same trail from the API.
        page.reload()
        page.wait_for_selector("body[data-ready=conversation]")
        expect(page.locator("#activity li")).to_have_count(4)
        expect(page.locator("#activity li").last).to_contain_text("The bot handed it over")


def test_each_page_shows_who_else_has_the_conversation_open(page, site, browser):  # noqa: F811
    """Two agents on one conversation see each other ("Also here"), whoever came first;
    one's own other tab is not "someone else"; leaving the page clears it at once; and an
    inbox shows on the conversation's row who has it open, at once when opened later too."""
    ann, bob = ADMINS
    visitor = site.visitor("Petra Present")
    visitor.say("Can I speak to a person please?")
    inbox = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(inbox, site, AGENT)
    row = inbox.locator(f'.conv-row[data-id="{visitor.conversation_id}"] .row-viewers')
    expect(row).to_be_hidden()
    with two_admins_on(page, browser, site, visitor.conversation_id) as other:
        expect(page.locator("#c-viewers")).to_have_text(f"Also here: {bob}")
        expect(other.locator("#c-viewers")).to_have_text(f"Also here: {ann}")
        expect(row).to_have_text(f"{ann} and {bob} viewing")
        own_tab = page.context.new_page()
        open_conversation(own_tab, site, visitor.conversation_id)
        expect(own_tab.locator("#c-viewers")).to_have_text(f"Also here: {bob}")
        own_tab.close()
        expect(other.locator("#c-viewers")).to_have_text(f"Also here: {ann}")  # Ann's first tab

        other.goto(site.url + "/")
        expect(page.locator("#c-viewers")).to_be_hidden()
        expect(row).to_have_text(f"{ann} viewing")
        open_conversation(other, site, visitor.conversation_id)
        expect(page.locator("#c-viewers")).to_have_text(f"Also here: {bob}")
        # An inbox opened now asks who is where, and learns it in about a second, not
        # at the pages' next heartbeat (up to 25 s).
        late = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        sign_in(late, site, AGENT)
        late_row = late.locator(f'.conv-row[data-id="{visitor.conversation_id}"] .row-viewers')
        expect(late_row).to_have_text(f"{ann} and {bob} viewing", timeout=5_000)
        late.context.close()
    expect(row).to_have_text(f"{ann} viewing")  # Bob's browser closed
    page.goto(site.url + "/settings")
    expect(row).to_be_hidden()
    inbox.context.close()


def test_a_note_for_the_team_shows_live_as_text_and_is_never_sent(page, site, browser):  # noqa: F811
    user = site.messenger_user()
    user.say("What are your opening hours?")
    sign_in(page, site)
    conversation_id = int(page.locator(".conv-row").first.get_attribute("data-id"))
    page.context.clear_cookies()
    with two_admins_on(page, browser, site, conversation_id) as other:
        expect(page.locator(".msg-bot")).to_have_count(1, timeout=15_000)
        sent_before = len(site.graph.sent_messages())
        note = f"Asked twice already {XSS}\ncall back after 5pm"
        page.fill("#note-text", note)
        page.click("#note-add")
        expect(page.locator("#note-text")).to_have_value("")
        for p, who in ((page, "You"), (other, ADMINS[0])):
            line = p.locator("#activity li.note")
            expect(line).to_have_count(1)
            expect(line.locator(".what")).to_have_text(f"{who}: {note}")
            assert p.locator("#activity img").count() == 0
        page.wait_for_timeout(1500)
        assert len(site.graph.sent_messages()) == sent_before  # the person never gets it
        expect(page.locator(".msg")).to_have_count(2)  # and it is not a message
        # A blank note is not sent.
        page.fill("#note-text", "   ")
        page.click("#note-add")
        page.wait_for_timeout(500)
        expect(page.locator("#activity li.note")).to_have_count(1)
        # Enter is a new line; Ctrl+Enter adds the note.
        page.fill("#note-text", "")
        page.type("#note-text", "first line")
        page.keyboard.press("Enter")
        page.keyboard.type("second line")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#activity li.note")).to_have_count(2)
        expect(page.locator("#activity li.note").first.locator(".what")).to_have_text(
            "You: first line\nsecond line")

        # A long trail shows its newest 20 lines; "Show earlier activity" reads the rest.
        page.evaluate("""async (id) => {
            const { api } = await import('/static/js/common.js');
            for (let i = 1; i <= 21; i++) {
                await api(`/admin/conversations/${id}/notes`, { method: 'POST',
                                                                json: { text: `n${i}` } });
            }
        }""", conversation_id)
        expect(other.locator("#activity li.note")).to_have_count(23)  # live, all of them
        page.reload()
        page.wait_for_selector("body[data-ready=conversation]")
        expect(page.locator("#activity li")).to_have_count(20)
        expect(page.locator("#activity li").first).to_contain_text("You: n21")
        page.click("#activity-older")
        expect(page.locator("#activity li")).to_have_count(23)
        expect(page.locator("#activity li").last).to_contain_text("Asked twice already")
        expect(page.locator("#activity-older")).to_be_hidden()
    assert page.evaluate("() => window.__pwned === undefined")


def test_its_author_edits_a_note_and_an_admin_deletes_it_live(page, site, browser):  # noqa: F811
    visitor = site.visitor("Nora Notes")
    visitor.say("What are your opening hours?")
    cid = visitor.conversation_id
    with two_admins_on(page, browser, site, cid) as other:
        page.fill("#note-text", "refund aproved")
        page.keyboard.press("Control+Enter")
        mine, theirs = page.locator("#activity li.note"), other.locator("#activity li.note")
        expect(theirs.locator(".what")).to_have_text(f"{ADMINS[0]}: refund aproved")
        # Its author may edit and delete it; another admin only delete it.
        expect(mine.locator("button")).to_have_text(["Edit", "Delete"])
        expect(theirs.locator("button")).to_have_text(["Delete"])

        # Edit puts it in the box; Esc goes back to the note being written before.
        page.fill("#note-text", "half written")
        mine.locator(".note-edit").click()
        expect(page.locator("#note-text")).to_have_value("refund aproved")
        expect(page.locator("#note-add")).to_have_text("Save note")
        page.keyboard.press("Escape")
        expect(page.locator("#note-text")).to_have_value("half written")
        expect(page.locator("#note-cancel")).to_be_hidden()
        mine.locator(".note-edit").click()
        page.fill("#note-text", "refund approved")
        page.click("#note-add")
        expect(page.locator("#note-text")).to_have_value("half written")
        expect(page.locator("#note-add")).to_have_text("Add note")
        expect(mine.locator(".what")).to_have_text("You: refund approved (edited)")
        expect(theirs.locator(".what")).to_have_text(f"{ADMINS[0]}: refund approved (edited)")
        expect(theirs).to_have_count(1)

        # The other admin deletes it, after saying yes: the line stays, its text is gone.
        other.once("dialog", lambda dialog: dialog.dismiss())
        theirs.locator(".note-delete").click()
        expect(theirs.locator(".what")).to_contain_text("refund approved")
        other.once("dialog", lambda dialog: dialog.accept())
        theirs.locator(".note-delete").click()
        expect(theirs.locator(".what")).to_have_text(f"You deleted a note by {ADMINS[0]}")
        expect(mine.locator(".what")).to_have_text(f"{ADMINS[1]} deleted a note by you")
        expect(mine.locator("button")).to_have_count(0)
        assert "refund approved" not in page.locator("#activity").inner_text()

    # An agent sees another's note with no buttons.
    agent = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        page.fill("#note-text", "ask about the size")
        page.click("#note-add")
        sign_in(agent, site, AGENT)
        open_conversation(agent, site, cid)
        note = agent.locator("#activity li.note", has_text="ask about the size")
        expect(note).to_have_count(1)
        expect(note.locator("button")).to_have_count(0)
    finally:
        agent.context.close()


def test_take_over_and_hand_back_change_who_answers(page, site):  # noqa: F811
    visitor = site.visitor("Hugo Handoff")
    visitor.say("What are your opening hours?")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    expect(page.locator(".msg-bot")).to_have_count(1, timeout=15_000)
    expect(page.locator("#c-handled")).to_have_text("handled by bot")

    page.click("#take-over")
    expect(page.locator("#c-handled")).to_have_text("handled by human · you")
    expect(page.locator("#take-over")).to_be_hidden()
    visitor.say("How long does shipping take?")
    expect(page.locator(".msg-user")).to_have_count(2)
    page.wait_for_timeout(2000)
    expect(page.locator(".msg-bot")).to_have_count(1)  # the bot stays silent

    page.click("#hand-back")
    expect(page.locator("#c-handled")).to_have_text("handled by bot")
    expect(page.locator("#assign")).to_have_value("")
    visitor.say("What are your opening hours?")
    expect(page.locator(".msg-bot")).to_have_count(2, timeout=15_000)  # the bot answers again


def test_html_from_people_is_shown_as_text_and_never_run(page, site):  # noqa: F811
    visitor = site.visitor(f"Mallory {XSS}")
    visitor.say(f"hello {XSS} <script>window.__pwned=2</script>")
    user = site.messenger_user()
    user.say(f"{XSS}<b>bold?</b>")
    sign_in(page, site)
    row = page.locator(".conv-row", has=page.locator(".name", has_text="Mallory"))
    expect(row.locator(".name")).to_have_text(f"Mallory {XSS}")
    assert page.locator(".conv-list img, .conv-list b, .conv-list script").count() == 0

    open_conversation(page, site, visitor.conversation_id)
    first = page.locator(".msg-user").first
    expect(first.locator(".text")).to_have_text(f"hello {XSS} <script>window.__pwned=2</script>")
    expect(page.locator("#c-name")).to_have_text(f"Mallory {XSS}")
    assert page.locator(".messages img, .messages script, .messages b").count() == 0

    # Named as someone with no name is: the end of the PSID (the whole PSID matched only
    # while the test counter kept it at 6 characters or fewer).
    label = re.compile(f"^Messenger user {re.escape(user.psid[-6:])}$")
    messenger_row = page.locator(".conv-row", has=page.locator(".name", has_text=label))
    page.goto(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    open_conversation(page, site, int(messenger_row.get_attribute("data-id")))
    expect(page.locator(".msg-user").first.locator(".text")).to_have_text(f"{XSS}<b>bold?</b>")
    assert page.locator(".messages img, .messages b").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned === undefined")


def test_send_and_close_sends_the_last_word_then_closes(page, site):  # noqa: F811
    visitor = site.visitor("Sandra Sendclose")
    visitor.say("I want to talk to a human")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    page.click("#reply-close")  # nothing written: nothing sent, nothing closed
    page.wait_for_timeout(500)  # a close asked for would be answered by now
    expect(page.locator("#c-status")).to_have_text("active")
    page.fill("#reply-text", "Glad I could help, have a good day!")
    page.click("#reply-close")
    expect(page.locator(".msg-agent", has_text="Glad I could help")).to_be_visible()
    expect(page.locator("#c-status")).to_have_text("closed")
    expect(page.locator("#reply-text")).to_be_disabled()
    expect(page.locator("#reply-close")).to_be_disabled()
    expect(page.locator("#reopen")).to_be_visible()
