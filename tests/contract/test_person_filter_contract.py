"""Contract: one person's conversations (``external_user_id``), and no filter is ever ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.errors import InvalidInput, StoreUnavailable
from services.models import ConversationCursor, ConversationFilter
from tests.contract.helpers import inbound


def _ids(store, limit: int = 100, **filters) -> list[int]:
    page = store.list_conversations(ConversationFilter(**filters), limit)
    return [c.id for c in page.conversations]


@pytest.fixture
def people(store, clock):
    """Visitor "v1" with a closed and an open web chat conversation, and look-alikes: the same
    id on Messenger, another case, a prefix, an extension, and ids with LIKE wildcards."""
    t = clock
    made = {}
    made["v1_old"] = store.track_inbound(inbound("v1", "first visit"), t()).conversation
    store.set_status(made["v1_old"].id, "closed", t.advance(minutes=1))
    for name, user, platform in [
        ("other", "v2", "webchat"),
        ("fb_same_id", "v1", "messenger"),
        ("upper", "V1", "webchat"),
        ("prefix", "v", "webchat"),
        ("longer", "v10", "webchat"),
        ("percent", "v%", "webchat"),
        ("underscore", "v_", "webchat"),
    ]:
        made[name] = store.track_inbound(
            inbound(user, "hello", platform=platform), t.advance(minutes=1)).conversation
    made["v1_new"] = store.track_inbound(inbound("v1", "back again"),
                                         t.advance(minutes=1)).conversation
    return made


def test_external_user_id_lists_that_persons_conversations_only(store, people):
    assert people["v1_new"].id != people["v1_old"].id
    assert _ids(store, platform="webchat", external_user_id="v1") == [
        people["v1_new"].id, people["v1_old"].id]  # closed ones too, newest first
    assert _ids(store, platform="messenger", external_user_id="v1") == [people["fb_same_id"].id]
    assert _ids(store, platform="webchat", external_user_id="v2") == [people["other"].id]
    assert _ids(store, platform="webchat", external_user_id="nobody") == []


def test_external_user_id_is_an_exact_case_sensitive_match(store, people):
    assert _ids(store, platform="webchat", external_user_id="V1") == [people["upper"].id]
    assert _ids(store, platform="webchat", external_user_id="v") == [people["prefix"].id]
    assert _ids(store, platform="webchat", external_user_id="v%") == [people["percent"].id]
    assert _ids(store, platform="webchat", external_user_id="v_") == [people["underscore"].id]
    assert _ids(store, platform="webchat", external_user_id="%") == []


def test_external_user_id_combines_with_other_filters_and_sorts(store, people):
    v1 = dict(platform="webchat", external_user_id="v1")
    assert _ids(store, status="closed", **v1) == [people["v1_old"].id]
    assert _ids(store, status="active", **v1) == [people["v1_new"].id]
    assert _ids(store, search="first visit", **v1) == [people["v1_old"].id]
    assert _ids(store, search="hello", **v1) == []
    for sort in ("last_activity", "priority", "waiting"):
        assert set(_ids(store, sort=sort, **v1)) == {people["v1_new"].id, people["v1_old"].id}


def test_external_user_id_pages_with_a_cursor(store, clock):
    made = []
    for i in range(5):  # each one closed, so the next message opens a new conversation
        made.append(store.track_inbound(inbound("pager", f"m{i}"),
                                        clock.advance(seconds=1)).conversation.id)
        store.set_status(made[-1], "closed", clock.advance(seconds=1))
    store.track_inbound(inbound("someone-else"), clock.advance(seconds=1))
    filters = ConversationFilter(platform="webchat", external_user_id="pager")
    seen, cursor = [], None
    while True:
        page = store.list_conversations(filters, limit=2, cursor=cursor)
        seen += [c.id for c in page.conversations]
        if page.next_cursor is None:
            break
        cursor = ConversationCursor.decode(page.next_cursor)
    assert seen == made[::-1]


# -- no filter is ever ignored --------------------------------------------------------------------

class _FilterWithMore(ConversationFilter):
    """A filter with a field no store implements (as a newer model would have)."""

    mood: str | None = None


def test_a_filter_the_store_does_not_implement_is_refused(store, people):
    with pytest.raises(InvalidInput, match="mood"):
        store.list_conversations(_FilterWithMore(platform="webchat", mood="happy"), limit=100)
    # Unset, it is no filter at all.
    listed = store.list_conversations(_FilterWithMore(platform="messenger"), limit=100)
    assert [c.id for c in listed.conversations] == [people["fb_same_id"].id]


def test_the_filter_model_refuses_unknown_fields_and_a_person_without_platform():
    with pytest.raises(ValidationError):
        ConversationFilter(external_userid="v1", platform="webchat")  # a typo is not ignored
    with pytest.raises(ValidationError, match="needs platform"):
        ConversationFilter(external_user_id="v1")
    with pytest.raises(ValidationError):
        ConversationFilter(platform="webchat", external_user_id="")
    assert ConversationFilter(platform="webchat", external_user_id="v1").external_user_id == "v1"


# -- Supabase: the SQL function refuses too, and old SQL is caught --------------------------------

# The ``store`` fixture, on Supabase only.
supabase_only = pytest.mark.parametrize(
    "store", [pytest.param("supabase", marks=pytest.mark.supabase)], indirect=True)


@pytest.fixture
def sb(store):
    return store


def _rpc_list(sb, filters: dict):
    return sb._rpc("list_conversations", {"p_filters": filters, "p_limit": 10, "p_cursor": None})


@supabase_only
def test_supabase_function_refuses_unknown_filters(sb, people):
    with pytest.raises(InvalidInput, match="unsupported conversation filter: colour, mood"):
        _rpc_list(sb, {"platform": "webchat", "mood": "happy", "colour": "red"})
    with pytest.raises(InvalidInput, match="needs platform"):
        _rpc_list(sb, {"external_user_id": "v1"})
    with pytest.raises(InvalidInput, match="JSON object"):
        _rpc_list(sb, ["platform", "webchat"])
    assert len(_rpc_list(sb, {"platform": "webchat", "mood": None})) == 8  # null: no filter
    assert [r["id"] for r in _rpc_list(sb, {"platform": "webchat", "external_user_id": "v2"})] \
        == [people["other"].id]


@supabase_only
def test_supabase_rows_that_fail_a_filter_are_refused(sb, people, monkeypatch):
    """A database still on an older ``list_conversations`` ignores the new key: the store
    must not pass everyone's conversations on as that person's."""
    real = sb._rpc

    def old_sql(function, params):
        if function == "list_conversations":
            params = {**params, "p_filters": {k: v for k, v in params["p_filters"].items()
                                              if k != "external_user_id"}}
        return real(function, params)

    monkeypatch.setattr(sb, "_rpc", old_sql)
    with pytest.raises(StoreUnavailable, match="external_user_id"):
        sb.list_conversations(ConversationFilter(platform="webchat", external_user_id="v1"), 100)
