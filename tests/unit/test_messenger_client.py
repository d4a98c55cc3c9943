"""MessengerClient against the local Graph API stand-in (a real HTTP server)."""

import base64
import socket

import pytest

from channels.messenger.client import MessengerClient, split_text
from services.outbox import SendError
from tests.support.forward_proxy import ForwardProxy, clear_environment
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)


@pytest.fixture
def client(graph_stub):  # noqa: F811
    c = MessengerClient(graph_stub.token, graph_stub.base_url + "/", graph_stub.version, 0.5)
    yield c
    c.close()


def assert_token_hidden(stub, *texts):
    for rec in stub.requests:
        assert stub.token not in rec.url
        assert "access_token" not in rec.query
        assert stub.token.encode() not in rec.raw
    for text in texts:
        assert stub.token not in text


def test_send_text(client, graph_stub):  # noqa: F811
    message_id = client.send_message("psid-1", "Hello!", "RESPONSE")
    assert message_id.startswith("m_stub")
    rec = graph_stub.requests[-1]
    assert (rec.method, rec.path) == ("POST", f"/{graph_stub.version}/me/messages")
    assert rec.json == {"recipient": {"id": "psid-1"}, "messaging_type": "RESPONSE",
                        "message": {"text": "Hello!"}}
    assert rec.headers["authorization"] == f"Bearer {graph_stub.token}"
    assert_token_hidden(graph_stub)


def test_send_tagged_attachment_with_metadata(client, graph_stub):  # noqa: F811
    attachment = {"attachment": {"type": "image", "payload": {"url": "https://x/y.png"}}}
    client.send_message("psid-1", attachment, "MESSAGE_TAG", tag="HUMAN_AGENT",
                        metadata="switchboard:7")
    body = graph_stub.requests[-1].json
    assert body["tag"] == "HUMAN_AGENT" and body["messaging_type"] == "MESSAGE_TAG"
    assert body["message"] == {**attachment, "metadata": "switchboard:7"}


def test_sender_actions_are_separate_requests(client, graph_stub):  # noqa: F811
    for action in ("mark_seen", "typing_on", "typing_off"):
        client.sender_action("psid-1", action)
    assert [r.json for r in graph_stub.requests] == [
        {"recipient": {"id": "psid-1"}, "sender_action": a}
        for a in ("mark_seen", "typing_on", "typing_off")]


@pytest.mark.parametrize("code,subcode,retryable", [
    (4, None, True), (613, None, True), (2, None, True), (1200, 2018024, True),
    (80006, None, True), (17, None, True),
    (551, 1545041, False), (10, 2018278, False), (190, None, False), (200, None, False),
    (230, None, False), (100, None, False), (368, None, False), (1, 99, False),
])
def test_graph_errors_are_classified(client, graph_stub, code, subcode, retryable):  # noqa: F811
    graph_stub.fail(code, f"(#{code}) Something specific", subcode=subcode)
    with pytest.raises(SendError) as caught:
        client.send_message("psid-1", "hi")
    error = caught.value
    assert error.retryable is retryable
    assert error.code == (f"{code}/{subcode}" if subcode else str(code))
    assert f"(#{code}) Something specific" in error.detail and "fbtrace_id" in error.detail
    assert_token_hidden(graph_stub, error.detail, str(error))


@pytest.mark.parametrize("status,retryable", [(500, True), (502, True), (503, True),
                                              (429, True), (404, False), (403, False)])
def test_bare_http_errors(client, graph_stub, status, retryable):  # noqa: F811
    graph_stub.fail_status(status)
    with pytest.raises(SendError) as caught:
        client.send_message("psid-1", "hi")
    assert caught.value.retryable is retryable and caught.value.code == f"http_{status}"


def test_timeout_is_retryable(client, graph_stub):  # noqa: F811
    graph_stub.delay(1.5)  # longer than the client's 0.5 s timeout
    with pytest.raises(SendError) as caught:
        client.send_message("psid-1", "hi")
    assert caught.value.retryable and caught.value.code == "timeout"


def test_connection_refused_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = MessengerClient("secret-token", f"http://127.0.0.1:{port}", "v24.0", 0.5)
    with pytest.raises(SendError) as caught:
        c.send_message("psid-1", "hi")
    assert caught.value.retryable and caught.value.code == "connection"
    assert "secret-token" not in caught.value.detail


def test_wrong_token_is_permanent_and_never_echoed(graph_stub):  # noqa: F811
    c = MessengerClient("wrong-token-123", graph_stub.base_url, graph_stub.version, 0.5)
    with pytest.raises(SendError) as caught:
        c.send_message("psid-1", "hi")
    assert not caught.value.retryable and caught.value.code == "190"
    assert "wrong-token-123" not in caught.value.detail
    assert "wrong-token-123" not in graph_stub.requests[-1].url


