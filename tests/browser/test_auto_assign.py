"""Auto-assignment (AUTO_ASSIGN) in Chromium: the top bar's Available / Away toggle of the
signed-in account (Away at first; a click puts it, a reload keeps it, a refusal puts it back
with a toast), followed live by the account's other pages and by an admin's Settings, whose
Accounts table has a toggle per account that the agent's top bar follows; a conversation
handed to the team goes to the available agent: their inbox says "Assigned to you" (one
toast, the "needs a human" one replaced) and the row's assignee, the trail says
"automatically", live on a page already open; the assign list marks who is available.
Without AUTO_ASSIGN nothing of it shows. Axe on the top bar, Settings and the toast.

The AUTO_ASSIGN module site (``auto_site``) is shared: each test starts with every account
Away and nothing waiting for nobody (``away``), so what it hands out is its own."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.test_accessibility import _check, checked  # noqa: F401  (a fixture)
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    AGENT,
    open_conversation,
    running_site,
    screenshot,
    sign_in,
    site,
)

EXPLAINED = ("Available: new conversations handed to the team come to you while a page of the"
             " panel is open")


@pytest.fixture(scope="module")
def auto_site(tmp_path_factory):
    """The product with AUTO_ASSIGN on (no limit of open conversations), as ``site`` is
    otherwise: gunicorn, SQLite, the Graph API stand-in, two admins and an agent."""
    with running_site(tmp_path_factory.mktemp("auto-assign-site"), AUTO_ASSIGN="true") as running:
        yield running


@pytest.fixture(scope="module")
def token(auto_site):
    """An API token's headers for the first admin (another device of the team)."""
    out = auto_site.server.flask("tokens", "create", ADMINS[0], "--name", "auto-assign")
    assert out.returncode == 0, out.stderr
    return {"Authorization": f"Bearer {out.stdout.strip().split()[-1]}"}


def _api(auto_site, token, method, path, **kwargs):
    answer = requests.request(method, auto_site.url + path, headers=token, timeout=10, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _users(auto_site, token):
    """email -> the account as GET /admin/users has it."""
    return {u["email"]: u for u in _api(auto_site, token, "GET", "/admin/users")["users"]}


def _set_available(auto_site, token, email, available):
    user_id = _users(auto_site, token)[email]["id"]
    return _api(auto_site, token, "PUT", f"/admin/users/{user_id}/availability",
                json={"available": available})["user"]


@pytest.fixture
def away(auto_site, token):
    """Every account Away, and no conversation left waiting for nobody (an earlier test's
    would go to the first account made available here)."""
    for email in (*ADMINS, AGENT):
        _set_available(auto_site, token, email, False)
    waiting = _api(auto_site, token, "GET",
                   "/admin/conversations?needs_human=true&unassigned=true&limit=200")
    for c in waiting["conversations"]:
        if c["status"] != "closed":
            _api(auto_site, token, "POST", f"/admin/conversations/{c['id']}/close")


def _toggle(page):
    return page.locator("#availability")


def _expect_state(toggle, available):
    expect(toggle).to_have_attribute("aria-pressed", "true" if available else "false")
    expect(toggle).to_have_text("Available")  # the name says what pressed means, whatever the state


def _availability_put(page):
    return page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith("/availability"))


def _trail(page):
    return page.locator("#activity li[data-kind=assigned] .what")


