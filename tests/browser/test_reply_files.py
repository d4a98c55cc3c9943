"""Files in an agent's reply, in Chromium: chosen with "Attach" or pasted into the reply
box, each shown as a chip while and after it uploads (and removable), sent with the text or
alone, shown in the conversation; a file over the limit is refused before it is sent."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_accessibility import _check, checked  # noqa: F401  (a fixture)
from tests.browser.test_widget import open_chat
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    open_conversation,
    page_api,
    sign_in,
    site,
    wait_until,
)
from tests.support.images import tiny_png

PNG = tiny_png()
PDF = b"%PDF-1.4\n" + b"q" * 3000

IMAGES_SHOWN = """(sel) => [...document.querySelectorAll(sel)]
    .map((img) => img.complete && img.naturalWidth)"""


def test_an_agent_sends_files_with_a_reply_and_alone(page, site):  # noqa: F811
    visitor = site.visitor("Filed Person")
    visitor.say("Could you send me a photo of the shelf?")
    cid = visitor.conversation_id
    sign_in(page, site)
    open_conversation(page, site, cid)

    # Two files chosen with Attach: a chip each, with its size, once uploaded.
    page.set_input_files("#reply-file", files=[
        {"name": "shelf.png", "mimeType": "image/png", "buffer": PNG},
        {"name": "quote.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    chips = page.locator("#reply-files .reply-file")
    expect(chips).to_have_count(2)
    expect(page.locator("#reply-files .reply-file.uploading")).to_have_count(0)
    expect(chips.nth(0)).to_contain_text("shelf.png")
    expect(chips.nth(1)).to_contain_text("quote.pdf")
    expect(chips.nth(1)).to_contain_text("3 KB")
    # The quote was a mistake: its × takes it off.
    page.click("#reply-files button[aria-label='Remove quote.pdf']")
    expect(chips).to_have_count(1)

    page.fill("#reply-text", "Here is the shelf.")
    page.press("#reply-text", "Enter")
    sent = page.locator("#messages .msg", has_text="Here is the shelf.")
    expect(sent).to_be_visible()
    expect(sent.locator(".attachments img")).to_have_count(1)
    wait_until(page, IMAGES_SHOWN + ".every((w) => w === 24)",
               "#messages .msg[data-sender=agent] .attachments img")
    expect(chips).to_have_count(0)
    expect(page.locator("#reply-files")).to_be_hidden()
    stored = page_api(page, "GET", f"/admin/conversations/{cid}/messages")["messages"][-1]
    assert stored["content"] == "Here is the shelf."
    assert [(a["type"], a["name"]) for a in stored["attachments"]] == [("image", "shelf.png")]

    # A screenshot pasted into the empty reply box goes alone: no text line, its link.
    page.evaluate("""([bytes]) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "receipt.pdf", { type: "application/pdf" }));
        document.querySelector("#reply-text").dispatchEvent(
            new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }""", [list(PDF)])
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("receipt.pdf")
    expect(page.locator("#reply-files .reply-file.uploading")).to_have_count(0)
    expect(page.locator("#reply-text")).to_have_value("")
    page.press("#reply-text", "Enter")
    link = page.locator("#messages .msg[data-sender=agent] .attachments a",
                        has_text="receipt.pdf")
    expect(link).to_have_text(re.compile(r"📎 receipt\.pdf \(3 KB\)"))
    assert re.search(r"/files/[0-9a-f-]{36}/receipt\.pdf$", link.get_attribute("href"))
    last = page.locator("#messages .msg[data-sender=agent]").last
    expect(last.locator(".text")).to_be_hidden()
    expect(chips).to_have_count(0)
    # The inbox names the file for a message without text.
    listed = page_api(page, "GET", "/admin/conversations?q=Filed")["conversations"]
    assert listed[0]["last_message_preview"] == "📎 receipt.pdf"


def test_a_file_over_the_limit_is_refused_before_it_is_sent(page, site):  # noqa: F811
    visitor = site.visitor("Heavy Person")
    visitor.say("Send me the catalogue")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    limit = int(page.locator("body").get_attribute("data-upload-max"))
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/files") else None)
    page.set_input_files("#reply-file", files=[
        {"name": "catalogue.pdf", "mimeType": "application/pdf", "buffer": b"x" * (limit + 1)}])
    expect(page.locator("#reply-error")).to_have_text(
        "catalogue.pdf is larger than 10.0 MB, the most a file may be.")
    expect(page.locator("#reply-error")).to_be_visible()
    expect(page.locator("#reply-files .reply-file")).to_have_count(0)
    # An empty one, likewise; neither reached the server.
    page.set_input_files("#reply-file", files=[
        {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""}])
    expect(page.locator("#reply-error")).to_have_text("empty.txt is empty.")
    assert uploads == []
    # Enter with nothing to send sends nothing.
    count = page.locator("#messages .msg").count()
    page.press("#reply-text", "Enter")
    page.wait_for_timeout(300)
    expect(page.locator("#messages .msg")).to_have_count(count)


def test_a_visitors_photo_reaches_the_agent_as_the_image_it_is(page, site):  # noqa: F811
    visitor = site.visitor("Photo Person")
    visitor.send_file("scratched lamp.png", tiny_png(50, 40, b"\xc0\x80\x40"), "image/png")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    theirs = page.locator("#messages .msg[data-sender=user]").last
    expect(theirs.locator(".attachments img")).to_have_attribute("alt", "scratched lamp.png")
    wait_until(page, IMAGES_SHOWN + ".every((w) => w === 50)",
               "#messages .msg[data-sender=user] .attachments img")
    expect(theirs.locator(".text")).to_be_hidden()
    # The FAQ bot reads words only: the photo went straight to a person, and the bot said
    # nothing about it.
    expect(theirs).to_contain_text("Sent a file the bot cannot read: scratched lamp.png")
    expect(page.locator("#messages .msg[data-sender=bot]")).to_have_count(0)


def test_a_file_dropped_on_the_reply_box_is_attached(page, site):  # noqa: F811
    visitor = site.visitor("Dropped Person")
    visitor.say("Can you send the manual?")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    form = page.locator("#reply-form")
    outlined = page.evaluate("""([bytes]) => {
        const form = document.querySelector("#reply-form");
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "manual.pdf", { type: "application/pdf" }));
        form.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true,
                                                       cancelable: true }));
        const during = form.classList.contains("dropping");
        form.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true,
                                                   cancelable: true }));
        return during;
    }""", [list(PDF)])
    assert outlined  # the box says it takes the file while it is dragged over it
    expect(form).not_to_have_class(re.compile(r"\\bdropping\\b"))
    chip = page.locator("#reply-files .reply-file")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("manual.pdf")
    expect(page.locator("#reply-files .reply-file.uploading")).to_have_count(0)
    page.click("#reply-send")
    expect(page.locator("#messages .msg[data-sender=agent] .attachments a",
                        has_text="manual.pdf")).to_be_visible()


def test_files_in_the_panel_and_the_widget_have_no_accessibility_violations(checked, site):  # noqa: F811
    page = checked
    visitor = site.visitor("Axe Files")
    visitor.send_file("shelf photo.png", tiny_png(40, 30), "image/png")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    page.set_input_files("#reply-file", files=[
        {"name": "quote.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.locator("#reply-files .reply-file")).to_have_count(1)
    expect(page.locator("#reply-files .reply-file.uploading")).to_have_count(0)
    _check(page, "conversation, a visitor's photo and a file to send")
    page.press("#reply-text", "Enter")
    expect(page.locator("#messages .msg[data-sender=agent] .attachments a")).to_have_count(1)
    _check(page, "conversation, a file sent")

    widget = page.context.new_page()
    open_chat(widget, site.server)
    widget.locator(".sb-compose input[type=file]").set_input_files(files=[
        {"name": "lamp.png", "mimeType": "image/png", "buffer": tiny_png(30, 20)}])
    expect(widget.locator(".sb-from-user[data-id] img.sb-image")).to_have_count(1)
    _check(widget, "widget, a visitor's image and the paperclip")


def test_video_and_audio_play_in_the_conversation(page, site):  # noqa: F811
    visitor = site.visitor("Media Person")
    visitor.send_file("unboxing.mp4", b"\x00\x00\x00\x18ftypmp42" + b"v" * 500, "video/mp4")
    visitor.send_file("voice note.mp3", b"ID3" + b"a" * 500, "audio/mpeg")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    video = page.locator("#messages .attachments video")
    audio = page.locator("#messages .attachments audio")
    expect(video).to_have_count(1)
    expect(audio).to_have_count(1)
    for player, name in ((video, "unboxing.mp4"), (audio, "voice note.mp3")):
        expect(player).to_have_attribute("controls", "")
        expect(player).to_have_attribute("aria-label", name)
        src = player.get_attribute("src")
        assert re.search(r"/files/[0-9a-f-]{36}/", src), src
        # The link beside it opens or saves the same file.
        link = player.locator("xpath=following-sibling::a")
        expect(link).to_have_attribute("href", src)
        expect(link).to_contain_text(name)


def test_a_file_the_server_refuses_says_why_and_is_not_sent(page, site):  # noqa: F811
    visitor = site.visitor("Closed Person")
    visitor.say("Thanks, that is all")
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    # Closed from another tab meanwhile: the page follows (no Attach), and a file given to
    # the input anyway is refused by the server, with its reason, and stays unsent.
    page_api(page, "POST", f"/admin/conversations/{visitor.conversation_id}/close")
    expect(page.locator("#reply-attach")).to_be_disabled()
    page.set_input_files("#reply-file", files=[
        {"name": "late.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    chip = page.locator("#reply-files .reply-file")
    expect(chip).to_have_class(re.compile(r"\bfailed\b"))
    expect(chip).to_contain_text("not uploaded")
    expect(page.locator("#reply-error")).to_have_text(
        "late.pdf: the conversation is closed: reopen it to reply")
    page.wait_for_timeout(300)  # and it stays: the end of the upload does not hide it
    expect(page.locator("#reply-error")).to_be_visible()
    page.click("#reply-files button[aria-label='Remove late.pdf']")
    expect(chip).to_have_count(0)
    expect(page.locator("#reply-error")).to_be_hidden()


def test_the_files_of_a_reply_are_kept_in_its_draft(page, site):  # noqa: F811
    """Attached and not sent: after a reload they are still attached (the draft keeps
    them, with the text), the inbox counts a draft of files alone, one taken off stays off,
    and sending the reply empties the draft."""
    visitor = site.visitor("Drafted Files")
    visitor.say("Can I see the lamp?")
    cid = visitor.conversation_id
    sign_in(page, site)
    open_conversation(page, site, cid)
    page.set_input_files("#reply-file", files=[
        {"name": "lamp.png", "mimeType": "image/png", "buffer": PNG},
        {"name": "manual.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    chips = page.locator("#reply-files .reply-file")
    expect(chips).to_have_count(2)
    expect(page.locator("#reply-files .reply-file.uploading")).to_have_count(0)

    page.reload()
    page.wait_for_selector("body[data-ready=conversation]")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_contain_text("lamp.png")
    expect(chips.nth(1)).to_contain_text("manual.pdf")
    expect(chips.nth(1)).to_contain_text("3 KB")
    # The inbox shows the draft of files alone, as it shows a typed one.
    page.goto(site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    row = page.locator(f'.conv-row[data-id="{cid}"]')
    expect(row.locator(".row-draft")).to_be_visible()
    expect(row.locator(".row-draft")).to_have_attribute(
        "title", "Your unsent reply: 📎 lamp.png +1")

    open_conversation(page, site, cid)
    page.click("#reply-files button[aria-label='Remove manual.pdf']")
    page.fill("#reply-text", "Here it is.")
    page.reload()
    page.wait_for_selector("body[data-ready=conversation]")
    expect(chips).to_have_count(1)
    expect(page.locator("#reply-text")).to_have_value("Here it is.")
    page.press("#reply-text", "Enter")
    sent = page.locator("#messages .msg", has_text="Here it is.")
    expect(sent.locator(".attachments img")).to_have_count(1)
    expect(chips).to_have_count(0)
    stored = page_api(page, "GET", f"/admin/conversations/{cid}/messages")["messages"][-1]
    assert [a["name"] for a in stored["attachments"]] == ["lamp.png"]
    page.reload()
    page.wait_for_selector("body[data-ready=conversation]")
    expect(chips).to_have_count(0)
    expect(page.locator("#reply-text")).to_have_value("")
    # A draft's file as old as UNSENT_FILE_HOURS (24) has been deleted by the server: it
    # does not come back with the draft, its text does.
    page.set_input_files("#reply-file", files=[
        {"name": "old.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.fill("#reply-text", "Later")
    page.locator("#reply-text").dispatch_event("input")
    expect(page.locator("#reply-files .reply-file:not(.uploading)")).to_have_count(1)
    page.evaluate("""() => {
        const key = Object.keys(localStorage).find((k) => k.startsWith("sb.draft.")
                                                         && !k.endsWith(".note"));
        const draft = JSON.parse(localStorage.getItem(key));
        draft.files = draft.files.map((f) => ({ ...f, at: Date.now() - 24 * 3600e3 }));
        localStorage.setItem(key, JSON.stringify(draft));
    }""")
    page.reload()
    page.wait_for_selector("body[data-ready=conversation]")
    expect(page.locator("#reply-text")).to_have_value("Later")
    expect(chips).to_have_count(0)
