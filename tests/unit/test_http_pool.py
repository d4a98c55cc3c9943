"""``services/http_pool.py``: the proxy and the trusted certificates of every outgoing call
(the store's function calls and table queries, the Graph API), from the environment, and
https verified against them over a real TLS connection."""

from __future__ import annotations

import base64
import ssl

import certifi
import httpx
import pytest
import trustme
import urllib3

from channels.messenger.client import MessengerClient
from services.errors import StoreUnavailable
from services.http_pool import ca_bundle, pool_for, proxy_for, ssl_context
from services.outbox import SendError
from services.store import supabase_http
from services.store.supabase import SupabaseStore
from tests.support.forward_proxy import ForwardProxy, clear_environment
from tests.support.stub_http import StubHttpServer

URL = "https://project.supabase.example/rest/v1/rpc/noop"


@pytest.fixture
def env(monkeypatch):
    clear_environment(monkeypatch)
    return monkeypatch


# -- certificates -----------------------------------------------------------------------
def test_certifi_unless_the_environment_names_a_bundle(env, tmp_path):
    assert ca_bundle(URL) == certifi.where()
    for name in ("SSL_CERT_DIR", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        # each later one wins over those before it
        path = tmp_path / name
        path.write_text(open(certifi.where()).read())
        env.setenv(name, str(path))
        assert ca_bundle(URL) == str(path)


def test_the_pool_verifies_https_against_that_bundle(env, tmp_path):
    kw = pool_for(URL, maxsize=3, what="x").connection_pool_kw
    assert (kw["cert_reqs"], kw["ca_certs"], kw["maxsize"]) == (
        "CERT_REQUIRED", certifi.where(), 3)
    env.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))  # a directory of certificates
    kw = pool_for(URL, maxsize=3, what="x").connection_pool_kw
    assert kw["ca_cert_dir"] == str(tmp_path) and "ca_certs" not in kw


# -- proxies ----------------------------------------------------------------------------
def test_the_proxy_follows_requests_rules(env):
    assert proxy_for(URL) is None
    env.setenv("HTTP_PROXY", "http://plain:3128")
    assert proxy_for(URL) is None  # an https URL takes HTTPS_PROXY, not HTTP_PROXY
    env.setenv("ALL_PROXY", "proxy.internal:3128")
    assert proxy_for(URL) == "http://proxy.internal:3128"  # no scheme: http
    env.setenv("HTTPS_PROXY", "https://secure:443")
    assert proxy_for(URL) == "https://secure:443"
    env.setenv("NO_PROXY", ".supabase.example,localhost")
    assert proxy_for(URL) is None
    assert isinstance(pool_for(URL, maxsize=1, what="x"), urllib3.PoolManager)
    assert not isinstance(pool_for(URL, maxsize=1, what="x"), urllib3.ProxyManager)


def test_a_proxy_gets_the_credentials_of_its_url(env):
    env.setenv("HTTPS_PROXY", "http://me%40corp:s%3Acret@proxy.internal:3128")
    pool = pool_for(URL, maxsize=1, what="x")
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy_headers["proxy-authorization"] == (
        "Basic " + base64.b64encode(b"me@corp:s:cret").decode())


def test_a_socks_proxy_is_refused_when_the_pool_is_made(env):
    env.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    with pytest.raises(ValueError, match="Supabase must be http:// or https://, not socks5h://"):
        pool_for(URL, maxsize=1, what="Supabase")
    with pytest.raises(ValueError, match="Supabase must be http:// or https://"):
        SupabaseStore(url="https://project.supabase.example", service_role_key="k")


def _one_call_and_one_query(server):
    """A function call (urllib3) and a table query (httpx) from a new store."""
    store = SupabaseStore(url=server.base_url, service_role_key="k", timeout=5)
    try:
        server.queue(status=204)
        store.ping()
        server.queue(json=[])
        assert store.get_conversation(7) is None
    finally:
        store.close()


def test_the_store_sends_everything_through_the_proxy_unless_no_proxy_names_it(env):
    """Function calls (urllib3) and table queries (httpx) both go through the proxy, with
    its credentials; with the host in ``NO_PROXY`` both go straight to it."""
    with StubHttpServer() as server, ForwardProxy() as proxy:
        env.setenv("HTTP_PROXY", f"http://sb:pw@127.0.0.1:{proxy.port}")
        _one_call_and_one_query(server)
        auth = "Basic " + base64.b64encode(b"sb:pw").decode()
        assert [(m, t.split("?")[0], a) for m, t, a in proxy.seen] == [
            ("POST", f"{server.base_url}/rest/v1/rpc/noop", auth),
            ("GET", f"{server.base_url}/rest/v1/conversations", auth)]
        assert [r.path.split("?")[0] for r in server.requests] == [
            "/rest/v1/rpc/noop", "/rest/v1/conversations"]

        env.setenv("NO_PROXY", "127.0.0.1")
        _one_call_and_one_query(server)
        assert len(proxy.seen) == 2 and len(server.requests) == 4


# -- https, for real --------------------------------------------------------------------
@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


@pytest.fixture
def https_server(authority):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    with StubHttpServer(ssl_context=context) as server:
        yield server


@pytest.fixture
def ca_file(authority, tmp_path):
    path = tmp_path / "corporate-ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_store_trusts_the_bundle_the_environment_names(env, https_server, ca_file,
                                                          variable):
    assert https_server.base_url.startswith("https://localhost:")
    env.setenv(variable, ca_file)
    _one_call_and_one_query(https_server)
    assert len(https_server.requests) == 2


def test_without_the_bundle_the_store_refuses_the_unknown_certificate(env, https_server):
    store = SupabaseStore(url=https_server.base_url, service_role_key="k", timeout=5)
    try:
        with pytest.raises(StoreUnavailable, match="SSL"):
            store.ping()
        with pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            store.get_conversation(1)
    finally:
        store.close()
    assert https_server.requests == []


def test_the_gevent_transport_uses_the_same_certificates(env, https_server, ca_file):
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    env.setenv("SSL_CERT_FILE", ca_file)
    with httpx.Client(transport=supabase_http.RealPollTransport(
            limits, ssl_context=ssl_context())) as trusting:
        https_server.queue(json={"ok": True})
        assert trusting.get(https_server.url("/x")).json() == {"ok": True}
    env.delenv("SSL_CERT_FILE")
    with httpx.Client(transport=supabase_http.RealPollTransport(
            limits, ssl_context=ssl_context())) as default:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            default.get(https_server.url("/x"))


def test_the_graph_client_trusts_the_bundle_the_environment_names(env, https_server,
                                                                 ca_file):
    refusing = MessengerClient("token", https_server.base_url, "v24.0", 5)
    env.setenv("REQUESTS_CA_BUNDLE", ca_file)
    trusting = MessengerClient("token", https_server.base_url, "v24.0", 5)
    try:
        with pytest.raises(SendError) as caught:
            refusing.send_message("psid", "hi")
        assert caught.value.code == "connection" and not caught.value.ambiguous
        assert https_server.requests == []
        https_server.queue(json={"recipient_id": "psid", "message_id": "m_1"})
        assert trusting.send_message("psid", "hi") == "m_1"
        assert https_server.requests[0].path == "/v24.0/me/messages"
    finally:
        refusing.close()
        trusting.close()