def test_success_without_message_id_is_not_retried(client, graph_stub):  # noqa: F811
    graph_stub.fail_status(200, {"recipient_id": "psid-1"})
    with pytest.raises(SendError) as caught:
        client.send_message("psid-1", "hi")
    assert not caught.value.retryable


def test_profile(client, graph_stub):  # noqa: F811
    graph_stub.profiles["psid-1"] = {"first_name": "Ada", "last_name": "Lovelace",
                                     "profile_pic": "https://pics.example/ada.jpg"}
    profile = client.get_profile("psid-1")
    assert profile["first_name"] == "Ada" and profile["last_name"] == "Lovelace"
    rec = graph_stub.requests[-1]
    assert (rec.method, rec.path) == ("GET", f"/{graph_stub.version}/psid-1")
    assert rec.query == {"fields": ["first_name,last_name,profile_pic"]}
    assert_token_hidden(graph_stub)


def test_profile_unavailable_or_not_permitted_is_none(client, graph_stub):  # noqa: F811
    assert client.get_profile("phone-number-account") is None  # 2018218
    graph_stub.fail(200, "(#200) Permissions error")
    assert client.get_profile("psid-2") is None


def test_profile_transient_failure_raises(client, graph_stub):  # noqa: F811
    graph_stub.fail_status(500)
    with pytest.raises(SendError) as caught:
        client.get_profile("psid-1")
    assert caught.value.retryable


# -- the connection pool and the environment (the rules: tests/unit/test_http_pool.py) --
@pytest.fixture
def clean_env(monkeypatch):
    clear_environment(monkeypatch)
    return monkeypatch


@pytest.fixture
def forward_proxy():
    with ForwardProxy() as proxy:
        yield proxy


def test_keep_alive_connections_are_reused(client, graph_stub):  # noqa: F811
    for n in range(5):
        client.send_message("psid-1", f"message {n}")
    assert len(graph_stub.delivered["psid-1"]) == 5
    assert client._pool.connection_from_url(client.base).num_connections == 1


def test_a_proxy_in_the_environment_is_used_with_its_credentials(graph_stub, forward_proxy,
                                                                 clean_env):  # noqa: F811
    clean_env.setenv("HTTP_PROXY", f"http://sb%40user:p%20w@127.0.0.1:{forward_proxy.port}")
    c = MessengerClient(graph_stub.token, graph_stub.base_url, graph_stub.version, 2)
    try:
        assert c.send_message("psid-1", "through the proxy").startswith("m_stub")
    finally:
        c.close()
    assert len(forward_proxy.seen) == 1
    method, target, authorization = forward_proxy.seen[0]
    # an absolute URI, as a client speaks to a forward proxy, with the URL's credentials
    assert (method, target) == ("POST", f"{graph_stub.base_url}/{graph_stub.version}/me/messages")
    assert authorization == "Basic " + base64.b64encode(b"sb@user:p w").decode()
    assert [d.text for d in graph_stub.delivered["psid-1"]] == ["through the proxy"]


def test_no_proxy_sends_straight_to_the_host(graph_stub, forward_proxy, clean_env):  # noqa: F811
    clean_env.setenv("HTTP_PROXY", forward_proxy.url)
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    c = MessengerClient(graph_stub.token, graph_stub.base_url, graph_stub.version, 2)
    try:
        c.send_message("psid-1", "direct")
    finally:
        c.close()
    assert forward_proxy.seen == [] and len(graph_stub.delivered["psid-1"]) == 1


def test_a_socks_proxy_is_refused_when_the_client_is_made(clean_env):
    clean_env.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ValueError, match="the Graph API must be http:// or https://"):
        MessengerClient("t", "https://graph.facebook.com", "v24.0", 2)


# -- split_text -------------------------------------------------------------------------
def test_short_text_is_one_part():
    assert split_text("  hi  ") == ["hi"]
    assert split_text("") == []
    assert split_text("x" * 2000) == ["x" * 2000]


def test_split_prefers_paragraphs_then_sentences_then_words():
    para = "A" * 1500 + "\n\n" + "B" * 1000
    assert split_text(para) == ["A" * 1500, "B" * 1000]
    sentences = ("This is a sentence. " * 150).strip()  # 2999 characters
    parts = split_text(sentences)
    assert all(len(p) <= 2000 and p.endswith(".") for p in parts)
    assert " ".join(parts) == sentences
    words = " ".join(["word"] * 700)
    parts = split_text(words)
    assert all(len(p) <= 2000 for p in parts) and " ".join(parts) == words
    assert all(not p.endswith("wor") for p in parts)


def test_split_cuts_a_giant_word_hard():
    assert [len(p) for p in split_text("z" * 4500)] == [2000, 2000, 500]
    assert [len(p) for p in split_text("z" * 30, limit=10)] == [10, 10, 10]
