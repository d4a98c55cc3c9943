"""Deleting conversations in Chromium: an admin's "Delete…" on the conversation page (this
conversation, or every one of its person), after a dialog that Esc and Cancel leave with
nothing deleted, back to the inbox with a notice; agents have no such button; the other
admin pages follow at once (the conversation page says it was deleted and asks nothing
more, the inbox drops the row and its count); the visitor's widget forgets the deleted
conversation and their next message opens a new one, nothing typed lost; axe on the dialog.

The module shares one site (``site``); each test makes its own people."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.test_accessibility import _check, checked  # noqa: F401  (a fixture)
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    AGENT,
    open_conversation,
    screenshot,
    sign_in,
    site,
    two_admins_on,
)


# -- the team, through the admin API (an API token), and what the pages show -------------------
@pytest.fixture(scope="module")
def token(site):  # noqa: F811
    """An API token's headers for the first admin."""
    out = site.server.flask("tokens", "create", ADMINS[0], "--name", "deletion")
    assert out.returncode == 0, out.stderr
    return {"Authorization": f"Bearer {out.stdout.strip().split()[-1]}"}


def _status(site, token, cid):  # noqa: F811
    """The admin API's status for the conversation: 200 while it is kept, 404 once deleted."""
    return requests.get(f"{site.url}/admin/conversations/{cid}?limit=1", headers=token,
                        timeout=10).status_code


