"""The summary line counts what tests record, per test and in total."""

from tests.support.ledger import Ledger, LedgerView


def test_records_add_up_per_test_and_in_total():
    ledger = Ledger()
    a, b = LedgerView(ledger, "a"), LedgerView(ledger, "b")
    a.fault(3)
    a.survived(3)
    b.payloads(250)
    b.duplicates(0)
    assert ledger.by_test == {
        "a": {"faults_injected": 3, "faults_survived": 3},
        "b": {"payloads_tried": 250, "duplicates": 0},
    }
    assert ledger.summary() == (
        "reliability: faults injected 3, survived 3; payloads tried 250; "
        "messages lost 0; duplicates 0"
    )
