"""Contract: the team's saved replies (both stores)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.errors import Conflict, InvalidInput, NotFound
from services.models import MAX_SAVED_REPLIES, NewSavedReply, saved_reply_key
from tests.contract.helpers import MISSING_ID


def _reply(title: str, body: str = "Thanks {first_name}, we open at 9.") -> NewSavedReply:
    return NewSavedReply(title=title, body=body)


def test_create_list_update_delete(store, clock):
    admin = store.create_user("admin@example.com", "admin", "h", clock())
    hours = store.create_saved_reply(_reply("Opening hours"), admin.id, clock())
    assert (hours.title, hours.body, hours.created_by) == (
        "Opening hours", "Thanks {first_name}, we open at 9.", admin.id)
    assert hours.created_at == hours.updated_at == clock()
    refund = store.create_saved_reply(_reply("refund policy", "30 days."), None,
                                      clock.advance(seconds=1))
    zed = store.create_saved_reply(_reply("Zebra", "z"), admin.id, clock())
    # Title order, whatever the case.
    assert [r.title for r in store.list_saved_replies()] == [
        "Opening hours", "refund policy", "Zebra"]

    later = clock.advance(minutes=5)
    changed = store.update_saved_reply(refund.id, _reply("Refunds", "30 days, no questions."),
                                       later)
    assert (changed.id, changed.title, changed.body) == (refund.id, "Refunds",
                                                         "30 days, no questions.")
    assert (changed.created_at, changed.updated_at) == (refund.created_at, later)
    assert store.list_saved_replies() == [hours, changed, zed]

    store.delete_saved_reply(zed.id)
    assert store.list_saved_replies() == [hours, changed]
    with pytest.raises(NotFound):
        store.delete_saved_reply(zed.id)
    with pytest.raises(NotFound):
        store.update_saved_reply(MISSING_ID, _reply("Anything"), later)


def test_titles_are_unique_whatever_the_case_and_spacing(store, clock):
    first = store.create_saved_reply(_reply("Opening hours"), None, clock())
    for same in ("opening HOURS", "Opening   hours", "  Opening hours  "):
        with pytest.raises(Conflict, match="a saved reply is titled"):
            store.create_saved_reply(_reply(same), None, clock())
    other = store.create_saved_reply(_reply("Delivery"), None, clock())
    with pytest.raises(Conflict):
        store.update_saved_reply(other.id, _reply("OPENING HOURS"), clock())
    # A reply may keep its own title in another case.
    assert store.update_saved_reply(first.id, _reply("Opening Hours"), clock()).title == \
        "Opening Hours"
    assert [r.title for r in store.list_saved_replies()] == ["Delivery", "Opening Hours"]


def test_non_ascii_titles_fold_the_same_on_both_stores(store, clock):
    store.create_saved_reply(_reply("Größe"), None, clock())
    with pytest.raises(Conflict):
        store.create_saved_reply(_reply("GRÖSSE"), None, clock())  # casefold: ß is ss
    assert saved_reply_key("ÉTÉ  Été") == "été été"


def test_an_unknown_account_is_not_found_and_nothing_is_stored(store, clock):
    with pytest.raises(NotFound):
        store.create_saved_reply(_reply("Orphan"), MISSING_ID, clock())
    assert store.list_saved_replies() == []


def test_the_list_is_bounded(store, clock, monkeypatch):
    import services.store.sqlite_replies
    import services.store.supabase_replies

    for module in (services.store.sqlite_replies, services.store.supabase_replies):
        monkeypatch.setattr(module, "MAX_SAVED_REPLIES", 3)
    for n in range(3):
        store.create_saved_reply(_reply(f"Reply {n}"), None, clock())
    with pytest.raises(InvalidInput, match="at most 3 saved replies"):
        store.create_saved_reply(_reply("One too many"), None, clock())
    assert len(store.list_saved_replies()) == 3
    assert MAX_SAVED_REPLIES == 500


@pytest.mark.parametrize("title, body", [
    ("", "text"), ("   ", "text"), ("x" * 81, "text"), ("Title", ""), ("Title", " \n "),
    ("Title", "x" * 4001),
], ids=["no title", "blank title", "long title", "no text", "blank text", "long text"])
def test_a_blank_or_too_long_reply_is_refused_before_the_store(title, body):
    with pytest.raises(ValidationError):
        NewSavedReply(title=title, body=body)


def test_title_and_text_are_trimmed_and_keep_inner_lines():
    reply = NewSavedReply(title="  Hours ", body="\n Line one\nLine two \n")
    assert (reply.title, reply.body) == ("Hours", "Line one\nLine two")