# -- the top bar ------------------------------------------------------------------------------
def test_the_top_bar_toggle_is_away_first_and_a_click_makes_it_available(
        page, auto_site, token, away):
    sign_in(page, auto_site)
    toggle = _toggle(page)
    expect(toggle).to_have_role("button")
    _expect_state(toggle, False)
    expect(toggle).to_have_attribute("title", EXPLAINED)
    assert _users(auto_site, token)[ADMINS[0]]["available"] is False

    with _availability_put(page) as put:
        toggle.click()
    assert put.value.ok and put.value.json()["user"]["available"] is True
    assert put.value.request.headers.get("x-csrftoken")  # a session change, as every other
    _expect_state(toggle, True)
    assert _users(auto_site, token)[ADMINS[0]]["available"] is True
    me = page.evaluate("async () => (await (await fetch('/admin/me')).json()).user")
    assert me["available"] is True

    page.reload()  # the server keeps it: the page renders it so
    page.wait_for_selector("body[data-ready=inbox]")
    _expect_state(toggle, True)
    rendered = page.request.get(auto_site.url + "/").text()  # before any script runs
    assert re.search(r'<button[^>]*id="availability"[^>]*aria-pressed="true"[^>]*>'
                     r'<span class="avail-label">Available</span>', rendered), rendered
    for where, ready in (("/stats", "stats"), ("/settings", "settings")):
        page.goto(auto_site.url + where)
        page.wait_for_selector(f"body[data-ready={ready}]")
        _expect_state(toggle, True)

    toggle.focus()  # the keyboard works it too
    with _availability_put(page):
        page.keyboard.press("Enter")
    _expect_state(toggle, False)
    assert _users(auto_site, token)[ADMINS[0]]["available"] is False


def test_a_refused_change_shows_the_error_and_puts_the_toggle_back(page, auto_site, token, away):
    sign_in(page, auto_site)
    toggle = _toggle(page)
    _expect_state(toggle, False)
    page.route("**/admin/users/*/availability", lambda route: route.fulfill(
        status=503, json={"success": False, "error": "the store is unavailable; try again"}))
    toggle.click()
    alert = page.locator("#toasts .toast-alert")
    expect(alert.locator("strong")).to_have_text("Could not change your availability")
    expect(alert).to_contain_text("the store is unavailable; try again")
    _expect_state(toggle, False)
    assert _users(auto_site, token)[ADMINS[0]]["available"] is False

    page.unroute("**/admin/users/*/availability")
    with _availability_put(page):
        toggle.click()
    _expect_state(toggle, True)  # works again once the server does
    assert _users(auto_site, token)[ADMINS[0]]["available"] is True


def test_the_accounts_other_pages_follow_live(page, auto_site, token, away):
    """Two tabs of one account (the inbox, a conversation page) and a change from another
    device (the API): each page's toggle follows without a reload, and so does the
    conversation page's assign list ("(you, available)")."""
    visitor = auto_site.visitor("Oscar Options")
    visitor.say("hello")
    sign_in(page, auto_site)
    other = page.context.new_page()
    open_conversation(other, auto_site, visitor.conversation_id)
    ann_id = _users(auto_site, token)[ADMINS[0]]["id"]
    option = other.locator(f"#assign option[value='{ann_id}']")
    expect(option).to_have_text(f"{ADMINS[0]} (you)")

    with _availability_put(page):
        _toggle(page).click()
    _expect_state(_toggle(other), True)
    expect(option).to_have_text(f"{ADMINS[0]} (you, available)")

    _set_available(auto_site, token, ADMINS[0], False)  # another device
    for p in (page, other):
        _expect_state(_toggle(p), False)
    expect(option).to_have_text(f"{ADMINS[0]} (you)")

    # Another account's availability is marked in the list too, and leaves the toggle be;
    # the agent has no page open (never signed in on this site): offline.
    _set_available(auto_site, token, AGENT, True)
    carl_id = _users(auto_site, token)[AGENT]["id"]
    carl = other.locator(f"#assign option[value='{carl_id}']")
    expect(carl).to_have_text(f"{AGENT} (available, offline)")
    _expect_state(_toggle(other), False)

    # A change missed while the socket was down is read again on its reconnect.
    other.evaluate("() => window.__adminSocket.disconnect()")
    expect(other.locator("#live-status")).to_have_attribute("data-state", "disconnected")
    _set_available(auto_site, token, ADMINS[0], True)
    _expect_state(_toggle(page), True)
    _expect_state(_toggle(other), False)  # it heard nothing
    other.evaluate("() => window.__adminSocket.connect()")
    expect(other.locator("#live-status")).to_have_attribute("data-state", "connected")
    _expect_state(_toggle(other), True)
    expect(option).to_have_text(f"{ADMINS[0]} (you, available)")
    expect(carl).to_have_text(f"{AGENT} (available, offline)")  # read again: still none
    screenshot(other, "test_auto_assign_the_assign_list_marks_who_is_available")

    # The agent opens a page: online, live (account.online).
    agent = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, auto_site, AGENT)
        expect(carl).to_have_text(f"{AGENT} (available)")
    finally:
        agent.context.close()


