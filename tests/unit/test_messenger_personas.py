"""Personas: an agent's reply on Messenger goes out as the persona of the account's name,
found among the Page's personas or made once, against the Graph API stand-in."""

import pytest

from channels.messenger.client import MessengerClient
from channels.messenger.personas import Personas, persona_name
from channels.messenger.sender import MessengerSender
from services.models import Conversation, Message
from services.outbox import SendError
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)

PICTURE = "https://cdn.example/team.png"


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def client(graph_stub):  # noqa: F811
    c = MessengerClient(graph_stub.token, graph_stub.base_url, graph_stub.version, 0.5)
    yield c
    c.close()


@pytest.fixture
def ticks():
    return Ticks()


@pytest.fixture
def personas(client, ticks):
    return Personas(client, PICTURE, retry_seconds=600, monotonic=ticks)


def conversation(clock):
    now = clock()
    return Conversation(id=1, platform="messenger", external_user_id="psid-1", created_at=now,
                        updated_at=now, last_message_at=now, last_user_message_at=now)


def message(clock, sender_type="agent", name="Sam", content="Hello", id=10, **fields):
    metadata = {"agent_id": 1, **({"agent_name": name} if name else {})}
    return Message(id=id, conversation_id=1, platform="messenger", sender_type=sender_type,
                   content=content, created_at=clock(), delivery_status="pending",
                   metadata=metadata, **fields)


def made(graph_stub):  # noqa: F811
    return [r.json for r in graph_stub.requests
            if r.method == "POST" and r.path.endswith("/me/personas")]


def test_persona_names_are_tidied_and_cut_to_fifty_characters():
    assert persona_name("  Sam   Lee ") == "Sam Lee"
    assert persona_name("") is None and persona_name("   ") is None and persona_name(None) is None
    long = "Alexandra Konstantinopoulou-Papadimitriou de la Vega"  # 52 characters
    assert persona_name(long) == "Alexandra Konstantinopoulou-Papadimitriou de la"
    assert persona_name("x" * 60) == "x" * 50


def test_an_agents_reply_goes_out_as_the_persona_of_its_name_made_once(
        client, graph_stub, personas, clock):  # noqa: F811
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, id=10))
    sender.send(conversation(clock), message(clock, id=11, content="Anything else?"))

    assert made(graph_stub) == [{"name": "Sam", "profile_picture_url": PICTURE}]
    (persona,) = graph_stub.personas
    assert [d.persona for d in graph_stub.delivered["psid-1"]] == [persona, persona]
    assert [b["persona_id"] for b in graph_stub.sent_messages()] == [persona, persona]


def test_the_bot_and_accounts_without_a_name_speak_as_the_page(
        client, graph_stub, personas, clock):  # noqa: F811
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, sender_type="bot", name=None, id=10))
    sender.send(conversation(clock), message(clock, sender_type="system", name="Sam", id=11))
    sender.send(conversation(clock), message(clock, name=None, id=12))
    assert all("persona_id" not in b for b in graph_stub.sent_messages())
    assert [d.persona for d in graph_stub.delivered["psid-1"]] == [None, None, None]
    assert made(graph_stub) == [] and graph_stub.personas == {}


def test_without_personas_an_agent_with_a_name_speaks_as_the_page(
        client, graph_stub, clock):  # noqa: F811
    MessengerSender(client, clock).send(conversation(clock), message(clock))
    (sent,) = graph_stub.sent_messages()
    assert "persona_id" not in sent and made(graph_stub) == []


def test_a_persona_of_the_page_with_that_name_is_used_on_any_page_of_the_list(
        client, graph_stub, personas, clock):  # noqa: F811
    for n in range(150):  # two pages of 100: Sam's is on the second
        name = "Sam" if n == 120 else f"Agent {n}"
        graph_stub.personas[str(5000 + n)] = {"id": str(5000 + n), "name": name,
                                              "profile_picture_url": "https://x.example/p"}
    MessengerSender(client, clock, personas=personas).send(conversation(clock), message(clock))

    assert made(graph_stub) == []
    assert graph_stub.delivered["psid-1"][0].persona == "5120"
    listed = [r for r in graph_stub.requests if r.method == "GET"]
    assert len(listed) == 2 and listed[1].query["after"] == ["100"]


def test_reading_the_list_stops_when_its_time_is_up(client, graph_stub, clock):  # noqa: F811
    for n in range(150):
        name = "Sam" if n == 120 else f"Agent {n}"
        graph_stub.personas[str(5000 + n)] = {"id": str(5000 + n), "name": name,
                                              "profile_picture_url": "https://x.example/p"}
    personas = Personas(client, PICTURE, list_seconds=0)
    assert personas.id_for("Agent 3") == "5003"
    # Sam's persona was on the page not read: one is made (an extra persona, not a failure).
    made_id = personas.id_for("Sam")
    assert made_id not in ("5120", None) and graph_stub.personas[made_id]["name"] == "Sam"
    assert len([r for r in graph_stub.requests if r.method == "GET"]) == 1


