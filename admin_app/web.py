"""What every admin page blueprint shares: CSRF on changes, and the security headers."""

from __future__ import annotations

from flask import Blueprint, request

from admin_app.auth import SAFE_METHODS
from admin_app.extensions import csrf

# Scripts and styles come only from this app (no inline code, no CDN). Attachments may be
# images hosted by the platform (Messenger's CDN), hence https: for images and media.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https:",
    "media-src 'self' https:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def security_headers(response):
    """Headers for an admin HTML page (or any admin response)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
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