def test_an_admin_toggles_an_agent_on_settings_and_the_agents_top_bar_follows(
        page, browser, auto_site, token, away):
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, auto_site, AGENT)
        sign_in(page, auto_site)
        page.goto(auto_site.url + "/settings")
        page.wait_for_selector("body[data-ready=settings]")
        page.wait_for_selector("#live-status[data-state=connected]")
        table = page.locator("#users-table")
        expect(table.locator("thead th", has_text="Available")).to_have_count(1)
        expect(page.locator("#auto-assign-note")).to_contain_text(
            "goes to the available account with the fewest open conversations")
        expect(page.locator("#auto-assign-note")).to_contain_text(
            "Only accounts online are given conversations")
        users = _users(auto_site, token)
        # Last seen: the agent and this admin have a page open; Bob never signed in here.
        expect(table.locator("thead th", has_text="Last seen")).to_have_count(1)
        for email, seen in ((AGENT, "online"), (ADMINS[0], "online"), (ADMINS[1], "never")):
            row = table.locator("tr", has=page.locator(f"td#account-{users[email]['id']}"))
            expect(row.locator("td.last-seen")).to_have_text(seen)
        assert (users[AGENT]["online"], users[ADMINS[1]]["online"]) == (True, False)
        carl = table.locator(f"button[data-availability-user='{users[AGENT]['id']}']")
        expect(carl).to_have_accessible_name(f"Available {AGENT}")
        _expect_state(carl, False)
        # Every enabled account has one, the admin's own too (the top bar's follows it).
        expect(table.locator("button[data-availability-user]")).to_have_count(3)
        mine = table.locator(f"button[data-availability-user='{users[ADMINS[0]]['id']}']")

        with _availability_put(page) as put:
            carl.click()
        assert put.value.ok
        _expect_state(carl, True)
        expect(carl).to_have_accessible_name(f"Available {AGENT}")
        _expect_state(_toggle(agent), True)  # the agent's top bar, live
        _expect_state(_toggle(page), False)  # the admin's own stays as it was
        assert _users(auto_site, token)[AGENT]["available"] is True

        with _availability_put(agent):
            _toggle(agent).click()  # the agent goes Away: the admin's Settings follows
        _expect_state(_toggle(agent), False)
        _expect_state(carl, False)

        with _availability_put(page):
            mine.click()  # the admin's own row and top bar are one state
        _expect_state(mine, True)
        _expect_state(_toggle(page), True)

        # An agent may not change another account's (the server says so; the page shows it).
        refused = agent.evaluate("""(id) => fetch(`/admin/users/${id}/availability`, {
            method: "PUT", credentials: "same-origin", headers: {Accept: "application/json",
            "Content-Type": "application/json",
            "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content},
            body: JSON.stringify({available: false})}).then((r) => r.status)""",
            users[ADMINS[0]]["id"])
        assert refused == 403
        _expect_state(mine, True)
        screenshot(page, "test_auto_assign_settings_accounts_available")
    finally:
        agent.context.close()


