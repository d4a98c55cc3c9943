"""Schemathesis fuzzes the admin API of a live gunicorn server on each store.

The document is the one the server serves at ``/admin/openapi.json``. Every operation gets
generated requests, valid ones (positive) and invalid ones (negative), with a real API
token; each answer must be no 5xx, a documented status with a documented content type, and
a body that conforms to the response schema. Ids in paths are drawn half from the seeded
conversations and messages, so the reads and changes find real rows. The run is
deterministic (``derandomize``) and bounded (``max_examples`` per operation and mode).
"""

from __future__ import annotations

import os
import time

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from admin_app.security import hash_api_token, hash_password, new_api_token
from services.models import InboundMessage, NewSavedReply, OutboundMessage
from tests.support.live_server import LiveServer

# Examples per operation and mode; SCHEMA_FUZZ_SCALE=10 runs a deeper sweep by hand.
SCALE = int(os.environ.get("SCHEMA_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 25 * SCALE, GenerationMode.NEGATIVE: 12 * SCALE}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# An invalid request must be refused with one of these (414: gunicorn's own limit on the
# request line, which a very long invalid query string reaches first).
REJECTED = ["400", "401", "404", "405", "409", "413", "414", "415", "422"]


DELETES_CONVERSATIONS = ("DELETE", "/admin/conversations/{conversation_id}")


def seed(services) -> dict[str, list[int]]:
    """Conversations on both platforms with messages, a flag, a closed one, a handled and
    assigned one, and a failed agent reply; returns the ids the fuzzer should aim at."""
    tracker = services.tracker
    agent = services.store.create_user("agent@example.com", "agent", hash_password("x" * 12),
                                       services.clock())
    conversations, messages = [], []
    for i in range(6):
        platform = "messenger" if i % 2 else "webchat"
        for j in range(3):
            result = tracker.track_inbound(InboundMessage(
                platform=platform, external_user_id=f"person-{i}", external_id=f"m-{i}-{j}",
                content=f"hello {i}.{j} <b>émoji 🙂</b>", display_name=f"Person {i}",
                respond=False,
            ))
            messages.append(result.message.id)
        conversations.append(result.conversation.id)
    tracker.mark_needs_human(messages[0], "asked for a person", 1)
    tracker.close(conversations[1])
    tracker.set_handling(conversations[2], "human", agent.id)
    failed = tracker.track_outbound(OutboundMessage(
        conversation_id=conversations[3], sender_type="agent", sender_id=agent.email,
        content="we are on it"))
    tracker.set_delivery_status(failed.id, "failed", error="window closed")
    bot = tracker.track_outbound(OutboundMessage(
        conversation_id=conversations[4], sender_type="bot", content="an answer",
        confidence_score=0.42))
    messages += [failed.id, bot.id]
    replies = [services.store.create_saved_reply(
        NewSavedReply(title=f"Saved {n}", body=f"Hi {{first_name}}, answer {n}."), agent.id,
        services.clock()).id for n in range(3)]
    notes = [tracker.add_note(conversations[n], f"agent's note {n}", agent).id for n in (0, 1)]
    tags = ["billing", "vip customer"]
    for n, tag in enumerate(tags):
        tracker.add_tag(conversations[n], tag, agent)
    return {"conversation_id": conversations, "message_id": messages, "reply_id": replies,
            "note_id": notes, "tag": tags, "user_id": [agent.id]}


@pytest.fixture
def fuzzed_server(request, store, services, tmp_path):
    """A live server over the seeded store, and an admin's API token."""
    ids = seed(services)
    admin = services.store.create_user("admin@example.com", "admin", hash_password("y" * 12),
                                       services.clock())
    token = new_api_token()
    services.store.create_api_token(admin.id, "fuzz", hash_api_token(token), services.clock())
    # The admin's own notes too, which its token may edit (another's is a 403).
    ids["note_id"] += [services.tracker.add_note(ids["conversation_id"][n], f"admin's note {n}",
                                                 admin).id for n in (2, 3)]
    ids["user_id"].append(admin.id)
    env = {"SECRET_KEY": "fuzz", "SECRET_KEY_FILE": str(tmp_path / "secret")}
    if store.kind == "sqlite":
        env["DATABASE_PATH"] = str(store.path)
    else:
        stack = request.getfixturevalue("supabase_stack")
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key,
                   DATABASE_PATH=str(tmp_path / "unused.db"))
    server = LiveServer(env, log_path=tmp_path / "server.log").start()
    yield server, token, ids
    server.stop()


def _describe(exc: BaseException) -> str:
    """The failure, with the inner exceptions of a group (Hypothesis and schemathesis group
    what they found)."""
    text = f"{type(exc).__name__}: {exc}"
    for inner in getattr(exc, "exceptions", ()):
        text += f"\n  - {type(inner).__name__}: {str(inner)[:1500]}"
    return text[:4000]


def _strategy(operation, mode: GenerationMode, ids: dict[str, list]):
    """Cases for one operation; path ids half random, half seeded rows."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not names or mode is GenerationMode.NEGATIVE:
        return generated
    seeded = st.sampled_from(ids[names[0]]).flatmap(
        lambda value: operation.as_strategy(generation_mode=mode,
                                            path_parameters={names[0]: value}))
    return st.one_of(generated, seeded)


def test_admin_api_conforms_to_its_openapi_document(fuzzed_server, store, ledger):
    server, token, ids = fuzzed_server
    auth = {"Authorization": f"Bearer {token}"}
    served = requests.get(server.url + "/admin/openapi.json", headers=auth, timeout=10)
    assert served.status_code == 200
    config = schemathesis.Config.from_dict({
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
        # The API ignores query parameters it does not know (cache busters), by design; and
        # the token is ours to send, so the fuzzer leaves the Authorization header alone.
        "generation": {"allow-extra-parameters": False, "with-security-parameters": False},
    })
    schema = schemathesis.openapi.from_dict(served.json(), config=config)
    sent = {"n": 0}
    failures: dict[str, str] = {}
    started = time.monotonic()

    def fuzz(operation) -> None:
        for mode, examples in EXAMPLES.items():
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=_strategy(operation, mode, ids))
            def run(case):
                sent["n"] += 1
                # A fresh connection each time: gunicorn closes idle keep-alive ones after 5 s.
                case.call_and_validate(base_url=server.url, headers=auth,
                                       checks=checks, timeout=30)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing invalid to generate (an operation without inputs)
            except (Exception, BaseExceptionGroup) as exc:  # every failure is reported below
                failures[f"{mode.value} {operation.label}"] = _describe(exc)

    # Deleting conversations goes last: it takes the seeded rows the others aim at.
    operations = [result.ok() for result in schema.get_all_operations()]
    last = [o for o in operations if (o.method.upper(), o.path) == DELETES_CONVERSATIONS]
    assert len(last) == 1
    for operation in operations:
        if operation not in last:
            fuzz(operation)
    # The seeded rows are still there after everything else.
    for cid in ids["conversation_id"]:
        assert store.get_conversation(cid) is not None
    fuzz(last[0])

    ledger.payloads(sent["n"])
    print(f"{store.kind}: {sent['n']} requests in {time.monotonic() - started:.0f} s")
    assert sent["n"] >= 17 * 10, "the fuzzer sent far fewer requests than configured"
    assert not failures, "\n\n".join(f"== {k}\n{v}" for k, v in failures.items())
    # The server is still healthy, and the last operation deleted seeded conversations.
    assert requests.get(server.url + "/readyz", timeout=10).status_code == 200
    assert any(store.get_conversation(cid) is None for cid in ids["conversation_id"])
