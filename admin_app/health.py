"""Liveness and readiness probes."""

from flask import Blueprint, jsonify

from admin_app import get_services
from services.errors import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up; says which store it uses, and whether messages wait in the
    spool because the store is down (``store_available``, ``spooled``)."""
    from admin_app.live import store_status

    services = get_services()
    status = store_status(services)
    return jsonify(status="ok", store=services.store.kind,
                   store_available=status["available"], spooled=status["spooled"])


@bp.get("/readyz")
def readyz():
    """The store answers; 503 otherwise, so a load balancer routes elsewhere."""
    services = get_services()
    try:
        services.store.ping()
    except StoreUnavailable as exc:
        return jsonify(status="unavailable", store=services.store.kind, error=str(exc)), 503
    return jsonify(status="ready", store=services.store.kind)
