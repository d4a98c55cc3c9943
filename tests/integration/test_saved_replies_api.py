"""The team's saved replies through the admin API, over both stores: everyone reads them,
admins keep the list, and bad input gets a clear error and changes nothing."""

from __future__ import annotations

import pytest

URL = "/admin/saved-replies"


def listed(client, headers):
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == len(body["saved_replies"])
    return [(r["title"], r["body"]) for r in body["saved_replies"]]


def test_admins_keep_the_list_and_agents_use_it(client, services, make_token):
    admin = make_token("boss@example.com", role="admin")
    agent = make_token("ann@example.com")
    made = client.post(URL, json={"title": " Opening hours ", "body": "Hi {first_name}, 9-5."},
                       headers=admin)
    assert made.status_code == 201, made.get_json()
    reply = made.get_json()["saved_reply"]
    assert (reply["title"], reply["body"]) == ("Opening hours", "Hi {first_name}, 9-5.")
    assert reply["created_by"] == services.store.get_user_by_email("boss@example.com").id
    assert client.post(URL, json={"title": "Delivery", "body": "2 days."},
                       headers=admin).status_code == 201
    assert listed(client, agent) == [("Delivery", "2 days."),
                                     ("Opening hours", "Hi {first_name}, 9-5.")]

    # An agent cannot change the list.
    for method, path in (("post", URL), ("put", f"{URL}/{reply['id']}"),
                         ("delete", f"{URL}/{reply['id']}")):
        refused = getattr(client, method)(path, json={"title": "Mine", "body": "x"},
                                          headers=agent)
        assert refused.status_code == 403, (method, path)
        assert refused.get_json() == {"success": False, "error": "admin role required"}

    changed = client.put(f"{URL}/{reply['id']}", json={"title": "Hours", "body": "9 to 5."},
                         headers=admin)
    assert changed.status_code == 200 and changed.get_json()["saved_reply"]["id"] == reply["id"]
    deleted = client.delete(f"{URL}/{reply['id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.get_json() == {"success": True}
    assert listed(client, agent) == [("Delivery", "2 days.")]
    for method in ("put", "delete"):
        gone = getattr(client, method)(f"{URL}/{reply['id']}",
                                       json={"title": "Hours", "body": "x"}, headers=admin)
        assert gone.status_code == 404
        assert gone.get_json()["error"] == f"saved reply {reply['id']} not found"


def test_a_title_another_reply_has_is_a_conflict(client, make_token):
    admin = make_token("boss@example.com", role="admin")
    client.post(URL, json={"title": "Refunds", "body": "30 days."}, headers=admin)
    other = client.post(URL, json={"title": "Other", "body": "x"}, headers=admin).get_json()
    answers = {"REFUNDS": client.post(URL, json={"title": "REFUNDS", "body": "y"},
                                      headers=admin),
               "refunds": client.put(f"{URL}/{other['saved_reply']['id']}",
                                     json={"title": "refunds", "body": "y"}, headers=admin)}
    for title, answer in answers.items():
        assert answer.status_code == 409
        assert answer.get_json()["error"] == f"a saved reply is titled {title!r}"
    assert listed(client, admin) == [("Other", "x"), ("Refunds", "30 days.")]


@pytest.mark.parametrize("body, error", [
    ({"title": "", "body": "x"}, "invalid title: Value error, the title is empty"),
    ({"title": "  ", "body": "x"}, "invalid title: Value error, the title is empty"),
    ({"title": "T", "body": "\n"}, "invalid body: Value error, the text is empty"),
    ({"title": "x" * 81, "body": "x"},
     "invalid title: String should have at most 80 characters"),
    ({"title": "T", "body": "x" * 4001},
     "invalid body: String should have at most 4000 characters"),
    ({"title": 7, "body": "x"}, "invalid title: Input should be a valid string"),
    ({"body": "x"}, "invalid title: Field required"),
], ids=["empty title", "blank title", "blank text", "long title", "long text", "number",
        "no title"])
def test_bad_input_is_a_clear_400_and_stores_nothing(client, make_token, body, error):
    admin = make_token("boss@example.com", role="admin")
    answer = client.post(URL, json=body, headers=admin)
    assert answer.status_code == 400
    assert answer.get_json() == {"success": False, "error": error}
    assert listed(client, admin) == []
