"""The reliability ledger: what the fault and fuzz tests did, summed into one line.

Tests under ``tests/reliability/`` record through the ``ledger`` fixture; the run ends with
``reliability: faults injected N, survived N; payloads tried N; messages lost N; duplicates N``.
Every figure is counted by the test that caused it, never written in by hand: a fault is
"survived" only after the test checked the state that follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Ledger:
    """Counters shared by one pytest session."""

    faults_injected: int = 0
    faults_survived: int = 0
    payloads_tried: int = 0
    messages_lost: int = 0
    duplicates: int = 0
    by_test: dict[str, dict[str, int]] = field(default_factory=dict)

    def _add(self, test: str, name: str, count: int) -> None:
        setattr(self, name, getattr(self, name) + count)
        per_test = self.by_test.setdefault(test, {})
        per_test[name] = per_test.get(name, 0) + count

    def summary(self) -> str:
        return (
            f"reliability: faults injected {self.faults_injected}, "
            f"survived {self.faults_survived}; payloads tried {self.payloads_tried}; "
            f"messages lost {self.messages_lost}; duplicates {self.duplicates}"
        )


class LedgerView:
    """The view of the ledger one test gets: every record names the test."""

    def __init__(self, ledger: Ledger, test: str) -> None:
        self._ledger = ledger
        self._test = test

    def fault(self, count: int = 1) -> None:
        """A fault was injected (a store stopped, a 500 answered, a process killed)."""
        self._ledger._add(self._test, "faults_injected", count)

    def survived(self, count: int = 1) -> None:
        """The test checked that the service came through that many faults intact."""
        self._ledger._add(self._test, "faults_survived", count)

    def payloads(self, count: int = 1) -> None:
        """Generated or hostile inputs sent to the service."""
        self._ledger._add(self._test, "payloads_tried", count)

    def lost(self, count: int) -> None:
        """Acknowledged messages missing afterwards (the test must also fail on any)."""
        self._ledger._add(self._test, "messages_lost", count)

    def duplicates(self, count: int) -> None:
        """Messages stored or sent more than once (the test must also fail on any)."""
        self._ledger._add(self._test, "duplicates", count)
