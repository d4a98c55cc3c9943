"""The Supabase store's function calls over urllib3 (``services/store/supabase_rpc.py``),
against a stand-in HTTP server: the request postgrest-py would send, its answers read as
postgrest-py reads them, and no request sent twice."""

from __future__ import annotations

import certifi
import pytest

from services.errors import Conflict, InvalidInput, StoreUnavailable
from services.store.supabase import SupabaseStore
from services.store.supabase_rpc import RpcClient, TransportError
from tests.support.stub_http import StubHttpServer


@pytest.fixture
def stub():
    with StubHttpServer() as server:
        yield server


def test_a_call_is_one_post_of_its_params_with_the_key(stub):
    client = RpcClient(stub.base_url + "/", "the-key", timeout=5)
    stub.queue(json={"id": 7, "name": "élan"})
    assert client.call("track_inbound", {"p": {"content": "héllo"}, "p_now": "now"}) == {
        "id": 7, "name": "élan"}
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/rest/v1/rpc/track_inbound")
    assert request.json() == {"p": {"content": "héllo"}, "p_now": "now"}
    assert request.header("apikey") == "the-key"
    assert request.header("Authorization") == "Bearer the-key"
    assert request.header("Content-Type") == "application/json"


def test_answers_are_read_as_postgrest_py_reads_them(stub):
    client = RpcClient(stub.base_url, "k", timeout=5)
    stub.queue(status=204)  # a function returning void
    assert client.call("noop", {}) == []
    stub.queue(json=[{"id": 1}, {"id": 2}])
    assert client.call("claim_jobs", {}) == [{"id": 1}, {"id": 2}]
    stub.queue(json=None, body=b"null", headers={"Content-Type": "application/json"})
    assert client.call("get_nothing", {}) is None


def test_a_postgrest_error_keeps_its_code_and_the_store_translates_it(stub):
    store = SupabaseStore(url=stub.base_url, service_role_key="k", timeout=5)
    try:
        for code, error in (("23505", Conflict), ("22007", InvalidInput),
                            ("PGRST202", StoreUnavailable)):
            stub.queue(status=409 if error is Conflict else 400, json={
                "code": code, "message": f"failed {code}", "details": None, "hint": None})
            with pytest.raises(error, match=f"failed {code}.*{code}"):
                store.ping()
    finally:
        store.close()


def test_a_gateway_page_without_a_postgrest_body_is_the_store_unavailable(stub):
    store = SupabaseStore(url=stub.base_url, service_role_key="k", timeout=5)
    try:
        stub.queue(status=502, body="<html>502 Bad Gateway</html>",
                   headers={"Content-Type": "text/html"})
        with pytest.raises(StoreUnavailable, match=r"\(502\)"):
            store.ping()
    finally:
        store.close()


def test_a_call_that_reached_the_server_is_never_sent_again(stub):
    """A function may write: once the request may have arrived, a lost answer is an error
    for the caller (who knows whether repeating is safe), not a second request."""
    client = RpcClient(stub.base_url, "k", timeout=0.5)
    stub.queue(json={"late": True}, delay=3)
    with pytest.raises(TransportError):
        client.call("track_inbound", {"p": {}})
    assert len(stub.requests) == 1

    store = SupabaseStore(url=stub.base_url, service_role_key="k", timeout=0.5)
    try:
        stub.queue(json={"late": True}, delay=3)
        with pytest.raises(StoreUnavailable):
            store.ping()
        assert len(stub.requests) == 2
    finally:
        store.close()


def test_keep_alive_connections_are_reused(stub):
    client = RpcClient(stub.base_url, "k", timeout=5)
    for n in range(5):
        stub.queue(json=n)
        assert client.call("noop", {}) == n
    pool = client._pool.connection_from_url(stub.base_url)
    assert pool.num_connections == 1 and pool.num_requests == 5


def test_https_is_verified_against_the_environment_s_bundle(monkeypatch):
    """The rules are services/http_pool's (tests/unit/test_http_pool.py)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    client = RpcClient("https://project.supabase.example", "k", timeout=5)
    pool = client._pool.connection_from_url("https://project.supabase.example/rest/v1/rpc/x")
    assert pool.scheme == "https"
    assert pool.cert_reqs == "CERT_REQUIRED" and pool.ca_certs == certifi.where()
