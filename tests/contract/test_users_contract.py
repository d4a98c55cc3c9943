"""Contract: admin users, API tokens, and the store's liveness check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import Conflict, InvalidInput, NotFound
from tests.contract.helpers import MISSING_ID


def test_ping_answers(store):
    assert store.ping() is None


def test_create_and_read_users(store, clock):
    now = clock()
    admin = store.create_user("Admin@Example.com", "admin", "hash-a", now)
    agent = store.create_user("agent@example.com", "agent", "hash-b", clock.advance(seconds=1))

    assert (admin.email, admin.role) == ("Admin@Example.com", "admin")
    assert admin.password_hash == "hash-a"
    assert (admin.created_at, admin.disabled) == (now, False)
    assert agent.id != admin.id
    assert store.get_user(admin.id) == admin
    assert store.get_user(MISSING_ID) is None
    assert {u.id for u in store.list_users()} == {admin.id, agent.id}


def test_email_is_case_insensitive(store, clock):
    user = store.create_user("Mixed.Case@Example.com", "agent", "h", clock())
    assert store.get_user_by_email("mixed.case@example.com") == user
    assert store.get_user_by_email("MIXED.CASE@EXAMPLE.COM") == user
    assert store.get_user_by_email("other@example.com") is None
    with pytest.raises(Conflict):
        store.create_user("mixed.case@EXAMPLE.com", "admin", "h2", clock())
    assert len(store.list_users()) == 1


def test_email_lookup_is_not_a_pattern(store, clock):
    store.create_user("a_b@example.com", "agent", "h", clock())
    assert store.get_user_by_email("axb@example.com") is None
    assert store.get_user_by_email("%@example.com") is None


def test_set_user_password(store, clock):
    user = store.create_user("pw@example.com", "agent", "old", clock())
    store.set_user_password(user.id, "new")
    assert store.get_user(user.id).password_hash == "new"
    with pytest.raises(NotFound):
        store.set_user_password(MISSING_ID, "x")


def test_an_account_names_itself_for_the_people_it_answers(store, clock):
    user = store.create_user("sam@example.com", "agent", "h", clock())
    assert user.display_name is None
    named = store.set_user_name(user.id, "Sam Ødegård")
    assert named.display_name == "Sam Ødegård" and named.email == "sam@example.com"
    assert store.get_user(user.id) == named == store.get_user_by_email("SAM@example.com")
    assert [u.display_name for u in store.list_users()] == ["Sam Ødegård"]
    token = store.create_api_token(user.id, "ci", "hash-n", clock())
    assert token and store.authenticate_token("hash-n", clock()).display_name == "Sam Ødegård"
    assert store.set_user_name(user.id, "x" * 60).display_name == "x" * 60
    for bad in ("", "x" * 61):
        with pytest.raises(InvalidInput):
            store.set_user_name(user.id, bad)
    assert store.get_user(user.id).display_name == "x" * 60
    assert store.set_user_name(user.id, None).display_name is None
    with pytest.raises(NotFound):
        store.set_user_name(MISSING_ID, "Nobody")


def test_token_lifecycle(store, clock):
    user = store.create_user("tok@example.com", "admin", "h", clock())
    other = store.create_user("other@example.com", "agent", "h", clock())
    created = clock.advance(minutes=1)
    token = store.create_api_token(user.id, "ci", "hash-1", created)
    store.create_api_token(other.id, "laptop", "hash-2", created)

    assert (token.user_id, token.name, token.token_hash) == (user.id, "ci", "hash-1")
    assert (token.created_at, token.last_used_at, token.revoked_at) == (created, None, None)
    assert store.list_api_tokens(user.id) == [token]
    assert {t.token_hash for t in store.list_api_tokens()} == {"hash-1", "hash-2"}

    used = clock.advance(minutes=5)
    assert store.authenticate_token("hash-1", used) == user
    assert store.list_api_tokens(user.id)[0].last_used_at == used
    assert store.authenticate_token("no-such-hash", used) is None

    revoked = clock.advance(minutes=1)
    store.revoke_api_token(token.id, revoked)
    assert store.authenticate_token("hash-1", clock.advance(minutes=1)) is None
    (after,) = store.list_api_tokens(user.id)
    assert (after.revoked_at, after.last_used_at) == (revoked, used)
    store.revoke_api_token(token.id, clock.advance(minutes=1))  # harmless
    assert store.list_api_tokens(user.id)[0].revoked_at is not None
    assert store.authenticate_token("hash-2", clock()) == other  # other tokens unaffected


def test_token_errors(store, clock):
    user = store.create_user("err@example.com", "agent", "h", clock())
    store.create_api_token(user.id, "one", "dup-hash", clock())
    with pytest.raises(Conflict):
        store.create_api_token(user.id, "two", "dup-hash", clock())
    with pytest.raises(NotFound):
        store.create_api_token(MISSING_ID, "x", "fresh-hash", clock())
    with pytest.raises(NotFound):
        store.revoke_api_token(MISSING_ID, clock())
    assert len(store.list_api_tokens()) == 1


def test_disabled_users_token_is_refused(store, clock):
    user = store.create_user("off@example.com", "agent", "h", clock())
    token = store.create_api_token(user.id, "t", "hash-off", clock())
    store.set_user_disabled(user.id, True)
    assert store.get_user(user.id).disabled is True
    assert store.authenticate_token("hash-off", clock.advance(minutes=1)) is None
    assert store.list_api_tokens(user.id)[0].last_used_at is None

    store.set_user_disabled(user.id, False)
    back = clock.advance(minutes=1)
    assert store.authenticate_token("hash-off", back).id == user.id
    assert store.list_api_tokens(user.id)[0].last_used_at == back
    assert store.list_api_tokens(user.id)[0].id == token.id
    with pytest.raises(NotFound):
        store.set_user_disabled(MISSING_ID, True)


def test_token_times_are_utc(store, clock):
    user = store.create_user("utc@example.com", "agent", "h", clock())
    token = store.create_api_token(user.id, "t", "hash-utc", clock())
    assert token.created_at.utcoffset() == timedelta(0)
    assert user.created_at.utcoffset() == timedelta(0)
