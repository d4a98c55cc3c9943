"""What every admin page blueprint shares: CSRF on changes, and no caching of pages.

The security headers themselves (CSP, framing, nosniff, referrer policy, HSTS) are set on
every response of the app by ``admin_app.http_security``.
"""

from __future__ import annotations

from flask import Blueprint, request

from admin_app.auth import SAFE_METHODS
from admin_app.extensions import csrf


def security_headers(response):
    """Admin HTML pages show conversations: browsers and proxies must not keep them."""
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def admin_pages(bp: Blueprint) -> Blueprint:
    """Make ``bp`` an admin page blueprint: every POST needs the CSRF token."""

    @bp.before_request
    def _csrf():
        if request.method not in SAFE_METHODS:
            csrf.protect()

    bp.after_request(security_headers)
    return bp
