"""Fault and fuzz tests; each records what it did in the session's ledger."""

from __future__ import annotations

import pytest

from tests.support.ledger import Ledger, LedgerView

_LEDGER = Ledger()


@pytest.fixture
def ledger(request) -> LedgerView:
    """Record faults, payloads, losses and duplicates for the run's summary line."""
    return LedgerView(_LEDGER, request.node.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not any(_LEDGER.by_test.values()):
        return
    terminalreporter.write_sep("=", "reliability")
    for test, figures in sorted(_LEDGER.by_test.items()):
        shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
        terminalreporter.write_line(f"{test}: {shown}")


def pytest_unconfigure(config):
    # After pytest's own "N passed" line, so the run ends with the reliability summary.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and any(_LEDGER.by_test.values()):
        reporter.write_line(_LEDGER.summary())
