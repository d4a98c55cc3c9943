"""Conversation tags in Chromium: added and removed on the conversation page, live on every
other admin page (its chips, the inbox's rows and its Tag filter, the stats' Tags table);
a tag the server refuses shows its error and adds nothing."""

from __future__ import annotations

from playwright.sync_api import expect

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


def _chips(page):
    return page.locator("#c-tags .tag-name")


def _tag(page, cid, tag):
    return page_api(page, "POST", f"/admin/conversations/{cid}/tags", {"tag": tag})


def _server_tags(page, cid):
    return page_api(page, "GET", f"/admin/conversations/{cid}?limit=1")["conversation"]["tags"]


def _new_page(browser, width=1280, height=800):
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def test_a_tag_shows_live_on_the_other_pages_and_goes(page, site, browser):  # noqa: F811
    visitor = site.visitor("Tess Tagged")
    visitor.say("What are your opening hours?")
    cid = visitor.conversation_id
    other_person = site.visitor("Olga Other")
    other_person.say("hello")
    inbox = _new_page(browser, 390, 844)  # a phone on the inbox
    try:
        sign_in(inbox, site, ADMINS[1])
        inbox.fill("#f-search", "Tess Tagged")
        row = _row(inbox, "Tess Tagged")
        expect(row.locator(".preview")).to_contain_text("open", timeout=15_000)
        expect(row.locator(".row-tags")).to_be_hidden()
        with two_admins_on(page, browser, site, cid) as other:
            # The team's tags are suggested: one used on another conversation is offered.
            _tag(page, other_person.conversation_id, "Wholesale")
            expect(page.locator("#tag-options option[value=wholesale]")).to_have_count(0)
            page.focus("#tag-input")
            expect(page.locator("#tag-options option[value=wholesale]")).to_have_count(1)

            page.fill("#tag-input", "  Billing   Issue ")
            page.press("#tag-input", "Enter")
            expect(_chips(page)).to_have_text(["billing issue"])  # as the server made it
            expect(page.locator("#tag-input")).to_have_value("")
            expect(page.locator("#tag-error")).to_be_hidden()
            expect(_chips(other)).to_have_text(["billing issue"])  # live, no reload
            expect(row.locator(".row-tags .tag")).to_have_text(["billing issue"])
            assert _server_tags(page, cid) == ["billing issue"]

            other.fill("#tag-input", "vip")
            other.click("#tag-add")
            expect(_chips(page)).to_have_text(["billing issue", "vip"])
            expect(row.locator(".row-tags .tag")).to_have_text(["billing issue", "vip"])
            # A phone's row keeps to the screen's width with its chips.
            assert inbox.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
            screenshot(inbox, "test_tags_phone_inbox")

            # Removed on the second admin's page: gone from every page.
            other.get_by_role("button", name="Remove tag billing issue").click()
            expect(_chips(other)).to_have_text(["vip"])
            expect(_chips(page)).to_have_text(["vip"])
            expect(row.locator(".row-tags .tag")).to_have_text(["vip"])
            page.get_by_role("button", name="Remove tag vip").click()
            expect(_chips(page)).to_have_count(0)
            expect(_chips(other)).to_have_count(0)
            expect(row.locator(".row-tags")).to_be_hidden()
            # Each change is a line of the conversation's activity, with who made it.
            lines = page.locator("#activity li[data-kind$=tagged] .what")
            expect(lines).to_have_text([
                "You removed the tag “vip”",
                f"{ADMINS[1]} removed the tag “billing issue”",
                f"{ADMINS[1]} tagged it “vip”",
                "You tagged it “billing issue”",
            ])
            assert _server_tags(page, cid) == []
    finally:
        inbox.context.close()