def _admin(site, token, method, path):  # noqa: F811
    answer = requests.request(method, site.url + path, headers=token, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _row(page, cid):
    return page.locator(f".conv-row[data-id='{cid}']")


def _toast(page, text):
    return page.locator("#toasts .toast", has_text=text)


def _deletes(page):
    """The DELETE requests the page makes, as they are made."""
    made = []
    page.on("request", lambda r: made.append(r.url) if r.method == "DELETE" else None)
    return made


def _open_dialog(page):
    page.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


# -- deleting from the conversation page ------------------------------------------------------
def test_an_admin_deletes_a_conversation_and_lands_on_the_inbox(page, site, token):  # noqa: F811
    dora = site.visitor("Dora Deleted")
    dora.say("hello")
    cid = dora.conversation_id
    kim = site.visitor("Kim Kept")
    kim.say("hello")
    sign_in(page, site)
    expect(_row(page, cid)).to_be_visible()
    open_conversation(page, site, cid)
    deletes = _deletes(page)

    dialog = _open_dialog(page)
    expect(dialog).to_have_accessible_name("Delete the conversation with Dora Deleted?")
    expect(dialog).to_contain_text("This cannot be undone.")
    expect(page.locator("#delete-cancel")).to_be_focused()  # the safe choice first
    # Her only conversation: one way to delete it, not "all 1 conversations".
    expect(dialog.get_by_role("button", name="Delete this conversation")).to_be_visible()
    expect(page.locator("#delete-person")).to_be_hidden()
    # Tab keeps to the dialog (the page behind is inert while it is open).
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.getElementById('delete-dialog')"
                             ".contains(document.activeElement)")

    dialog.get_by_role("button", name="Delete this conversation").click()
    page.wait_for_url(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    expect(_toast(page, "Conversation deleted")).to_contain_text(
        "The conversation with Dora Deleted")
    expect(_row(page, cid)).to_have_count(0)
    expect(_row(page, kim.conversation_id)).to_be_visible()
    assert deletes == [f"{site.url}/admin/conversations/{cid}"]
    assert _status(site, token, cid) == 404
    assert _status(site, token, kim.conversation_id) == 200
    # The notice is the one page's: a reload of the inbox says nothing more.
    page.reload()
    page.wait_for_selector("body[data-ready=inbox]")
    expect(_row(page, kim.conversation_id)).to_be_visible()
    expect(_toast(page, "deleted")).to_have_count(0)


def test_every_conversation_of_the_person_goes_and_anothers_stay(page, site, token):  # noqa: F811
    paul = site.visitor("Paul Person")
    paul.say("hello")
    first = paul.conversation_id
    _admin(site, token, "POST", f"/admin/conversations/{first}/close")
    paul.say("hello again")  # the first is closed: this opens his second
    second = paul.conversation_id
    assert second != first
    olive = site.visitor("Olive Other")
    olive.say("hello")
    sign_in(page, site)
    open_conversation(page, site, second)

    dialog = _open_dialog(page)
    everything = dialog.get_by_role("button", name="Delete all 2 conversations of this person")
    expect(everything).to_be_visible()
    expect(dialog).to_contain_text("Paul Person has 2 conversations here, closed ones included.")
    everything.click()
    page.wait_for_selector("body[data-ready=inbox]")
    expect(_toast(page, "2 conversations deleted")).to_contain_text(
        "Every conversation of Paul Person")
    for cid in (first, second):
        expect(_row(page, cid)).to_have_count(0)
        assert _status(site, token, cid) == 404
    expect(_row(page, olive.conversation_id)).to_be_visible()
    assert _status(site, token, olive.conversation_id) == 200


def test_an_agent_has_no_delete_button_and_the_server_refuses_them(page, site, token):  # noqa: F811
    anna = site.visitor("Anna Agentview")
    anna.say("hello")
    cid = anna.conversation_id
    sign_in(page, site, AGENT)
    open_conversation(page, site, cid)
    expect(page.locator("#take-over")).to_be_visible()  # the page is there, with its actions
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    expect(page.locator("#delete-open, #delete-dialog")).to_have_count(0)
    refused = page.evaluate("""(id) => fetch(`/admin/conversations/${id}`, {
        method: "DELETE", credentials: "same-origin", headers: {Accept: "application/json",
        "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content}})
        .then((r) => r.status)""", cid)
    assert refused == 403
    assert _status(site, token, cid) == 200


def test_esc_and_cancel_delete_nothing_and_a_refusal_keeps_the_page(page, site, token):  # noqa: F811
    carla = site.visitor("Carla Cancel")
    carla.say("hello")
    cid = carla.conversation_id
    sign_in(page, site)
    open_conversation(page, site, cid)
    deletes = _deletes(page)
    opener = page.get_by_role("button", name="Delete…")

    dialog = _open_dialog(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()  # back where it was opened from

    dialog = _open_dialog(page)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    assert deletes == []
    assert _status(site, token, cid) == 200

    # The server refuses: its words show in the dialog, and the page stays as it was.
    page.route(f"**/admin/conversations/{cid}", lambda route: route.fulfill(
        status=503, json={"success": False, "error": "the store is unavailable; try again"})
        if route.request.method == "DELETE" else route.fallback())
    dialog = _open_dialog(page)
    dialog.get_by_role("button", name="Delete this conversation").click()
    expect(dialog.get_by_role("alert")).to_have_text("the store is unavailable; try again")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Delete this conversation")).to_be_enabled()
    assert page.url == f"{site.url}/conversations/{cid}"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#c-deleted")).to_be_hidden()
    expect(page.locator("#reply-text")).to_be_enabled()
    assert len(deletes) == 1
    assert _status(site, token, cid) == 200


# -- the other pages follow ----------------------------------------------------------------
def test_the_other_pages_follow_a_deletion_at_once(page, site, browser, token):  # noqa: F811
    wes = site.visitor("Wes Waiting")
    wes.say("I want to talk to a person please")
    cid = wes.conversation_id
    inbox = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(inbox, site, AGENT)  # an agent's inbox follows too
        row = _row(inbox, cid)
        expect(row.locator(".human-badge")).to_be_visible(timeout=15_000)
        waiting = inbox.locator("#nav-waiting")
        expect(waiting).to_be_visible()
        before = int(waiting.text_content())
        with two_admins_on(page, browser, site, cid) as other:
            expect(page.locator(".msg-user")).to_have_count(1)
            page.fill("#reply-text", "Hello Wes, one moment")
            deletes = _deletes(page)

            # The second admin deletes it from their page.
            _open_dialog(other).get_by_role("button", name="Delete this conversation").click()
            other.wait_for_selector("body[data-ready=inbox]")

            notice = page.locator("#c-deleted")
            expect(notice).to_be_visible()
            asked = []  # what the first page asks about the conversation from now on
            about = re.compile(rf"/conversations/{cid}(\D|$)")
            page.on("request", lambda r: asked.append(r.url) if about.search(r.url) else None)
            expect(notice).to_contain_text("This conversation was deleted.")
            expect(notice.get_by_role("link", name="Back to the inbox")).to_have_attribute(
                "href", "/")
            for control in ("#reply-text", "#reply-send", "#hand-back", "#mark-unread",
                            "#close", "#assign", "#tag-input", "#note-text", "#note-add",
                            "#delete-open"):
                expect(page.locator(control)).to_be_disabled()
            expect(page.locator(".msg-user .act-replied").first).to_be_disabled()
            expect(page.locator("#reply-text")).to_have_value("Hello Wes, one moment")
            # The inbox dropped the row, and the conversation no longer waits for a human.
            expect(row).to_have_count(0)
            for badge in (waiting, page.locator("#nav-waiting")):
                if before > 1:
                    expect(badge).to_have_text(str(before - 1))
                else:
                    expect(badge).to_be_hidden()

            # A reconnect re-reads the page's other figures, nothing about the conversation.
            with page.expect_request("**/admin/stats"):
                page.evaluate("() => { window.__adminSocket.disconnect();"
                              " window.__adminSocket.connect(); }")
            expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
            assert asked == [] and deletes == []
            expect(notice).to_be_visible()
            expect(page.locator("#reply-text")).to_be_disabled()
            screenshot(page, "test_deletion_the_deleted_notice")
        assert _status(site, token, cid) == 404
    finally:
        inbox.context.close()


# -- the visitor's widget -------------------------------------------------------------------
def _open_chat(page, site):  # noqa: F811
    page.goto(site.url + "/chat/demo")
    page.locator(".sb-bubble").click()
    expect(page.locator(".sb-panel")).to_be_visible()
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "connected",
                                                         timeout=15_000)


def _send(page, text):
    page.locator(".sb-input").fill(text)
    page.locator(".sb-input").press("Enter")


def _widget_state(page):
    return page.evaluate("""() => JSON.parse(localStorage.getItem(
        "switchboard-chat:" + location.origin))""")


def _contents(site, token, cid):  # noqa: F811
    return [m["content"] for m in
            _admin(site, token, "GET", f"/admin/conversations/{cid}")["messages"]]


def test_the_widget_forgets_a_deleted_conversation_and_the_next_message_opens_one(
        page, site, token):  # noqa: F811
    _open_chat(page, site)
    _send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15_000)
    old = _widget_state(page)["conversationId"]
    assert isinstance(old, int)

    deleted = _admin(site, token, "DELETE", f"/admin/conversations/{old}")
    assert deleted["deleted"] == [old]
    # The thread goes at once; the greeting stays.
    expect(page.locator(".sb-msg[data-id]")).to_have_count(0)
    expect(page.locator(".sb-greeting")).to_be_visible()
    expect(page.locator(".sb-divider")).to_have_count(0)
    expect(page.locator(".sb-banner")).to_be_hidden()
    assert page.evaluate("""() => { const s = JSON.parse(localStorage.getItem(
        "switchboard-chat:" + location.origin)); return [s.conversationId, s.lastId]; }""") \
        == [None, 0]

    _send(page, "Do you ship abroad?")
    expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["Do you ship abroad?"], timeout=15_000)
    expect(page.locator(".sb-pending")).to_have_count(0)
    new = _widget_state(page)["conversationId"]
    assert isinstance(new, int) and new != old
    assert _contents(site, token, new)[0] == "Do you ship abroad?"
    assert _status(site, token, old) == 404
    # Replies of the new conversation reach the widget as before.
    answer = requests.post(f"{site.url}/admin/conversations/{new}/messages", headers=token,
                           json={"content": "Yes, to most countries."}, timeout=10)
    assert answer.status_code == 201, answer.text
    expect(page.locator(".sb-from-agent")).to_contain_text("Yes, to most countries.",
                                                           timeout=15_000)


