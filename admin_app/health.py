"""Liveness and readiness probes."""

from flask import Blueprint, jsonify

from admin_app import get_services
from services.errors import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up; says which store it uses."""
    return jsonify(status="ok", store=get_services().store.kind)


@bp.get("/readyz")
def readyz():
    """The store answers; 503 otherwise, so a load balancer routes elsewhere."""
    services = get_services()
    try:
        services.store.ping()
    except StoreUnavailable as exc:
        return jsonify(status="unavailable", store=services.store.kind, error=str(exc)), 503
    return jsonify(status="ready", store=services.store.kind)
