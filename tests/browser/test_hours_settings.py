"""Business hours set on Settings, in Chromium on a live server (SQLite, no BUSINESS_HOURS in
its environment): an admin sets them, a mistake is shown beside its field with what was
typed kept, the panel and a visitor's widget follow at once, and the server's settings come
back on request."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import _check, checked  # noqa: F401  (a fixture)
from tests.browser.test_widget import open_chat
from tests.support.admin_browser import (
    ADMINS,
    AGENT,
    SCREENSHOTS,
    running_site,
    screenshot,
    sign_in,
)


@pytest.fixture(scope="module")
def hours_site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("hours-site")) as running:
        yield running


def _tomorrow() -> str:
    return (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%a").lower()


def _settings(page, site) -> None:
    page.goto(site.url + "/settings")
    page.wait_for_selector("body[data-ready=settings]")


AWAY = re.compile(r"Our team is away right now and back (tomorrow|today) at 09:00 UTC\.")


def test_an_admin_sets_the_hours_and_the_widget_follows(page, browser, hours_site):
    # A visitor's widget and another page of the panel are open before the change.
    visitor = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_chat(visitor, hours_site.server)
    expect(visitor.locator(".sb-away")).to_be_hidden()
    sign_in(page, hours_site)
    inbox = page.context.new_page()  # the same session
    inbox.goto(hours_site.url + "/")
    inbox.wait_for_selector("body[data-ready=inbox]")
    expect(inbox.locator("#live-status")).to_have_attribute("data-state", "connected")
    expect(inbox.locator("#hours-pill")).to_have_count(0)
    _settings(page, hours_site)
    section = page.locator("#business-hours")
    expect(section.locator("#hours-always")).to_be_visible()
    expect(section.locator("#hours-source")).to_contain_text("From the server's settings")
    form = section.locator("#hours-form")
    expect(form).to_be_hidden()  # folded until asked for
    section.locator("#hours-edit summary").click()
    expect(form).to_be_visible()

    # A mistake: said beside the field, what was typed kept, nothing changed.
    form.get_by_label("Weekly hours").fill("mon-fri 9-5")
    form.get_by_role("button", name="Save business hours").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(form.locator(".field-error")).to_have_text(
        "'9-5' is not a range of hours like 09:00-18:00.")
    expect(form.get_by_label("Weekly hours")).to_have_value("mon-fri 9-5")
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "test_hours_settings_a_mistake.png"))
    expect(section.locator("#hours-always")).to_be_visible()

    # Open an hour tomorrow only (UTC): away now, whatever the time of the run.
    form.get_by_label("Weekly hours").fill(f"{_tomorrow()} 09:00-10:00")
    form.get_by_label("Time zone").select_option("UTC")
    form.get_by_label("Days off").fill("2030-12-25")
    away = form.get_by_label("Outside the hours, a person handed to the team is told")
    expect(away).to_have_value(re.compile("^Thanks for your message!"))  # the server's
    away.fill("We are out; back {next_open}.")
    handoff = form.get_by_label("Within the hours, a person handed to the team is told")
    expect(handoff).to_have_value(re.compile("^I'm passing you to a person"))  # the server's
    form.get_by_role("button", name="Save business hours").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator(".flash")).to_have_text("Business hours saved.")
    expect(section.locator("#hours-now")).to_have_text(
        re.compile(r"^Away now back (tomorrow|today) at 09:00 UTC$"))
    expect(section.locator("#hours-table tbody tr")).to_have_count(7)
    expect(section.locator("#days-off")).to_have_text("Days off: Wed 25 Dec 2030")
    expect(section.locator("#away-text")).to_have_text(
        re.compile(r"^We are out; back (tomorrow|today) at 09:00 UTC\.$"))
    expect(section.locator("#hours-source")).to_contain_text(f"Set on this page by {ADMINS[0]}")
    expect(page.locator("#hours-pill")).to_be_visible()  # the top bar says it too
    screenshot(page, "test_hours_settings_set_on_settings")

    # The open widget and the other page follow at once (hours.changed), no reload.
    expect(visitor.locator(".sb-away")).to_have_text(AWAY)
    expect(inbox.locator("#hours-pill")).to_have_text(
        re.compile(r"^Away · back (tomorrow|today) at 09:00 UTC$"))
    # A widget opened now says so too.
    later = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        open_chat(later, hours_site.server)
        expect(later.locator(".sb-away")).to_have_text(AWAY)
    finally:
        later.context.close()

    # An agent sees them, and no form.
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(agent, hours_site, AGENT)
        _settings(agent, hours_site)
        expect(agent.locator("#hours-now")).to_contain_text("Away now")
        expect(agent.locator("#hours-form")).to_have_count(0)
    finally:
        agent.context.close()

    # Back to the server's settings (always open), after a confirmation.
    section.locator("#hours-edit summary").click()
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Use the server's settings").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator(".flash")).to_have_text("Business hours reset to the server's settings.")
    expect(section.locator("#hours-always")).to_be_visible()
    expect(page.locator("#hours-pill")).to_have_count(0)
    expect(visitor.locator(".sb-away")).to_be_hidden()
    expect(inbox.locator("#hours-pill")).to_be_hidden()
    visitor.context.close()


def test_the_hours_form_has_no_accessibility_violations(checked, hours_site):  # noqa: F811
    page = checked
    sign_in(page, hours_site)
    _settings(page, hours_site)
    page.locator("#hours-edit summary").click()
    page.locator("#hours-form").get_by_label("Weekly hours").fill("mon 25:00-26:00")
    page.locator("#hours-form").get_by_role("button", name="Save business hours").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator("#hours-form .field-error")).to_be_visible()
    _check(page, "settings, the business hours form with a mistake")
    page.locator("#hours-form").get_by_label("Weekly hours").fill("mon-fri 09:00-17:00")
    expect(page.locator("#week-editor .week-day[data-day=mon] [data-part=open]")).to_be_checked()
    _check(page, "settings, the week editor showing the hours")


def test_the_week_editor_writes_the_weekly_hours(page, hours_site):
    """A row a day writes the Weekly hours text (days with the same hours as one range), the
    text typed comes back into the rows, a schedule they cannot show stays text, and what
    they write is saved as typed text would be."""
    sign_in(page, hours_site)
    _settings(page, hours_site)
    section = page.locator("#business-hours")
    section.locator("#hours-edit summary").click()
    editor = page.locator("#week-editor")
    text = page.locator("#hours-form").get_by_label("Weekly hours")
    expect(editor).to_be_visible()
    expect(page.locator("#week-note")).to_have_text("No day ticked: always open.")

    def day(name):
        return editor.locator(f".week-day[data-day={name}]")

    for name in ("mon", "tue", "wed", "thu", "fri"):
        day(name).locator("[data-part=open]").check()
        day(name).locator("[data-part=to]").fill("17:00")
    day("sat").locator("[data-part=open]").check()
    day("sat").locator("[data-part=from]").fill("10:00")
    day("sat").locator("[data-part=to]").fill("14:00")
    day("sun").locator("[data-part=open]").check()
    day("sun").locator("[data-part=from]").fill("10:00")
    day("sun").locator("[data-part=to]").fill("00:00")  # midnight
    expect(text).to_have_value("mon-fri 09:00-17:00; sat 10:00-14:00; sun 10:00-24:00")
    expect(page.locator("#week-note")).to_have_text("")

    text.fill("tue-thu 8:30-24:00; monday closed")  # typed: the rows follow
    expect(day("mon").locator("[data-part=open]")).not_to_be_checked()
    expect(day("tue").locator("[data-part=open]")).to_be_checked()
    expect(day("wed").locator("[data-part=from]")).to_have_value("08:30")
    expect(day("thu").locator("[data-part=to]")).to_have_value("00:00")
    expect(day("fri").locator("[data-part=open]")).not_to_be_checked()
    expect(day("fri").locator("[data-part=from]")).to_be_disabled()

    text.fill("mon 09:00-12:00, 13:00-17:00")  # two ranges a day: a lunch break
    expect(day("mon").locator("[data-part=again]")).to_be_checked()
    expect(day("mon").locator("[data-part=to]")).to_have_value("12:00")
    expect(day("mon").locator("[data-part=from2]")).to_have_value("13:00")
    expect(day("mon").locator("[data-part=to2]")).to_have_value("17:00")
    expect(day("tue").locator("[data-part=again]")).to_be_disabled()  # closed
    # Tuesday the same, ticked in its row: the two days are one range of days.
    day("tue").locator("[data-part=open]").check()
    day("tue").locator("[data-part=from]").fill("09:00")
    day("tue").locator("[data-part=to]").fill("12:00")
    expect(day("tue").locator("[data-part=from2]")).to_be_disabled()
    day("tue").locator("[data-part=again]").check()
    day("tue").locator("[data-part=from2]").fill("13:00")
    day("tue").locator("[data-part=to2]").fill("17:00")
    expect(text).to_have_value("mon-tue 09:00-12:00, 13:00-17:00")
    day("mon").locator("[data-part=again]").uncheck()  # no break on Monday after all
    expect(text).to_have_value("mon 09:00-12:00; tue 09:00-12:00, 13:00-17:00")
    expect(day("mon").locator("[data-part=from2]")).to_be_disabled()

    text.fill("mon 08:00-10:00, 11:00-12:00, 13:00-17:00")  # three ranges a day: text only
    expect(day("mon").locator("[data-part=open]")).to_be_disabled()
    expect(page.locator("#week-note")).to_contain_text("change them as text below")

    text.fill("")
    expect(day("mon").locator("[data-part=open]")).to_be_enabled()
    day("wed").locator("[data-part=open]").check()  # with the hours its row kept
    expect(text).to_have_value("wed 08:30-24:00")
    page.locator("#hours-form").get_by_role("button", name="Save business hours").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(page.locator(".flash")).to_have_text("Business hours saved.")
    expect(section.locator("#hours-table tbody tr", has_text="Wed")).to_contain_text(
        "08:30–24:00")
    section.locator("#hours-edit summary").click()
    expect(day("wed").locator("[data-part=open]")).to_be_checked()  # read back from it
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Use the server's settings").click()
    page.wait_for_selector("body[data-ready=settings]")
    expect(section.locator("#hours-always")).to_be_visible()
