"""Generated Messenger webhooks, correctly signed, against the app over both stores.

Every body (valid-shaped with mutations, wrong types, huge, any unicode, not JSON,
truncated, not an object, not a Page) must get 200 or a 4xx with a JSON error body, never a
5xx; after each one the store holds exactly the messages the bodies so far describe (see
``messenger_payloads``), each in its person's conversation, each user message that must be
answered with its ``respond`` job and no other message with one: nothing half-written.
"""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from pydantic import SecretStr

from channels.messenger.signature import sign
from tests.reliability.messenger_payloads import Expected, Payload, payloads
from tests.support.snapshot import StoredMessage, messages_of, serve_over

SECRET = "fuzz-app-secret"
LIMIT = 400_000  # WEBHOOK_MAX_BODY_BYTES here: big bodies, and some over it

# Deterministic and bounded for CI (2 cores): a fixed seed, no example database.
FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.large_base_example])


class Model:
    """The messages the bodies sent so far must have stored, by external id."""

    def __init__(self) -> None:
        self.messages: dict[str, Expected] = {}

    def apply(self, payload: Payload) -> None:
        # Events are handled in timestamp order (stable); a mid already stored is a no-op.
        for message in sorted(payload.messages, key=lambda m: m.ms):
            self.messages.setdefault(message.external_id, message)

    def check(self, stored: list[StoredMessage]) -> None:
        """The store holds exactly these messages, each whole."""
        by_id = {m.external_id: m for m in stored}
        assert len(by_id) == len(stored), "an external id is stored twice"
        assert set(by_id) == set(self.messages), (
            f"missing {sorted(set(self.messages) - set(by_id))[:5]!r}, "
            f"unexpected {sorted(set(by_id) - set(self.messages))[:5]!r}")
        conversations: dict[str, int] = {}
        for external_id, want in self.messages.items():
            got = by_id[external_id]
            assert (got.platform, got.external_user_id, got.sender_type, got.content) == (
                "messenger", want.external_user_id, want.sender_type, want.content), external_id
            assert got.jobs == (("respond",) if want.respond else ()), external_id
            # One open conversation per person: all of a person's messages share it.
            assert conversations.setdefault(got.external_user_id, got.conversation_id) == (
                got.conversation_id)


def check_answer(status: int, body: bytes, payload: Payload) -> None:
    assert status < 500, f"{status} for a {payload.what} body: {body[:300]!r}"
    assert status == payload.status, f"{status} for a {payload.what} body: {body[:300]!r}"
    data = json.loads(body)
    if status == 200:
        assert data == {"status": "ok"}
    else:
        assert set(data) == {"error", "detail"} and data["error"] and data["detail"]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"facebook_app_secret": SecretStr(SECRET),
                                       "webhook_max_body_bytes": LIMIT})


def _stack(request, store):
    return request.getfixturevalue("supabase_stack") if store.kind == "supabase" else None


def test_signed_generated_webhooks_never_fail_or_half_write(app, store, request, ledger):
    client = app.test_client()
    stack = _stack(request, store)
    model = Model()
    sent = described = 0
    examples = 60 if store.kind == "sqlite" else 30

    def run(seed_value: int) -> None:
        @seed(seed_value)
        @hsettings(max_examples=examples, **FUZZ)
        @given(payloads(LIMIT))
        def one(payload: Payload):
            nonlocal sent, described
            answer = client.post("/webhook", data=payload.raw, headers={
                "X-Hub-Signature-256": sign(payload.raw, SECRET),
                "Content-Type": "application/json"})
            sent += 1
            check_answer(answer.status_code, answer.get_data(), payload)
            described += len(payload.messages)
            model.apply(payload)
            model.check(messages_of(store, stack))

        one()

    # The bodies must describe enough distinct messages for the checks to mean something.
    # How many a seed's examples describe depends on more than the seed: Hypothesis also
    # draws from the constants of the project's modules loaded so far, so it changes with
    # the code and with what ran before in the session (30 examples on Supabase described
    # 26 run alone, 14 and then 8 in full runs). So another round runs, with the next seed,
    # on the same store and model, until 10 distinct messages were stored and checked.
    for seed_value in range(8, 12):
        run(seed_value)
        if len(model.messages) >= 10:
            break
    ledger.payloads(sent)
    assert sent >= examples and described >= len(model.messages) >= 10, (
        sent, described, len(model.messages))


def test_unsigned_or_wrongly_signed_generated_webhooks_are_403_and_write_nothing(
        app, store, request, ledger):
    client = app.test_client()
    stack = _stack(request, store)
    sent = 0

    @seed(8)
    @hsettings(max_examples=25, **FUZZ)
    @given(payloads(LIMIT))
    def run(payload: Payload):
        nonlocal sent
        if len(payload.raw) > LIMIT:
            return  # refused for its size before the signature is read (413)
        good = sign(payload.raw, SECRET)
        for signature in (None, sign(payload.raw, "another-secret"), good.upper(),
                          good[:-1], "sha1=" + good[7:], good + "0", "sha256=\u00e9\u00e9"):
            headers = {} if signature is None else {"X-Hub-Signature-256": signature}
            if signature is not None and not signature.isascii():
                headers = {"X-Hub-Signature-256": signature.encode().decode("latin-1")}
            answer = client.post("/webhook", data=payload.raw, headers=headers)
            sent += 1
            assert answer.status_code == 403, answer.get_data()[:200]
            assert answer.get_json()["error"] == "forbidden"
        assert messages_of(store, stack) == []

    run()
    ledger.payloads(sent)
    assert sent > 100


# -- the same through gunicorn, over real HTTP ------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def live(request, tmp_path):
    """gunicorn serving the app (no background worker: respond jobs stay queued)."""
    server, read = serve_over(request, tmp_path, {
        "SECRET_KEY_FILE": str(tmp_path / "secret"), "RESPONDER": "off",
        "RUN_WORKER_IN_APP": "false", "FACEBOOK_APP_SECRET": SECRET,
        "WEBHOOK_MAX_BODY_BYTES": str(LIMIT), "LOG_LEVEL": "ERROR"}, "fuzz.db")
    yield server, read
    server.stop()


def test_generated_webhooks_over_real_http(live, ledger):
    server, read = live
    model = Model()
    sent = 0
    session = requests.Session()

    @seed(8)
    @hsettings(max_examples=15, **FUZZ)
    @given(payloads(LIMIT))
    def run(payload: Payload):
        nonlocal sent
        answer = session.post(server.url + "/webhook", data=payload.raw, timeout=30, headers={
            "X-Hub-Signature-256": sign(payload.raw, SECRET), "Content-Type": "application/json"})
        sent += 1
        check_answer(answer.status_code, answer.content, payload)
        model.apply(payload)
        model.check(read())

    run()
    ledger.payloads(sent)
    assert sent >= 15
