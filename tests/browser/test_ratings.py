"""People's ratings of their conversations in Chromium: the stats page's Satisfaction
section (CSAT, average, count, scores, per account, the newest comments) for the period
chosen for the Team section too, live; the conversation page's "Rated n/5", live; a
comment's markup shown as text.

The module shares one site (``site``), and the tests build on what the earlier ones rated:
the first rates only in the past (3 and 10 days ago), the second is the first to rate today
(its figures are exact for "Today"); the later ones count from what the page shows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import expect

from services.events import EventBus
from services.models import InboundMessage
from services.store.sqlite import SqliteStore
from services.tracking import ConversationTracker
from tests.support.admin_browser import (  # noqa: F401  (site is a fixture)
    ADMINS,
    AGENT,
    open_conversation,
    screenshot,
    sign_in,
    site,
    wait_until,
)

SATISFACTION = "/admin/stats/satisfaction"
XSS = '<img src=x onerror="window.__pwned=1"><b>bold</b>'


# -- acting as the team (API tokens) and as the person (the widget's HTTP API) -----------------
@pytest.fixture(scope="module")
def tokens(site):  # noqa: F811
    """An API token's headers for the first admin and for the agent."""
    made = {}
    for email in (ADMINS[0], AGENT):
        out = site.server.flask("tokens", "create", email, "--name", "ratings")
        assert out.returncode == 0, out.stderr
        made[email] = {"Authorization": f"Bearer {out.stdout.strip().split()[-1]}"}
    return made


def _admin(site, headers, cid, action):  # noqa: F811
    answer = requests.post(f"{site.url}/admin/conversations/{cid}/{action}", headers=headers,
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _closed_by(site, tokens, name, email=None):  # noqa: F811
    """A visitor's conversation, closed: taken over and closed by ``email`` (so assigned to
    that account), or closed by the first admin with nobody assigned."""
    visitor = site.visitor(name)
    visitor.say("hello")
    cid = visitor.conversation_id
    if email:
        _admin(site, tokens[email], cid, "take-over")
    closed = _admin(site, tokens[email or ADMINS[0]], cid, "close")["conversation"]
    assert closed["status"] == "closed" and closed["rating"] is None
    return visitor


def _rate(site, visitor, score, comment=None):  # noqa: F811
    """The visitor rates their conversation, as the widget does."""
    body = {"score": score} if comment is None else {"score": score, "comment": comment}
    answer = visitor.http.post(f"{site.url}/chat/{visitor.conversation_id}/rating", json=body,
                               timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["conversation"]


def _rated_days_ago(site, days, name, score, comment):  # noqa: F811
    """A conversation rated ``days`` ago, written to the server's store by a tracker whose
    clock says so (nobody can rate in the past over HTTP)."""
    when = datetime.now(timezone.utc) - timedelta(days=days)
    store = SqliteStore(site.server.env["DATABASE_PATH"])
    try:
        tracker = ConversationTracker(store, EventBus(), clock=lambda: when)
        conversation = tracker.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"rated-{days}-{name}", content="hello",
            display_name=name, respond=False)).conversation
        tracker.close(conversation.id)
        tracker.rate(conversation.id, score, comment)
    finally:
        store.close()


# -- the stats page ------------------------------------------------------------------------
def _open_stats(page, site, period=None):  # noqa: F811
    page.goto(site.url + "/stats")
    page.wait_for_selector("body[data-ready=stats]")
    page.wait_for_selector("#satisfaction[data-period='7']")
    if period is not None:
        _choose(page, period)


def _choose(page, period):
    page.check(f"input[name=team-period][value='{period}']")
    page.wait_for_selector(f"#satisfaction[data-period='{period}']")
    page.wait_for_selector(f"#team-table[data-period='{period}']", state="attached")


def _card(page, key):
    return page.locator(f"#satisfaction-cards .stat-card[data-key={key}] .value")


def _score(page, score):
    return page.locator(f"#score-bars li[data-score='{score}'] .score-count")