@pytest.mark.parametrize("odd, found", [
    ({"data": {"id": "1", "name": "Sam"}, "paging": ["next"]}, None),
    ({"data": [{"id": "1", "name": "Sam"}], "paging": {"cursors": "after", "next": "x"}}, "1"),
    ({"data": None}, None),
])
def test_a_list_of_personas_of_an_odd_shape_is_read_as_far_as_it_makes_sense(
        client, graph_stub, personas, odd, found):  # noqa: F811
    graph_stub.fail_status(200, odd)  # the list's answer
    persona = personas.id_for("Sam")
    if found is None:  # nothing usable in it: one is made
        assert list(graph_stub.personas) == [persona]
    else:
        assert persona == found and graph_stub.personas == {}
    assert len([r for r in graph_stub.requests if r.method == "GET"]) == 1


def test_a_persona_facebook_will_not_make_is_not_asked_again_for_ten_minutes(
        client, graph_stub, personas, ticks, clock):  # noqa: F811
    graph_stub.fail(100, "(#100) Failed to fetch the picture", path_contains="personas",
                    after=1)  # the list is read, the making refused
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, id=10))
    ticks.now += 599
    sender.send(conversation(clock), message(clock, id=11))

    assert [d.persona for d in graph_stub.delivered["psid-1"]] == [None, None]  # both went
    assert len([r for r in graph_stub.requests if r.path.endswith("personas")]) == 2

    ticks.now += 2
    sender.send(conversation(clock), message(clock, id=12))
    (persona,) = graph_stub.personas
    assert graph_stub.delivered["psid-1"][-1].persona == persona


def test_a_persona_deleted_on_facebook_is_sent_from_the_page_then_made_again(
        client, graph_stub, personas, clock):  # noqa: F811
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, id=10))
    (first,) = graph_stub.personas
    graph_stub.personas.clear()  # deleted by someone on the Page

    sender.send(conversation(clock), message(clock, id=11))
    delivered = graph_stub.delivered["psid-1"]
    assert [d.persona for d in delivered] == [first, None]  # reached the person once

    sender.send(conversation(clock), message(clock, id=12))
    (second,) = graph_stub.personas
    assert second != first and delivered[-1].persona == second
    assert len(delivered) == 3


def test_a_refusal_that_is_not_the_personas_keeps_it(
        client, graph_stub, personas, clock):  # noqa: F811
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, id=10))
    (persona,) = graph_stub.personas
    graph_stub.fail(100, "(#100) Invalid parameter", messages_only=True)
    graph_stub.fail(100, "(#100) Invalid parameter", messages_only=True)
    with pytest.raises(SendError) as caught:
        sender.send(conversation(clock), message(clock, id=11))
    assert caught.value.code == "100" and not caught.value.retryable

    sender.send(conversation(clock), message(clock, id=12))
    assert list(graph_stub.personas) == [persona] and len(made(graph_stub)) == 1
    assert graph_stub.delivered["psid-1"][-1].persona == persona


def test_a_rate_limit_is_not_sent_again_from_the_page(
        client, graph_stub, personas, clock):  # noqa: F811
    sender = MessengerSender(client, clock, personas=personas)
    sender.send(conversation(clock), message(clock, id=10))
    graph_stub.fail(613, "Calls to this api have exceeded the rate limit.", messages_only=True)
    with pytest.raises(SendError) as caught:
        sender.send(conversation(clock), message(clock, id=11))
    assert caught.value.retryable
    assert len(graph_stub.delivered["psid-1"]) == 1  # the outbox tries again later


def test_the_settings_turn_personas_on():
    from services.settings import Settings

    assert Settings(_env_file=None).messenger_persona_picture_url is None
    assert Settings(_env_file=None, messenger_persona_picture_url="").messenger_persona_picture_url is None
    assert str(Settings(_env_file=None, messenger_persona_picture_url=PICTURE)
               .messenger_persona_picture_url) == PICTURE


@pytest.mark.parametrize("picture", [None, PICTURE])
def test_settings_says_where_the_name_is_shown(settings, store, clock, picture):
    from admin_app import create_app
    from services.runtime import build_services
    from tests.support.admin import login, make_user

    settings = settings.model_copy(update={"messenger_persona_picture_url": picture})
    services = build_services(settings, store=store, clock=clock)
    client = create_app(settings, services).test_client()
    make_user(services, "ann@example.com")
    assert login(client, "ann@example.com").status_code == 302
    page = client.get("/settings").get_data(as_text=True)
    assert "Shown above your replies in the web chat" in page
    assert ("in the web chat and on Messenger" in page) is (picture is not None)