def test_an_earlier_conversation_shown_above_the_new_one_goes_and_the_new_one_stays(
        page, site, token):  # noqa: F811
    _open_chat(page, site)
    _send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15_000)
    old = _widget_state(page)["conversationId"]
    _admin(site, token, "POST", f"/admin/conversations/{old}/close")
    expect(page.locator(".sb-rating")).to_be_visible(timeout=15_000)
    _send(page, "Do you ship abroad?")  # a new conversation, below a divider
    expect(page.locator(".sb-divider")).to_have_text("New conversation", timeout=15_000)
    expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["What are your opening hours?", "Do you ship abroad?"], timeout=15_000)
    new = _widget_state(page)["conversationId"]
    assert isinstance(new, int) and new != old
    # The bot's answer in the new conversation first: counted after it, nothing more comes.
    expect(page.locator(f".sb-from-bot[data-conversation='{new}']")).to_contain_text(
        "Orders ship", timeout=15_000)
    shown_new = page.locator(f".sb-msg[data-conversation='{new}']").count()
    assert shown_new >= 2

    _admin(site, token, "DELETE", f"/admin/conversations/{old}")
    # The earlier thread and its divider go; the new conversation stays as it was.
    expect(page.locator(f".sb-msg[data-conversation='{old}']")).to_have_count(0)
    expect(page.locator(".sb-divider")).to_have_count(0)
    expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["Do you ship abroad?"])
    expect(page.locator(".sb-msg[data-id]")).to_have_count(shown_new)
    assert _widget_state(page)["conversationId"] == new
    # It still works: an agent's reply of the new one arrives.
    answer = requests.post(f"{site.url}/admin/conversations/{new}/messages", headers=token,
                           json={"content": "Yes, to most countries."}, timeout=10)
    assert answer.status_code == 201, answer.text
    expect(page.locator(".sb-from-agent")).to_contain_text("Yes, to most countries.",
                                                           timeout=15_000)


