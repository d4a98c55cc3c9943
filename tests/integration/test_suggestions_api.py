"""``GET /admin/conversations/<id>/suggestions`` over both stores: the FAQ bot's knowledge
entries closest to the person's latest message, for an agent's reply."""

from __future__ import annotations

from services.models import InboundMessage, OutboundMessage


def _say(services, content: str, user: str = "suggest-1", attachments=None):
    return services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, content=content, respond=False,
        external_id=f"{user}-{content[:20]}", attachments=attachments or [])).conversation


def test_the_closest_entries_to_the_persons_latest_message(client, services, make_token):
    agent = make_token()
    first = _say(services, "where is my parcel??")
    _say(services, "my lamp arrived broken, I want my money back")
    services.tracker.track_outbound(OutboundMessage(
        conversation_id=first.id, sender_type="bot", content="Sorry, could you rephrase?"))
    answer = client.get(f"/admin/conversations/{first.id}/suggestions", headers=agent)
    assert answer.status_code == 200, answer.json
    body = answer.json
    latest = services.tracker.history(first.id, 10)[-2]  # the person's, before the bot's
    assert (body["available"], body["message_id"]) == (True, latest.id)
    (returns,) = body["suggestions"]
    assert returns["intent"] == "returns" and 55 <= returns["score"] < 70
    entry = next(e for e in services.responder.entries if e.intent == "returns")
    assert (returns["answer"], returns["question"]) == (entry.answer, entry.questions[0])

    # Nothing close: none offered; a message of a file alone: none to answer.
    other = _say(services, "the weather is nice today", user="suggest-2")
    assert client.get(f"/admin/conversations/{other.id}/suggestions",
                      headers=agent).json["suggestions"] == []
    photo = _say(services, "", user="suggest-3", attachments=[
        {"type": "image", "url": "https://example.com/a.png", "name": "a.png"}])
    body = client.get(f"/admin/conversations/{photo.id}/suggestions", headers=agent).json
    assert (body["available"], body["message_id"], body["suggestions"]) == (True, None, [])


def test_refused_without_an_account_or_for_an_unknown_conversation(client, services,
                                                                   make_token):
    conversation = _say(services, "where is my parcel??")
    assert client.get(f"/admin/conversations/{conversation.id}/suggestions").status_code == 401
    assert client.get("/admin/conversations/987654/suggestions",
                      headers=make_token()).status_code == 404


def test_nothing_to_suggest_without_the_faq_bot(settings, store, clock):
    from admin_app import create_app
    from services.runtime import build_services

    services = build_services(settings.model_copy(update={"responder": "off"}), store=store,
                              clock=clock)
    app = create_app(settings, services)
    app.config["TESTING"] = True
    from admin_app.security import hash_api_token, hash_password, new_api_token

    user = services.store.create_user("ann@example.com", "agent",
                                      hash_password("correct horse battery"), clock())
    token = new_api_token()
    services.store.create_api_token(user.id, "t", hash_api_token(token), clock())
    conversation = _say(services, "where is my parcel??")
    body = app.test_client().get(f"/admin/conversations/{conversation.id}/suggestions",
                                 headers={"Authorization": f"Bearer {token}"}).json
    assert (body["available"], body["message_id"], body["suggestions"]) == (False, None, [])


def test_the_questions_the_bot_could_not_answer(client, services, make_token, monkeypatch):
    """``GET /admin/unanswered``: the bot's low-confidence answers with the question each
    answered, newest first, paged by ``before``; the FAQ bot's fallback is one."""
    import admin_app.api_suggestions as api

    agent = make_token()
    # Through the real bot turn: the FAQ bot answers one well and falls back on two.
    for n, text in enumerate(["where is my parcel??", "asdf qwer", "the weather is nice"]):
        services.tracker.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"ask-{n}", content=text,
            external_id=f"ask-{n}"))
    services.jobs.run_until_idle()
    body = client.get("/admin/unanswered", headers=agent).json
    assert body["threshold"] == services.settings.escalation_confidence_threshold
    # (The bot's turns ran side by side: its answers are in the order they were written.)
    questions = [q["question"] for q in body["questions"]]
    assert sorted(questions) == ["asdf qwer", "the weather is nice"]
    answers = [q["answer_id"] for q in body["questions"]]
    assert answers == sorted(answers, reverse=True)  # newest first
    assert all(q["intent"] == "fallback" and q["confidence"] < 0.5 for q in body["questions"])
    assert body["next_before"] is None

    monkeypatch.setattr(api, "UNANSWERED_PAGE", 1)
    first = client.get("/admin/unanswered", headers=agent).json
    assert [q["question"] for q in first["questions"]] == questions[:1]
    rest = client.get(f"/admin/unanswered?before={first['next_before']}", headers=agent).json
    assert [q["question"] for q in rest["questions"]] == questions[1:]
    assert client.get("/admin/unanswered?before=0", headers=agent).status_code == 400
    assert client.get("/admin/unanswered").status_code == 401