# -- handing conversations out ------------------------------------------------------------------
def test_the_available_agent_is_given_the_conversation_and_told_so(
        page, browser, auto_site, token, away):
    sign_in(page, auto_site, AGENT)
    with _availability_put(page):
        _toggle(page).click()
    _expect_state(_toggle(page), True)

    wes = auto_site.visitor("Wes Waiting")
    wes.say("I want to talk to a person please")
    cid = wes.conversation_id
    toast = page.locator(f"#toasts .toast[data-key='conv-{cid}']")
    expect(toast.locator("strong")).to_have_text("Assigned to you", timeout=15_000)
    expect(toast).to_contain_text("Wes Waiting")
    # One toast for it: "Assigned to you" took the place of "Wes Waiting needs a human".
    expect(toast).to_have_count(1)
    expect(page.locator("#toasts .toast strong", has_text="Wes Waiting needs a human")) \
        .to_have_count(0)
    row = page.locator(f".conv-row[data-id='{cid}']")
    expect(row.locator(".handled-badge")).to_have_text("human · you")
    expect(row.locator(".human-badge")).to_be_visible()
    screenshot(page, "test_auto_assign_assigned_to_you")

    toast.click()  # opens it (before its 7 s are up)
    page.wait_for_selector("body[data-ready=conversation]")
    assert page.url == f"{auto_site.url}/conversations/{cid}"
    carl_id = _users(auto_site, token)[AGENT]["id"]
    expect(_trail(page)).to_have_text(["Assigned to you automatically"])
    expect(page.locator("#assign")).to_have_value(str(carl_id))
    conversation = _api(auto_site, token, "GET", f"/admin/conversations/{cid}?limit=1")
    assert conversation["conversation"]["assigned_to"] == carl_id

    # An admin reads it by the agent's name.
    admin = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(admin, auto_site)
        open_conversation(admin, auto_site, cid)
        expect(_trail(admin)).to_have_text([f"Assigned to {AGENT} automatically"])
        expect(admin.locator(f"#assign option[value='{carl_id}']")).to_have_text(
            f"{AGENT} (available)")
    finally:
        admin.context.close()
    lines = _api(auto_site, token, "GET", f"/admin/conversations/{cid}/activity")["activity"]
    auto = [a for a in lines if a["kind"] == "assigned"]
    assert [a["detail"]["auto"] for a in auto] == [True] and auto[0]["actor_id"] is None
    # The agent's "Mine" lists it.
    page.goto(auto_site.url + "/")
    page.wait_for_selector("body[data-ready=inbox]")
    page.check("#f-mine")
    expect(row).to_be_visible()
    expect(row.locator(".handled-badge")).to_have_text("human · you")


def test_a_conversation_waits_while_nobody_is_available_and_goes_when_someone_is(
        page, browser, auto_site, token, away):
    """Nobody available: the conversation waits, unassigned; the agent's click on Available
    gives it to them at once, in the admin's open conversation page (its trail and assign
    list) and the agent's inbox."""
    nina = auto_site.visitor("Nina Nobody")
    nina.say("hello")
    nina.ask_for_human()  # the widget's "talk to a person"
    cid = nina.conversation_id
    sign_in(page, auto_site)
    open_conversation(page, auto_site, cid)
    expect(page.locator("#c-needs-human")).to_be_visible(timeout=15_000)
    expect(page.locator("#assign")).to_have_value("")
    expect(_trail(page)).to_have_count(0)

    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, auto_site, AGENT)
        expect(agent.locator(f".conv-row[data-id='{cid}'] .handled-badge")).to_have_text("human")
        with _availability_put(agent):
            _toggle(agent).click()
        carl_id = _users(auto_site, token)[AGENT]["id"]
        expect(_trail(page)).to_have_text([f"Assigned to {AGENT} automatically"])
        expect(page.locator("#assign")).to_have_value(str(carl_id))
        expect(page.locator(f"#assign option[value='{carl_id}']")).to_have_text(
            f"{AGENT} (available)")
        toast = agent.locator(f"#toasts .toast[data-key='conv-{cid}']")
        expect(toast.locator("strong")).to_have_text("Assigned to you")
        expect(toast).to_contain_text("Nina Nobody")
        expect(agent.locator(f".conv-row[data-id='{cid}'] .handled-badge")).to_have_text(
            "human · you")
    finally:
        agent.context.close()


def test_another_accounts_assignment_is_no_toast_of_mine(page, browser, auto_site, token, away):
    """The conversation given to the agent: the admin's inbox (Away) says it needs a
    human, never "Assigned to you", and the row shows whose it is."""
    sign_in(page, auto_site)
    _set_available(auto_site, token, AGENT, True)
    olga = auto_site.visitor("Olga Other")
    olga.say("I want to talk to a person please")
    cid = olga.conversation_id
    row = page.locator(f".conv-row[data-id='{cid}']")
    expect(row.locator(".handled-badge")).to_have_text(f"human · {AGENT}", timeout=15_000)
    toast = page.locator(f"#toasts .toast[data-key='conv-{cid}']")
    expect(toast.locator("strong")).to_have_text("Olga Other needs a human")
    expect(page.locator("#toasts .toast strong", has_text="Assigned to you")).to_have_count(0)


