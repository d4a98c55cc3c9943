"""The admin API's OpenAPI document: valid OpenAPI, every JSON route in it, served with auth."""

from __future__ import annotations

import copy

import pytest
import schemathesis
from flask import Blueprint, jsonify

from admin_app.openapi import ROUTES, build_spec

# /admin/ is all JSON; HTML pages, the socket, login/logout and static files live elsewhere.
NOT_API = ("static",)


@pytest.fixture
def store(tmp_path):
    """These tests are about the document, not the stores: SQLite only."""
    from services.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "openapi.db")
    yield s
    s.close()


def _openapi_path(rule: str) -> str:
    """``/admin/conversations/<int:conversation_id>`` → ``/admin/conversations/{conversation_id}``."""
    parts = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].split(":")[-1] + "}"
        parts.append(part)
    return "/".join(parts)


def undocumented(app, spec: dict) -> list[str]:
    """``METHOD /path`` of every JSON route under /admin/ that the document does not describe."""
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin/") or rule.endpoint in NOT_API:
            continue
        path = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    return missing


def test_the_document_is_valid_openapi_that_schemathesis_loads():
    spec = build_spec()
    loaded = schemathesis.openapi.from_dict(copy.deepcopy(spec))
    loaded.validate()  # raises on a document that is not valid OpenAPI 3.1
    operations = [op.ok() for op in loaded.get_all_operations()]
    assert len(operations) == len(ROUTES)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # The schemas are pydantic's, referenced from components.
    assert "Conversation" in spec["components"]["schemas"]
    assert "Message" in spec["components"]["schemas"]
    assert "Stats" in spec["components"]["schemas"]


def test_an_invalid_document_is_refused():
    """The check above can fail: a response without its description is not OpenAPI."""
    broken = copy.deepcopy(build_spec())
    del broken["paths"]["/admin/stats"]["get"]["responses"]["200"]["description"]
    with pytest.raises(Exception):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_admin_json_route_is_described(app):
    spec = build_spec()
    assert undocumented(app, spec) == []
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    routed = {(m.lower(), _openapi_path(r.rule)) for r in app.url_map.iter_rules()
              for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    assert described <= routed, f"described but not routed: {described - routed}"


def test_a_new_route_without_description_is_caught(app):
    extra = Blueprint("extra_api", __name__, url_prefix="/admin")

    @extra.post("/conversations/<int:conversation_id>/archive")
    def archive(conversation_id: int):
        return jsonify(success=True)

    app.register_blueprint(extra)
    assert undocumented(app, build_spec()) == ["POST /admin/conversations/{conversation_id}/archive"]


def test_error_statuses_and_error_body_are_described():
    spec = build_spec()
    reply = spec["paths"]["/admin/conversations/{conversation_id}/messages"]["post"]
    assert set(reply["responses"]) == {"201", "400", "401", "404", "409", "413", "503"}
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) >= {"success", "error"}
    path_id = reply["parameters"][0]
    assert path_id["in"] == "path" and path_id["schema"]["minimum"] == 1


def test_served_at_admin_openapi_json_behind_auth(client, make_token):
    assert client.get("/admin/openapi.json").status_code == 401
    answer = client.get("/admin/openapi.json", headers=make_token())
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.get_json() == build_spec()