def test_a_refused_tag_shows_the_servers_error_and_adds_nothing(page, site):  # noqa: F811
    visitor = site.visitor("Rita Refused")
    visitor.say("hello")
    cid = visitor.conversation_id
    sign_in(page, site)
    open_conversation(page, site, cid)
    bad = "<b>bold</b>"
    # What the server says about this tag (asked directly: the page must show the same).
    said = page.evaluate("""([id, tag]) => fetch(`/admin/conversations/${id}/tags`, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json",
                  "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content},
        body: JSON.stringify({ tag }) }).then(async (r) => [r.status, await r.json()])""",
                         [cid, bad])
    assert said[0] == 400 and said[1]["success"] is False and said[1]["error"], said
    page.fill("#tag-input", bad)
    page.press("#tag-input", "Enter")
    expect(page.locator("#tag-error")).to_be_visible()
    expect(page.locator("#tag-error")).to_have_text(said[1]["error"])
    expect(page.locator("#tag-input")).to_have_value(bad)  # kept, to correct
    expect(_chips(page)).to_have_count(0)
    assert page.locator("#c-tags b").count() == 0
    assert _server_tags(page, cid) == []

    # Typing again clears the error; a good tag is added.
    page.fill("#tag-input", "bold")
    expect(page.locator("#tag-error")).to_be_hidden()
    page.press("#tag-input", "Enter")
    expect(_chips(page)).to_have_text(["bold"])

    # The 21st tag: the server's "too many" shows, and the chips stay 20.
    for n in range(19):
        _tag(page, cid, f"t{n:02d}")
    expect(_chips(page)).to_have_count(20)
    page.fill("#tag-input", "one too many")
    page.press("#tag-input", "Enter")
    expect(page.locator("#tag-error")).to_be_visible()
    expect(page.locator("#tag-error")).not_to_have_text("")
    expect(_chips(page)).to_have_count(20)
    assert "one too many" not in _server_tags(page, cid)


def test_the_tag_filter_follows_tags_changed_live(page, site, browser):  # noqa: F811
    fay = site.visitor("Fay Filtered")
    fay.say("What are your opening hours?")
    gus = site.visitor("Gus Filtered")
    gus.say("What are your opening hours?")
    sign_in(page, site)
    _tag(page, fay.conversation_id, "refunds")
    page.reload()
    page.wait_for_selector("body[data-ready=inbox]")
    page.fill("#f-search", "Filtered")
    expect(page.locator(".conv-row")).to_have_count(2)
    gus_row = _row(page, "Gus Filtered")
    expect(gus_row.locator(".preview")).to_contain_text("open", timeout=15_000)
    height = gus_row.locator(".summary").bounding_box()["height"]

    with page.expect_request(lambda r: "tag=refunds" in r.url and "/admin/conversations?" in r.url):
        page.select_option("#f-tag", "refunds")
    expect(page.locator(".conv-row")).to_have_count(1)
    expect(_row(page, "Fay Filtered").locator(".row-tags .tag")).to_have_text(["refunds"])

    other = _new_page(browser)
    try:
        sign_in(other, site, ADMINS[1])
        # Gus gains the tag on another page: his row enters the filtered list, live.
        open_conversation(other, site, gus.conversation_id)
        other.fill("#tag-input", "Refunds")
        other.press("#tag-input", "Enter")
        expect(_chips(other)).to_have_text(["refunds"])
        expect(gus_row).to_be_visible()
        expect(page.locator(".conv-row")).to_have_count(2)
        # At a laptop's width the chips take no extra line in the row, and show whole.
        assert gus_row.locator(".summary").bounding_box()["height"] == height
        widths = gus_row.locator(".row-tags .tag").evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert widths[0] <= widths[1], f"the tag is cut: {widths[0]}px of text in {widths[1]}px"

        # Fay's tag is removed on another page: her row leaves the list, live.
        open_conversation(other, site, fay.conversation_id)
        other.get_by_role("button", name="Remove tag refunds").click()
        expect(_chips(other)).to_have_count(0)
        expect(_row(page, "Fay Filtered")).to_have_count(0)
        expect(page.locator(".conv-row")).to_have_count(1)
        expect(gus_row).to_be_visible()

        # And Gus's: nothing left; the empty list says a filter hides everything.
        open_conversation(other, site, gus.conversation_id)
        other.get_by_role("button", name="Remove tag refunds").click()
        expect(page.locator(".conv-row")).to_have_count(0)
        expect(page.locator("#empty-filtered")).to_be_visible()
        page.click("#clear-filters")
        expect(page.locator("#f-tag")).to_have_value("")
        expect(page.locator("#f-search")).to_have_value("")
        expect(gus_row).to_be_visible()
        expect(_row(page, "Fay Filtered")).to_be_visible()
        page.fill("#f-search", "Filtered")
        expect(page.locator(".conv-row")).to_have_count(2)

        # A click on a row's chip lists that tag's conversations (and does not open the row).
        other.fill("#tag-input", "callback")
        other.press("#tag-input", "Enter")
        chip = gus_row.locator(".row-tags .tag", has_text="callback")
        expect(chip).to_be_visible()
        chip.click()
        expect(page.locator("#f-tag")).to_have_value("callback")
        expect(page.locator(".conv-row")).to_have_count(1)
        expect(gus_row).to_be_visible()
        assert page.url.rstrip("/") == site.url
    finally:
        other.context.close()