# -- without AUTO_ASSIGN ------------------------------------------------------------------------
def test_without_auto_assign_there_is_no_toggle_anywhere(page, site):  # noqa: F811
    visitor = site.visitor("Fred Flagless")
    visitor.say("hello")
    sign_in(page, site)
    expect(page.locator(".topbar .whoami")).to_be_visible()
    expect(page.locator("#availability, button[data-availability-user]")).to_have_count(0)
    assert page.evaluate("() => document.body.dataset.autoAssign") is None
    page.goto(site.url + "/settings")
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator("#users-table tbody tr").first).to_be_visible()
    expect(page.locator("#users-table thead th", has_text="Available")).to_have_count(0)
    expect(page.locator("#auto-assign-note")).to_have_count(0)
    expect(page.locator("button[data-availability-user]")).to_have_count(0)
    open_conversation(page, site, visitor.conversation_id)
    expect(page.locator("#assign option").nth(1)).to_be_attached()
    assert not [t for t in page.locator("#assign option").all_text_contents()
                if "available" in t]


# -- accessibility ------------------------------------------------------------------------------
def test_the_toggles_and_the_toast_have_no_accessibility_violations(
        checked, auto_site, token, away):  # noqa: F811
    page = checked
    sign_in(page, auto_site)
    toggle = _toggle(page)
    expect(toggle).to_be_visible()
    _expect_state(toggle, False)
    _check(page, "inbox, the top bar Away")
    with _availability_put(page):
        toggle.click()
    _expect_state(toggle, True)
    toggle.focus()
    _check(page, "inbox, the top bar Available and focused")

    ida = auto_site.visitor("Ida Inspect")
    ida.say("I want to talk to a person please")
    toast = page.locator(f"#toasts .toast[data-key='conv-{ida.conversation_id}']")
    expect(toast.locator("strong")).to_have_text("Assigned to you", timeout=15_000)
    _check(page, "inbox, an Assigned to you toast")

    page.goto(auto_site.url + "/settings")
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator("#users-table button[data-availability-user]")).to_have_count(3)
    _check(page, "settings, the accounts' availability")
    open_conversation(page, auto_site, ida.conversation_id)
    expect(_trail(page)).to_have_text([re.compile("automatically$")])
    _check(page, "conversation, assigned automatically")


def test_an_admin_gives_an_agents_conversations_back_from_settings(
        page, browser, auto_site, token, away):
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, auto_site, AGENT)
        with _availability_put(agent):
            _toggle(agent).click()
        gus = auto_site.visitor("Gus Given")
        gus.say("I want to talk to a person please")
        cid = gus.conversation_id
        expect(agent.locator(f"#toasts .toast[data-key='conv-{cid}'] strong")).to_have_text(
            "Assigned to you", timeout=15_000)

        sign_in(page, auto_site)
        page.goto(auto_site.url + "/settings")
        page.wait_for_selector("body[data-ready=settings]")
        carl_id = _users(auto_site, token)[AGENT]["id"]
        row = page.locator("#users-table tr", has=page.locator(f"td#account-{carl_id}"))
        row.get_by_role("button", name="Give back conversations").click()
        page.wait_for_selector("body[data-ready=settings]")
        # (Earlier tests of this site may have left the agent more open conversations.)
        expect(page.locator(".flash")).to_have_text(re.compile(
            rf"^\d+ conversations? of {re.escape(AGENT)} went back to the team; none was"
            r" handed out: nobody else can take one now\.$"))
        _expect_state(_toggle(agent), False)  # set Away, live on the agent's page
        row = agent.locator(f".conv-row[data-id='{cid}'] .handled-badge")
        expect(row).to_have_text("human")  # nobody's now: nobody else is available
        conversation = _api(auto_site, token, "GET", f"/admin/conversations/{cid}?limit=1")
        assert conversation["conversation"]["assigned_to"] is None
        assert conversation["conversation"]["needs_human"] is True
    finally:
        agent.context.close()


# -- online: an idle page -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def idle_site(tmp_path_factory):
    """AUTO_ASSIGN with a page idle after 2 s unused and an account offline 3 s after,
    which a sweep every second announces."""
    with running_site(tmp_path_factory.mktemp("idle-site"), AUTO_ASSIGN="true",
                      IDLE_AFTER_SECONDS="2", OFFLINE_AFTER_SECONDS="3",
                      SWEEP_INTERVAL_SECONDS="1") as running:
        yield running


