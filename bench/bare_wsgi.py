"""The product's WSGI app plus one bare route, so a benchmark can compare the webhook
with "Flask returning 200" served by the same gunicorn process in the same run."""

from wsgi import app, socketio  # noqa: F401  (gevent patching happens in wsgi)


@app.post("/bench/bare")
def bare():
    """Reads the body and answers 200: the floor any webhook handler sits on."""
    from flask import request

    request.get_data()
    return "", 200
