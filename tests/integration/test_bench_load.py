"""The benchmarks' load generator (``bench/load.py``: wrk and its script) against a real
gunicorn process: every answer counted, every body sent once, failures seen as failures."""

import sqlite3

import pytest

from bench import load
from tests.support.live_server import LiveServer
from tests.support.webhook_load import webhook_body

SECRET = "load-test-secret"


@pytest.fixture
def server(tmp_path):
    server = LiveServer({
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "load.db"),
        "SECRET_KEY": "load-test",
        "FACEBOOK_APP_SECRET": SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": "token",
        "FACEBOOK_VERIFY_TOKEN": "verify",
        "LOG_LEVEL": "WARNING",
        "RUN_WORKER_IN_APP": "false",
    }, log_path=tmp_path / "server.log", app_spec="bench.bare_wsgi:app").start()
    yield server
    server.stop()


def bodies(tag: str, count: int) -> list[bytes]:
    return [webhook_body(f"psid-{tag}-{i % 7}", f"m.{tag}.{i}", "hello") for i in range(count)]


def stored_messages(server) -> int:
    with sqlite3.connect(server.env["DATABASE_PATH"]) as db:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]


def test_each_signed_webhook_is_a_new_message_and_every_answer_is_counted(server):
    run = load.run(server.url, "/webhook", bodies("a", load.bodies_needed(1)), 1, 4,
                   secret=SECRET)
    assert run.requests > 20
    assert run.not_200 == 0 and sum(run.errors.values()) == 0
    assert 0.9 < run.seconds < 3
    assert len(run.quantiles_us) == 1000 and run.quantiles_us == sorted(run.quantiles_us)
    # Each answered webhook stored its own message (the few still in flight when wrk
    # stopped may be stored too): no body was sent twice, none was lost.
    assert run.requests <= stored_messages(server) <= run.requests + 4


def test_answers_other_than_200_are_counted_as_failures(server):
    run = load.run(server.url, "/webhook", bodies("b", load.bodies_needed(1)), 1, 2)
    assert run.requests > 0
    assert run.not_200 == run.requests  # unsigned: the webhook refuses every one
    assert stored_messages(server) == 0


def test_a_run_that_uses_up_its_bodies_is_an_error(server):
    with pytest.raises(load.LoadError, match="ran out of bodies"):
        load.run(server.url, "/bench/bare", bodies("c", 5), 1, 2)


def test_whole_seconds_given_as_a_float_run_and_a_fraction_is_refused_up_front(server):
    # The CLIs parse numbers; wrk refuses `-d1.0s` and takes no fractions at all.
    run = load.run(server.url, "/bench/bare", bodies("d", load.bodies_needed(1)), 1.0, 2)
    assert run.requests > 20 and run.not_200 == 0
    file = load.prepare(bodies("e", 5), None)
    with pytest.raises(ValueError, match="whole seconds"):
        load.start(server.url, "/bench/bare", file, 1.5, 2)
    assert not file.exists()  # the prepared file does not outlive the refusal


def test_runs_side_by_side_add_their_rates_and_runs_in_turn_add_their_times():
    fast = load.WrkRun(1000, 2.0, 1, {"connect": 0, "read": 0, "write": 0, "timeout": 0},
                       [10_000] * 1000)
    slow = load.WrkRun(500, 2.0, 0, {"connect": 1, "read": 0, "write": 0, "timeout": 0},
                       [40_000] * 1000)
    together = load.combine([fast, slow], side_by_side=True)
    assert together["requests"] == 1500
    assert together["per_s"] == 750.0
    assert together["p50_ms"] == 10.0  # two thirds of the answers took 10 ms
    assert together["p99_ms"] == 40.0
    assert together["non_200"] == 2  # a 5xx and a failed connection
    in_turn = load.combine([fast, slow], side_by_side=False)
    assert in_turn["per_s"] == 375.0