def test_the_stats_page_lists_the_tags_in_use_live(page, site):  # noqa: F811
    sign_in(page, site)
    # No tag in use: the panel says so (the answer stood in for: this module's tests tag).
    page.route("**/admin/tags", lambda route: route.fulfill(
        status=200, content_type="application/json",
        body='{"success": true, "tags": [], "count": 0}'))
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(page.locator("#tags-empty")).to_have_text("No tags yet")
    expect(page.locator("#tags-table")).to_be_hidden()
    expect(page.locator("#tags-wrap")).to_be_hidden()
    page.unroute("**/admin/tags")

    people = [site.visitor(f"Stan Stats{n}") for n in range(3)]
    for person in people:
        person.say("hello")
    for person in people[:2]:
        _tag(page, person.conversation_id, "shipping")
    _tag(page, people[2].conversation_id, "returns")
    page_api(page, "POST", f"/admin/conversations/{people[0].conversation_id}/close")
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    expect(page.locator("#tags-empty")).to_be_hidden()
    shipping = page.locator("#tags-table tbody tr[data-tag=shipping] td")
    expect(shipping).to_have_text(["shipping", "2", "1"])  # two, one of them closed
    returns = page.locator("#tags-table tbody tr[data-tag=returns] td")
    expect(returns).to_have_text(["returns", "1", "1"])
    # Most used first: shipping before returns.
    tags = page.locator("#tags-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.tag)")
    assert tags.index("shipping") < tags.index("returns")

    # Tagged on another page (here, through the API): the table follows within seconds.
    _tag(page, people[0].conversation_id, "returns")
    expect(returns).to_have_text(["returns", "2", "1"], timeout=15_000)


def test_an_admin_renames_and_deletes_a_tag_in_settings(page, site, browser):  # noqa: F811
    visitor = site.visitor("Rena Renamed")
    visitor.say("Where is my parcel?")
    cid = visitor.conversation_id
    with two_admins_on(page, browser, site, cid) as other:
        _tag(page, cid, "parcle")  # misspelt
        _tag(page, cid, "parcel lost")
        expect(_chips(other)).to_have_text(["parcel lost", "parcle"])

        page.goto(f"{site.url}/settings")
        row = page.locator("#tags-admin-table tr[data-tag='parcle']")
        expect(row).to_contain_text("1")
        # A name the server refuses: its error, the typed name kept, nothing renamed.
        row.locator("summary", has_text="Rename").click()
        row.locator("input[name=tag]").fill("parcel;")
        row.locator("button", has_text="Rename").click()
        row = page.locator("#tags-admin-table tr[data-tag='parcle']")
        expect(row.locator(".field-error")).to_contain_text("letters, digits")
        expect(row.locator("input[name=tag]")).to_have_value("parcel;")
        expect(_chips(other)).to_have_text(["parcel lost", "parcle"])

        row.locator("input[name=tag]").fill("Parcel")
        row.locator("button", has_text="Rename").click()
        expect(page.locator(".flash")).to_contain_text(
            "renamed to \u201cparcel\u201d on 1 conversation")
        # The other admin's open page follows at once, with the line saying who did it.
        expect(_chips(other)).to_have_text(["parcel", "parcel lost"])
        expect(other.locator("#activity")).to_contain_text(
            "ann@example.com renamed the tag \u201cparcle\u201d to \u201cparcel\u201d")

        # Deleting asks first: dismissed, nothing happens; accepted, the tag goes everywhere.
        row = page.locator("#tags-admin-table tr[data-tag='parcel lost']")
        page.once("dialog", lambda dialog: dialog.dismiss())
        row.locator("button", has_text="Delete").click()
        page.wait_for_timeout(500)  # time for a submission that should not happen
        expect(row).to_be_visible()
        assert _server_tags(other, cid) == ["parcel", "parcel lost"]
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button", has_text="Delete").click()
        expect(page.locator("#tags-admin-table tr[data-tag='parcel lost']")).to_have_count(0)
        expect(_chips(other)).to_have_text(["parcel"])
        expect(other.locator("#activity")).to_contain_text(
            "deleted the tag \u201cparcel lost\u201d from every conversation")
        assert _server_tags(other, cid) == ["parcel"]
        screenshot(other, "tags_renamed_elsewhere")