def test_an_agent_whose_page_goes_unused_is_passed_over_until_they_are_back(page, idle_site):
    out = idle_site.server.flask("tokens", "create", ADMINS[0], "--name", "idle")
    assert out.returncode == 0, out.stderr
    token = {"Authorization": f"Bearer {out.stdout.strip().split()[-1]}"}
    sign_in(page, idle_site, AGENT)
    with _availability_put(page):
        _toggle(page).click()
    _expect_state(_toggle(page), True)
    assert _users(idle_site, token)[AGENT]["online"] is True

    # Nobody touches the page: idle after 2 s, offline 3 s later.
    deadline = time.monotonic() + 15
    while _users(idle_site, token)[AGENT]["online"]:
        assert time.monotonic() < deadline, "the unused page kept its account online"
        time.sleep(0.25)
    ida = idle_site.visitor("Ida Idle")
    ida.say("I want to talk to a person please")
    cid = ida.conversation_id
    time.sleep(1)
    waiting = _api(idle_site, token, "GET", f"/admin/conversations/{cid}?limit=1")
    assert waiting["conversation"]["needs_human"] is True
    assert waiting["conversation"]["assigned_to"] is None  # available, but away from the desk

    # The agent moves the pointer: online at once, and the conversation is theirs.
    page.mouse.move(200, 300)
    page.mouse.move(220, 320)
    toast = page.locator(f"#toasts .toast[data-key='conv-{cid}']")
    expect(toast.locator("strong")).to_have_text("Assigned to you", timeout=15_000)
    carl_id = _users(idle_site, token)[AGENT]["id"]
    assigned = _api(idle_site, token, "GET", f"/admin/conversations/{cid}?limit=1")
    assert assigned["conversation"]["assigned_to"] == carl_id
    assert _users(idle_site, token)[AGENT]["online"] is True


def test_an_agent_who_closes_their_page_goes_offline_on_the_admins_pages_live(
        page, browser, idle_site):
    out = idle_site.server.flask("tokens", "create", ADMINS[0], "--name", "offline")
    assert out.returncode == 0, out.stderr
    token = {"Authorization": f"Bearer {out.stdout.strip().split()[-1]}"}
    _set_available(idle_site, token, AGENT, True)
    carl_id = _users(idle_site, token)[AGENT]["id"]
    olga = idle_site.visitor("Olga Offline")
    olga.say("hello")
    sign_in(page, idle_site)
    page.goto(idle_site.url + "/settings")
    page.wait_for_selector("body[data-ready=settings]")
    page.wait_for_selector("#live-status[data-state=connected]")
    seen = page.locator(f"td.last-seen[data-user='{carl_id}']")
    conversation = page.context.new_page()
    open_conversation(conversation, idle_site, olga.conversation_id)
    carl = conversation.locator(f"#assign option[value='{carl_id}']")

    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, idle_site, AGENT)
        expect(seen).to_have_text("online")  # account.online, live
        expect(carl).to_have_text(f"{AGENT} (available)")
    finally:
        agent.context.close()
    # Its page closed: offline 3 s later, which the next sweep tells every page.
    expect(seen).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"), timeout=15_000)
    expect(carl).to_have_text(f"{AGENT} (available, offline)")
    last_seen = _users(idle_site, token)[AGENT]["last_seen_at"]
    expect(seen.locator("time")).to_have_attribute("datetime", re.compile(
        "^" + re.escape(last_seen[:16])))
    assert _users(idle_site, token)[AGENT]["online"] is False
    screenshot(page, "test_auto_assign_settings_last_seen_offline")

    # What Settings missed while its socket was down is read again on its reconnect.
    page.evaluate("() => window.__adminSocket.disconnect()")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "disconnected")
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, idle_site, AGENT)
        expect(carl).to_have_text(f"{AGENT} (available)")  # the other page heard it
        assert seen.inner_text() != "online"  # this one did not
        page.evaluate("() => window.__adminSocket.connect()")
        expect(seen).to_have_text("online")
    finally:
        agent.context.close()
