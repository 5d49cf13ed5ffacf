from __future__ import annotations

from mock_pinterest.journal import JOURNAL_COLUMNS, Journal, JournalRecord


def _record(**changes: object) -> JournalRecord:
    values: dict[str, object] = {
        "t": 1.5,
        "token_id": "tok-1",
        "user": "default",
        "method": "PATCH",
        "path": "/v5/x",
        "category": "ads_write",
        "status": 200,
        "code": None,
        "records": 3,
        "operation_type": "ADD",
        "customer_list_id": "12",
        "request_id": "r1",
    }
    return JournalRecord(**(values | changes))  # type: ignore[arg-type]


def test_journal_json_has_contract_columns_in_order() -> None:
    journal = Journal()
    journal.append(_record())
    assert list(journal.to_json()[0]) == list(JOURNAL_COLUMNS)


def test_journal_csv_writes_header_and_empty_cells_for_null() -> None:
    journal = Journal()
    journal.append(_record(token_id=None))
    lines = journal.to_csv().splitlines()
    assert lines[0] == ",".join(JOURNAL_COLUMNS)
    assert lines[1] == "1.5,,default,PATCH,/v5/x,ads_write,200,,3,ADD,12,r1"


def test_journal_clear_empties_records() -> None:
    journal = Journal()
    journal.append(_record())
    journal.clear()
    assert journal.records == [] and journal.to_csv().count("\n") == 1