def test_the_rating_card_of_a_deleted_conversation_goes_with_it(page, site, token):  # noqa: F811
    _open_chat(page, site)
    _send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15_000)
    cid = _widget_state(page)["conversationId"]
    _admin(site, token, "POST", f"/admin/conversations/{cid}/close")
    card = page.locator(".sb-rating")
    expect(card).to_be_visible(timeout=15_000)

    _admin(site, token, "DELETE", f"/admin/conversations/{cid}")
    expect(card).to_be_hidden()
    expect(page.locator(".sb-msg[data-id]")).to_have_count(0)
    expect(page.locator(".sb-banner")).to_be_hidden()  # "was closed" was about it too
    assert _widget_state(page)["conversationId"] is None


def test_a_message_sent_to_a_deleted_conversation_opens_a_new_one(page, site, token):  # noqa: F811
    """Without the Socket.IO client the widget sends over HTTP to the conversation it
    remembers: a 404 for it (deleted while the widget did not hear of it) makes it forget
    the conversation, and the message goes again, the first of a new one."""
    page.route("**/chat/static/vendor/socket.io.min.js", lambda route: route.abort())
    _open_chat(page, site)
    _send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15_000)
    old = _widget_state(page)["conversationId"]
    # The widget's polling must not learn of the deletion first: the send is what hits it.
    page.route(f"**/chat/{old}/history*", lambda route: route.fulfill(
        json={"messages": [], "count": 0, "conversation": None}))
    answers = []
    page.on("response", lambda r: answers.append((r.request.method, r.url, r.status))
            if "/chat/" in r.url and r.request.method == "POST" else None)
    _admin(site, token, "DELETE", f"/admin/conversations/{old}")

    _send(page, "Where is my parcel?")
    expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["Where is my parcel?"], timeout=15_000)
    new = _widget_state(page)["conversationId"]
    assert isinstance(new, int) and new != old
    assert ("POST", f"{site.url}/chat/{old}/messages", 404) in answers
    assert ("POST", f"{site.url}/chat/messages", 201) in answers
    assert _contents(site, token, new)[0] == "Where is my parcel?"
    assert _widget_state(page)["outbox"] == []


def test_what_was_typed_offline_opens_a_new_conversation_when_the_old_one_was_deleted(
        page, site, token):  # noqa: F811
    """Deleted while the widget was offline (it heard no `deleted`): back online, its
    reconnect names a conversation that is gone, so it forgets it, and the message typed
    meanwhile is the first of a new one."""
    _open_chat(page, site)
    _send(page, "What are your opening hours?")
    expect(page.locator(".sb-from-bot[data-id]")).to_contain_text("Monday", timeout=15_000)
    old = _widget_state(page)["conversationId"]
    page.context.set_offline(True)
    expect(page.locator(".sb-status")).to_have_attribute("data-state", "reconnecting",
                                                         timeout=30_000)
    _admin(site, token, "DELETE", f"/admin/conversations/{old}")
    _send(page, "Typed while offline")
    expect(page.locator(".sb-pending")).to_contain_text("Waiting for connection")
    assert [i["content"] for i in _widget_state(page)["outbox"]] == ["Typed while offline"]

    page.context.set_offline(False)
    expect(page.locator(".sb-from-user[data-id] .sb-text")).to_have_text(
        ["Typed while offline"], timeout=30_000)
    expect(page.locator(".sb-from-bot[data-id]", has_text="Monday")).to_have_count(0)
    new = _widget_state(page)["conversationId"]
    assert isinstance(new, int) and new != old
    assert _contents(site, token, new)[0] == "Typed while offline"
    assert _widget_state(page)["outbox"] == []


# -- accessibility ------------------------------------------------------------------------
def test_the_dialog_and_the_deleted_notice_have_no_accessibility_violations(
        checked, site, token):  # noqa: F811
    page = checked
    ida = site.visitor("Ida Inspect")
    ida.say("hello")
    cid = ida.conversation_id
    _admin(site, token, "POST", f"/admin/conversations/{cid}/close")
    ida.say("hello again")  # two conversations: both choices in the dialog
    sign_in(page, site)
    open_conversation(page, site, ida.conversation_id)
    dialog = _open_dialog(page)
    expect(dialog.get_by_role("button", name="Delete all 2 conversations of this person")) \
        .to_be_visible()
    _check(page, "conversation, the delete dialog open")
    dialog.get_by_role("button", name="Cancel").click()
    _admin(site, token, "DELETE", f"/admin/conversations/{ida.conversation_id}?person=true")
    expect(page.locator("#c-deleted")).to_be_visible()
    _check(page, "conversation, deleted")