def _agent_rows(page):
    return page.eval_on_selector_all(
        "#satisfaction-agents tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def _comments(page):
    return page.locator("#rating-comments .comment-text")


def _comment(page, cid):
    return page.locator(f"#rating-comments li[data-conversation='{cid}']")


def _start_of(request) -> datetime:
    return datetime.fromisoformat(parse_qs(urlsplit(request.url).query)["start"][0]
                                  .replace("Z", "+00:00"))


def test_satisfaction_follows_the_period_and_says_when_nothing_was_rated(page, site):  # noqa: F811
    sign_in(page, site)
    _open_stats(page, site)
    # Nothing rated yet on this module's site.
    expect(page.locator("#satisfaction-empty")).to_be_visible()
    expect(page.locator("#satisfaction-empty")).to_have_text("No ratings in this period")
    expect(page.locator("#satisfaction-body")).to_be_hidden()
    expect(page.locator("#satisfaction h2")).to_have_text("Satisfaction")

    _rated_days_ago(site, 10, "Paula Past", 2, "Too slow, ten days ago")
    _rated_days_ago(site, 3, "Tom Three", 5, "Great, three days ago")

    # The default period, the last 7 days: the rating of 3 days ago only.
    with page.expect_request(lambda r: SATISFACTION in r.url) as asked:
        page.reload()
    page.wait_for_selector("body[data-ready=stats]")
    now = datetime.now(timezone.utc)
    assert abs(_start_of(asked.value) - (now - timedelta(days=7))) < timedelta(minutes=1)
    expect(page.locator("#satisfaction-empty")).to_be_hidden()
    expect(_card(page, "rated")).to_have_text("1")
    expect(_card(page, "csat")).to_have_text("100.0 %")
    expect(_card(page, "average")).to_have_text("5.0")
    expect(_comments(page)).to_have_text(["Great, three days ago"])
    expect(page.locator(".period-caption")).to_have_text(["Last 7 days", "Last 7 days"])

    # Today, from the browser's midnight: nothing, in both sections the one choice moves.
    with page.expect_request(lambda r: SATISFACTION in r.url) as asked:
        page.check("input[name=team-period][value=today]")
    midnight = page.evaluate("() => new Date(new Date().setHours(0, 0, 0, 0)).toISOString()")
    assert _start_of(asked.value) == datetime.fromisoformat(midnight.replace("Z", "+00:00"))
    page.wait_for_selector("#satisfaction[data-period=today]")
    page.wait_for_selector("#team-table[data-period=today]", state="attached")
    expect(page.locator("#satisfaction-empty")).to_be_visible()
    expect(page.locator("#satisfaction-body")).to_be_hidden()
    expect(page.locator(".period-caption")).to_have_text(["Today", "Today"])

    # The last 30 days: both, the newest comment first.
    with page.expect_request(lambda r: SATISFACTION in r.url) as asked:
        page.check("input[name=team-period][value='30']")
    now = datetime.now(timezone.utc)
    assert abs(_start_of(asked.value) - (now - timedelta(days=30))) < timedelta(minutes=1)
    page.wait_for_selector("#satisfaction[data-period='30']")
    expect(page.locator("#satisfaction-empty")).to_be_hidden()
    expect(_card(page, "rated")).to_have_text("2")
    expect(_card(page, "csat")).to_have_text("50.0 %")
    expect(_card(page, "average")).to_have_text("3.5")
    expect(_comments(page)).to_have_text(["Great, three days ago", "Too slow, ten days ago"])
    expect(page.locator("#rating-comments .comment-person")).to_have_text(["Tom Three", "Paula Past"])
    for score, shown in ((5, "1 rating"), (4, "0 ratings"), (3, "0 ratings"), (2, "1 rating"),
                         (1, "0 ratings")):
        expect(_score(page, score)).to_have_text(shown)
    assert _agent_rows(page) == [["Unassigned", "2", "3.5", "50.0 %"]]


def test_rated_conversations_show_with_csat_average_accounts_and_comments(
        page, site, tokens):  # noqa: F811
    rosa = _closed_by(site, tokens, "Rosa Rated", AGENT)
    sam = _closed_by(site, tokens, "Sam Scored", AGENT)
    uma = _closed_by(site, tokens, "Uma Unhappy")
    _closed_by(site, tokens, "Nina Norating")  # closed, never rated: not counted
    olaf = site.visitor("Olaf Open")
    olaf.say("hello")
    # An open conversation cannot be rated.
    refused = olaf.http.post(f"{site.url}/chat/{olaf.conversation_id}/rating",
                             json={"score": 1}, timeout=10)
    assert refused.status_code == 409, refused.text

    assert _rate(site, rosa, 5, "Carl sorted it out in minutes")["rating"] == 5
    _rate(site, sam, 4)  # no comment
    _rate(site, uma, 2, "Nobody answered me")

    sign_in(page, site)
    _open_stats(page, site, "today")
    expect(page.locator("#satisfaction-empty")).to_be_hidden()
    expect(_card(page, "csat")).to_have_text("66.7 %")  # 2 of 3 gave 4 or 5
    expect(page.locator("#satisfaction-cards .stat-card[data-key=csat] .hint")).to_have_text(
        "2 of 3 rated 4 or 5")
    expect(_card(page, "average")).to_have_text("3.7")  # (5 + 4 + 2) / 3
    expect(_card(page, "rated")).to_have_text("3")
    for score, shown in ((5, "1 rating"), (4, "1 rating"), (3, "0 ratings"), (2, "1 rating"),
                         (1, "0 ratings")):
        expect(_score(page, score)).to_have_text(shown)
    widths = page.eval_on_selector_all(
        "#score-bars li", "lis => lis.map(li => li.querySelector('.score-fill').offsetWidth)")
    assert widths[0] > 0 and widths[0] == widths[1] == widths[3] and widths[2] == widths[4] == 0

    header = page.eval_on_selector_all("#satisfaction-agents thead th",
                                       "ths => ths.map(t => t.textContent)")
    assert header == ["Account", "Rated", "Average", "CSAT"]
    assert _agent_rows(page) == [[AGENT, "2", "4.5", "100.0 %"],
                                 ["Unassigned", "1", "2.0", "0.0 %"]]

    # The comments, newest first, each with its score, the person and a link to it.
    expect(_comments(page)).to_have_text(["Nobody answered me", "Carl sorted it out in minutes"])
    first = _comment(page, uma.conversation_id)
    expect(first.locator(".rating-score")).to_have_text("Rated 2/5")
    expect(first.locator(".comment-person")).to_have_text("Uma Unhappy")
    expect(first.locator("time")).not_to_have_text("")
    expect(_comment(page, rosa.conversation_id).locator(".rating-score")).to_have_text("Rated 5/5")
    expect(page.locator("#rating-comments-empty")).to_be_hidden()

    # On a phone the section fits the screen: its table scrolls inside its panel if need be.
    page.set_viewport_size({"width": 390, "height": 844})
    wait_until(page, "() => document.documentElement.scrollWidth <= 390")
    box = page.locator("#satisfaction").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    screenshot(page, "ratings_stats_phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    first.locator(".comment-person").click()
    page.wait_for_selector("body[data-ready=conversation]")
    assert page.url == f"{site.url}/conversations/{uma.conversation_id}"
    expect(page.locator("#c-rating .rating-score")).to_have_text("Rated 2/5")
    expect(page.locator("#c-rating .rating-comment")).to_have_text("Nobody answered me")


def test_a_new_rating_shows_on_the_open_stats_page_without_a_reload(
        page, site, tokens):  # noqa: F811
    liv = _closed_by(site, tokens, "Liv Live", AGENT)
    other = _closed_by(site, tokens, "Otto Unrated")
    sign_in(page, site)
    _open_stats(page, site, "today")
    asked = []
    page.on("request", lambda r: asked.append(r.url) if SATISFACTION in r.url else None)
    page.evaluate("window.__samePage = true")
    rated = int(_card(page, "rated").inner_text())
    ones = int(_score(page, 1).inner_text().split()[0])
    expect(_comment(page, liv.conversation_id)).to_have_count(0)

    _rate(site, liv, 1, "Live, and not happy")
    expect(_card(page, "rated")).to_have_text(str(rated + 1), timeout=15_000)
    expect(_comments(page).first).to_have_text("Live, and not happy")
    expect(_comment(page, liv.conversation_id).locator(".comment-person")).to_have_text("Liv Live")
    expect(_score(page, 1)).to_have_text(f"{ones + 1} rating{'' if ones == 0 else 's'}")
    assert page.evaluate("window.__samePage") is True  # no reload
    assert len(asked) == 1, asked  # one read, for the new rating

    # Changes that bring no new rating read nothing again: another conversation reopened,
    # the rated one reopened (its rating unchanged).
    _admin(site, tokens[ADMINS[0]], other.conversation_id, "reopen")
    _admin(site, tokens[ADMINS[0]], liv.conversation_id, "reopen")
    page.wait_for_timeout(6_500)  # longer than the page waits between two reads
    assert len(asked) == 1, asked


def test_the_conversation_page_shows_the_rating_live(page, site):  # noqa: F811
    cora = site.visitor("Cora Conversation")
    cora.say("hello")
    sign_in(page, site)
    open_conversation(page, site, cora.conversation_id)
    page.evaluate("window.__samePage = true")
    expect(page.locator("#c-rating")).to_be_hidden()  # nothing until rated
    page.click("#close")
    expect(page.locator("#c-status")).to_have_text("closed")
    expect(page.locator("#c-rating")).to_be_hidden()

    _rate(site, cora, 3, "Fine, but slow")
    rating = page.locator("#c-rating")
    expect(rating).to_be_visible(timeout=15_000)
    expect(rating.locator(".rating-score")).to_have_text("Rated 3/5")
    expect(rating.locator(".rating-comment")).to_have_text("Fine, but slow")
    expect(rating).to_have_text("Rated 3/5Fine, but slow")
    # The comment shows in quotes (a <q>: the browser's own quotation marks).
    quotes = rating.locator(".rating-comment").evaluate(
        "q => [getComputedStyle(q, '::before').content, getComputedStyle(q, '::after').content]")
    assert quotes[0] not in ("none", "normal", '""') and quotes[1] not in ("none", "normal", '""')
    expect(page.locator("#facts")).to_contain_text("3/5")

    # A new rating replaces it, live; one without a comment shows no quotes.
    _rate(site, cora, 5)
    expect(rating.locator(".rating-score")).to_have_text("Rated 5/5", timeout=15_000)
    expect(rating.locator(".rating-comment")).to_have_count(0)
    expect(rating).to_have_text("Rated 5/5")  # and nothing else
    assert page.evaluate("window.__samePage") is True  # no reload
    # Reopened, the rating stays (it is the person's word on what came before).
    page.click("#reopen")
    expect(page.locator("#c-status")).to_have_text("active")
    expect(rating.locator(".rating-score")).to_have_text("Rated 5/5")


def test_markup_in_a_rating_comment_shows_as_text(page, site, tokens):  # noqa: F811
    visitor = _closed_by(site, tokens, '<img src=x onerror="window.__pwned=1">Mal')
    sign_in(page, site)
    open_conversation(page, site, visitor.conversation_id)
    _rate(site, visitor, 1, XSS)
    rating = page.locator("#c-rating")
    expect(rating.locator(".rating-comment")).to_have_text(XSS, timeout=15_000)
    assert rating.locator("img, b").count() == 0

    _open_stats(page, site, "today")
    item = _comment(page, visitor.conversation_id)
    expect(item.locator(".comment-text")).to_have_text(XSS)
    expect(item.locator(".comment-person")).to_have_text('<img src=x onerror="window.__pwned=1">Mal')
    assert item.locator("img, b").count() == 0
    assert page.locator("#satisfaction img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert re.fullmatch(r"/conversations/\d+", item.locator("a").get_attribute("href"))


def test_the_inbox_shows_each_rating_live(page, site, tokens):  # noqa: F811
    """A closed conversation's row shows the person's score (an unhappy one in red), live."""
    ivy = _closed_by(site, tokens, "Ivy Inbox")
    sign_in(page, site)
    page.evaluate("window.__samePage = true")
    row = page.locator(f".conv-row[data-id='{ivy.conversation_id}']")
    expect(row).to_be_visible()
    badge = row.locator(".row-rating")
    expect(badge).to_be_hidden()  # not rated yet
    _rate(site, ivy, 1, "Nobody <b>helped</b>")
    expect(badge).to_be_visible(timeout=15_000)
    expect(badge).to_have_text("rated 1/5")  # "rated " is for screen readers only
    expect(badge).to_have_class(re.compile(r"\brating-bad\b"))
    assert badge.get_attribute("title") == "Rated 1/5: Nobody <b>helped</b>"
    _rate(site, ivy, 4)
    expect(badge).to_have_class(re.compile(r"\brating-good\b"), timeout=15_000)
    expect(badge).not_to_have_class(re.compile(r"\brating-bad\b"))
    assert badge.get_attribute("title") == "Rated 4/5"
    assert page.evaluate("window.__samePage") is True
