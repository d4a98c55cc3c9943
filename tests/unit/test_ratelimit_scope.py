"""The two Flask-Limiter instances only look at the blueprints that declare their limits.

Every other request (a Messenger webhook, the JSON API) skips them through a request
filter. These tests keep that list true: a limit added to a view of another blueprint
would otherwise never be checked.
"""

from __future__ import annotations

import pytest
from flask_limiter.util import get_qualified_name

from admin_app import extensions
from channels.webchat import ratelimit


def _limited_endpoints(app, limiter) -> set[str]:
    # Flask-Limiter records each view given a limit by ``limit``/``shared_limit`` here.
    marked = limiter._marked_for_limiting
    return {endpoint for endpoint, view in app.view_functions.items()
            if get_qualified_name(view) in marked}


@pytest.mark.parametrize("limiter, blueprints, expected", [
    (extensions.limiter, extensions.LIMITED_BLUEPRINTS, {"account.login"}),
    (ratelimit.limiter, ratelimit.LIMITED_BLUEPRINTS, {"webchat.start_session", "webchat.post_message"}),
], ids=["admin", "webchat"])
def test_every_limited_view_is_in_a_listed_blueprint(app, limiter, blueprints, expected):
    limited = _limited_endpoints(app, limiter)
    assert expected <= limited, "the limited views were not found: the test would prove nothing"
    outside = {e for e in limited if e.rpartition(".")[0] not in blueprints}
    assert not outside, f"views with a limit that the request filter skips: {sorted(outside)}"


def test_the_webhook_skips_both_limiters_and_the_login_does_not(app):
    with app.test_request_context("/webhook", method="POST"):
        assert extensions._nothing_to_limit() and ratelimit._nothing_to_limit()
    with app.test_request_context("/login", method="POST"):
        assert not extensions._nothing_to_limit()
    with app.test_request_context("/chat/session", method="POST"):
        assert not ratelimit._nothing_to_limit()
