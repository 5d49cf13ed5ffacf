"""sim.book.ledger: the simulation's own book of entered users, its body audit and its expected
audiences. Truths come from ``hashlib`` and hand-computed closed forms."""

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from sim.book.feed import RunEnd
from sim.book.ledger import Ledger, _Index

GOLDEN_EMAIL = "321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"
GOLDEN_MAID = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"
MAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
WINDOW = 1000.0


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def body(records: str, **extra: object) -> bytes:
    return json.dumps({"records": records, **extra}).encode()


# -- the ledger's book -------------------------------------------------------------------


def make_ledger(fields: tuple[str, ...] = ("email", "maid")) -> Ledger:
    return Ledger(WINDOW, {"add": fields, "remove": fields, "email-only": ("email",)})


def enter(ledger: Ledger, step: str, rows: list[tuple[str, str | None, str | None, float]]) -> None:
    """Book ``rows`` of (a name for the reader, email, maid, entry instant)."""
    ledger.enter(
        step,
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64),
    )


def test_ledger_audit_min_deadline_and_max_entry_of_carried_users() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("u1", "a@x.io", None, 10.0), ("u2", "b@x.io", MAID, 250.0)])
    enter(ledger, "add", [("u3", "c@x.io", None, 40.0)])
    audit = ledger.audit(body(",".join([sha("b@x.io"), sha("a@x.io"), sha(MAID)])))
    assert audit.records == 3
    assert audit.min_deadline_at == 10.0 + WINDOW
    assert audit.max_entered_at == 250.0
    assert audit.raw_pii is False
    only_b = ledger.audit(body(sha(MAID)))
    assert (only_b.records, only_b.min_deadline_at, only_b.max_entered_at) == (
        1,
        250.0 + WINDOW,
        250.0,
    )


def test_ledger_audit_shared_hash_takes_latest_deadline_and_earliest_entry() -> None:
    ledger = make_ledger()
    # the same email (after normalisation) belongs to two users entered at 5 and 300
    enter(ledger, "add", [("early", "Shared@X.io", None, 5.0)])
    enter(ledger, "email-only", [("late", " shared@x.io ", None, 300.0)])
    audit = ledger.audit(body(sha("shared@x.io")))
    assert audit.min_deadline_at == 300.0 + WINDOW
    assert audit.max_entered_at == 5.0


def test_ledger_audit_unknown_ids_count_but_carry_no_deadline() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("u1", "a@x.io", None, 10.0)])
    audit = ledger.audit(body(f"{sha('stranger@x.io')},{sha('other@x.io')}"))
    assert audit.records == 2
    assert math.isnan(audit.min_deadline_at) and math.isnan(audit.max_entered_at)
    assert audit.raw_pii is False


@pytest.mark.parametrize(
    "payload",
    [
        body("a@x.io"),  # a raw email
        body(f"{sha('a@x.io')},a@x.io"),  # one raw email among digests
        body(MAID),  # a raw MAID
        body(MAID.replace("-", "")),  # a bare raw MAID (32 hex, not a digest)
        body(GOLDEN_EMAIL[:-1]),  # 63 hex
        body(GOLDEN_EMAIL + "0"),  # 65 hex
        body(f"{GOLDEN_EMAIL}, {GOLDEN_MAID}"),  # a space is not part of a digest
        body(GOLDEN_EMAIL, name="vip@black-friday"),  # '@' anywhere in the body
        b'{"records": "a\\u0040x.io"}',  # a JSON-escaped '@': the records are not digests
    ],
)
def test_ledger_audit_flags_raw_pii(payload: bytes) -> None:
    assert make_ledger().audit(payload).raw_pii is True


def test_ledger_audit_digests_only_is_not_raw_pii() -> None:
    ledger = make_ledger()
    audit = ledger.audit(body(f"{GOLDEN_EMAIL},{GOLDEN_MAID},", operation_type="ADD"))
    assert (audit.records, audit.raw_pii) == (2, False)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        b"",
        json.dumps({"name": "VIP buyers", "audience_type": "CUSTOMER_LIST"}).encode(),
        b"grant_type=refresh_token&refresh_token=abc",
    ],
)
def test_ledger_audit_body_without_records_is_empty(payload: bytes | None) -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("u1", "a@x.io", None, 10.0)])
    audit = ledger.audit(payload)
    assert audit.records == 0 and audit.raw_pii is False
    assert math.isnan(audit.min_deadline_at) and math.isnan(audit.max_entered_at)


def test_ledger_enter_hashes_only_the_steps_match_fields() -> None:
    ledger = make_ledger()
    enter(ledger, "email-only", [("u1", "a@x.io", MAID, 10.0)])
    assert not math.isnan(ledger.audit(body(sha("a@x.io"))).min_deadline_at)
    assert math.isnan(ledger.audit(body(sha(MAID))).min_deadline_at)


# -- expected members --------------------------------------------------------------------


def users_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """The run's users in the order the engine was given them: step, outcome, when."""
    return pd.DataFrame(rows, columns=["step", "outcome", "outcome_at"])


def expected_of(
    ledger: Ledger,
    users: pd.DataFrame,
    audiences: dict[str, str],
    removes: list[str],
    initial: dict[str, frozenset[str]] | None = None,
) -> dict[str, object]:
    end = RunEnd.of(users, audiences, removes, initial or {})
    return dict(
        ledger.expected_members(
            end.synced,
            audiences,
            removes,
            end.initial,
            entered=end.entered,
            superseded=end.superseded,
        )
    )


def test_ledger_expected_members_applies_adds_and_removes_in_entry_order() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 0.0), ("b", "b@x.io", MAID, 0.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 0.0), ("b", "b@x.io", None, 0.0)])
    enter(ledger, "add", [("c", "c@x.io", None, 0.0), ("d", "d@x.io", None, 0.0)])
    users = users_frame(
        [  # ranks 0-5, all entered at 0: booking order breaks the tie
            ("add", "synced", 10.0),  # a added at 10
            ("add", "synced", 10.0),  # b (email and MAID) added at 10
            ("remove", "synced", 20.0),  # a removed at 20
            ("remove", "synced", 90.0),  # b's email removed at 90: its MAID stays
            ("add", "errored", 30.0),  # c: not synced, ignored
            ("add", "pending", math.nan),  # d
        ]
    )
    expected = expected_of(ledger, users, {"add": "K", "remove": "K"}, removes=["remove"])
    assert expected == {"K": frozenset({sha(MAID)})}


def test_ledger_expected_members_a_re_add_after_a_remove_stays() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 0.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 1.0)])
    enter(ledger, "add", [("a again", "a@x.io", None, 2.0)])
    users = users_frame(
        [("add", "synced", 5.0), ("remove", "synced", 20.0), ("add", "synced", 50.0)]
    )
    expected = expected_of(ledger, users, {"add": "K", "remove": "K"}, removes=["remove"])
    assert expected == {"K": frozenset({sha("a@x.io")})}


def test_ledger_expected_members_follow_entry_instants_not_completion_times() -> None:
    ledger = make_ledger()
    # the book's own instants decide: the remove entered last, whatever the engine says of
    # when each completed (an engine that applied them the other way round fails the check)
    enter(ledger, "remove", [("a", "a@x.io", None, 20.0)])
    enter(ledger, "add", [("a", "a@x.io", None, 10.0), ("b", "b@x.io", None, 11.0)])
    enter(ledger, "remove", [("b", "b@x.io", None, 9.0)])
    users = users_frame(
        [
            ("remove", "synced", 30.0),
            ("add", "synced", 50.0),
            ("add", "synced", 12.0),
            ("remove", "synced", 40.0),
        ]
    )
    expected = expected_of(ledger, users, {"add": "K", "remove": "K"}, removes=["remove"])
    assert expected == {"K": frozenset({sha("b@x.io")})}


def test_ledger_expected_members_accept_superseded_users() -> None:
    ledger = make_ledger()
    seeds = frozenset({sha("a@x.io"), sha("keep@x.io")})
    # coalesced: a's add (and b's remove) were superseded by a later entry of the same id
    enter(ledger, "add", [("a", "a@x.io", None, 1.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 2.0), ("b", "b@x.io", None, 2.5)])
    enter(ledger, "add", [("b", "b@x.io", None, 3.0)])
    users = users_with_reasons(
        [
            ("add", "not_synced", 2.0, "superseded"),
            ("remove", "synced", 10.0, None),
            ("remove", "not_synced", 3.0, "superseded"),
            ("add", "synced", 10.0, None),
        ]
    )
    expected = expected_of(
        ledger, users, {"add": "K", "remove": "K"}, removes=["remove"], initial={"K": seeds}
    )
    assert expected == {"K": frozenset({sha("keep@x.io"), sha("b@x.io")})}


def users_with_reasons(rows: list[tuple[str, str, float, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["step", "outcome", "outcome_at", "reason"])


def test_ledger_expected_members_a_superseded_last_entry_decides() -> None:
    # an engine that sent the earlier add and superseded the later remove kept the wrong one:
    # the book expects the remove's effect, so the mock's list (holding a) fails the check
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 1.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 2.0)])
    users = users_with_reasons(
        [("add", "synced", 5.0, None), ("remove", "not_synced", 2.0, "superseded")]
    )
    expected = expected_of(ledger, users, {"add": "K", "remove": "K"}, removes=["remove"])
    assert expected == {"K": frozenset()}


def test_ledger_expected_members_a_failed_superseder_leaves_the_last_synced_in_force() -> None:
    # a's add was superseded by a remove that then errored (a revoked token): neither reached
    # Pinterest, so the list keeps what it held
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 1.0), ("b", "b@x.io", None, 1.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 2.0), ("b", "b@x.io", None, 2.0)])
    users = users_with_reasons(
        [
            ("add", "not_synced", 2.0, "superseded"),
            ("add", "synced", 5.0, None),
            ("remove", "errored", 9.0, "auth_invalid"),
            ("remove", "errored", 9.0, "auth_invalid"),
        ]
    )
    expected = expected_of(
        ledger, users, {"add": "K", "remove": "K"}, removes=["remove"], initial={"K": frozenset()}
    )
    assert expected == {"K": frozenset({sha("b@x.io")})}


def test_ledger_expected_members_keeps_initial_members_unless_removed() -> None:
    ledger = make_ledger()
    seeds = frozenset({sha("seed1@x.io"), sha("seed2@x.io")})
    enter(ledger, "add", [("n", "new@x.io", None, 0.0)])
    enter(ledger, "remove", [("s", "seed2@x.io", None, 0.0)])
    users = users_frame([("add", "synced", 5.0), ("remove", "synced", 6.0)])
    expected = expected_of(
        ledger,
        users,
        {"add": "Lapsed", "remove": "Lapsed", "email-only": "Other"},
        removes=["remove"],
        initial={"Lapsed": seeds},
    )
    assert expected == {
        "Lapsed": frozenset({sha("seed1@x.io"), sha("new@x.io")}),
        "Other": frozenset(),
    }


def test_ledger_expected_members_ignores_users_without_usable_ids() -> None:
    ledger = make_ledger()
    enter(
        ledger,
        "add",
        [
            ("ok", "ok@x.io", None, 0.0),
            ("bad", "not-an-email", "nope", 0.0),
            ("none", None, None, 0),
        ],
    )
    users = users_frame([("add", "synced", 1.0), ("add", "synced", 2.0), ("add", "synced", 3.0)])
    expected = expected_of(ledger, users, {"add": "K"}, removes=[])
    assert expected == {"K": frozenset({sha("ok@x.io")})}


def test_ledger_expected_members_takes_each_synced_entrys_own_ids() -> None:
    ledger = make_ledger()
    # r enters twice with other ids: each entry that synced put its own ids in the audience
    enter(ledger, "add", [("r", "old@x.io", None, 0.0), ("o", "o@x.io", None, 0.0)])
    enter(ledger, "add", [("r", "new@x.io", MAID, 5.0), ("p", "p@x.io", None, 5.0)])
    enter(ledger, "add", [("o", None, None, 9.0)])  # re-entered with no usable id
    users = users_frame(
        [
            ("add", "synced", 3.0),  # r's first entry
            ("add", "errored", 4.0),  # o's first entry: never synced
            ("add", "synced", 7.0),  # r's second
            ("add", "synced", 8.0),  # p
            ("add", "synced", 9.0),  # o's second: nothing usable
        ]
    )
    expected = expected_of(ledger, users, {"add": "K"}, removes=[])
    assert expected == {
        "K": frozenset({sha("old@x.io"), sha("new@x.io"), sha(MAID), sha("p@x.io")})
    }


def test_ledger_refuses_an_engine_that_holds_other_users_than_it_booked() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 0.0), ("b", "b@x.io", None, 0.0)])
    users = users_frame([("add", "synced", 1.0)])  # one user fewer than booked
    with pytest.raises(ValueError, match="the engine holds"):
        expected_of(ledger, users, {"add": "K"}, removes=[])


# -- bulk paths ----------------------------------------------------------------------------


def test_ledger_audits_noted_bodies_against_users_entered_before() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("u1", "a@x.io", None, 10.0)])
    first = ledger.note(body(sha("a@x.io")))
    early = ledger.note(body(sha("late@x.io")))
    enter(ledger, "email-only", [("u2", "A@x.io", None, 5.0), ("u3", "late@x.io", None, 20.0)])
    later = ledger.note(body(f"{sha('a@x.io')},{sha('late@x.io')}"))
    audits = ledger.audits()
    assert audits.min_deadline_at[first] == 10.0 + WINDOW
    assert audits.max_entered_at[first] == 10.0  # u2's earlier entry came after the note
    assert math.isnan(audits.min_deadline_at[early])
    assert audits.min_deadline_at[later] == 10.0 + WINDOW
    assert audits.max_entered_at[later] == 20.0
    assert audits.records.tolist() == [1, 1, 2]


def test_ledger_audit_digests_sharing_their_first_bytes_stay_apart() -> None:
    ledger = make_ledger()
    twin = GOLDEN_EMAIL[:16] + GOLDEN_MAID[16:]
    enter(ledger, "email-only", [("u1", GOLDEN_EMAIL, None, 1.0), ("u2", twin, None, 2.0)])
    for digest, at in ((GOLDEN_EMAIL, 1.0), (twin, 2.0)):
        audit = ledger.audit(body(digest))
        assert (audit.min_deadline_at, audit.max_entered_at) == (at + WINDOW, at)
    assert math.isnan(ledger.audit(body(GOLDEN_EMAIL[:16] + "0" * 48)).max_entered_at)


@pytest.mark.parametrize("batch", [1, 3, 1 << 20])
def test_ledger_queued_hashing_changes_no_verdict(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values wait in a step's queue until ``_BATCH`` users or a read: hashed a call at a time,
    a few calls at a time or only at the end, the audits and audiences are the same."""
    import sim.book.ledger

    monkeypatch.setattr(sim.book.ledger, "_BATCH", batch)
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", MAID, 1.0), ("b", "b@x.io", None, 2.0)])
    first = ledger.note(body(f"{sha('a@x.io')},{sha('c@x.io')}"))
    enter(ledger, "email-only", [("c", "C@x.io", MAID, 3.0)])
    enter(ledger, "add", [("d", "d@x.io", None, 4.0), ("a", "a@x.io", None, 5.0)])
    enter(ledger, "remove", [("b", "b@x.io", None, 6.0)])
    second = ledger.note(body(f"{sha('a@x.io')},{sha('c@x.io')},{sha(MAID)}"), seen=4)
    third = ledger.note(body(f"{sha('d@x.io')},{sha(MAID)}"))
    audits = ledger.audits()
    assert audits.min_deadline_at.tolist() == [1.0 + WINDOW] * 3
    assert audits.max_entered_at[first] == 1.0  # c came after the note
    assert audits.max_entered_at[second] == 3.0  # d and a's re-entry came after the 4th user
    assert audits.max_entered_at[third] == 4.0
    users = users_frame(
        [  # ranks in booking order: a, b, c, d, a again, b's removal
            ("add", "synced", 1.0),
            ("add", "synced", 2.0),
            ("email-only", "synced", 3.0),
            ("add", "pending", math.nan),
            ("add", "pending", math.nan),
            ("remove", "synced", 4.0),
        ]
    )
    expected = expected_of(
        ledger, users, {"add": "K", "remove": "K", "email-only": "E"}, removes=["remove"]
    )
    # a's first entry carried the MAID too; b's removal took b's email
    assert expected == {
        "K": frozenset({sha("a@x.io"), sha(MAID)}),
        "E": frozenset({sha("c@x.io")}),
    }


@pytest.mark.parametrize("block", [1 << 18, 7], ids=["one_block", "blocks_of_7"])
def test_ledger_index_agrees_with_a_scan_through_repeats_and_shared_prefixes(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.book.ledger

    monkeypatch.setattr(sim.book.ledger, "_LOOK_UP_BLOCK", block)
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 256, size=(400, 32), dtype=np.uint8)
    raw[200:240, :8] = raw[0, :8]  # distinct digests sharing their first 8 bytes with #0
    raw[240:250, 8:] = 0  # trailing zero bytes, which S32 does not show
    distinct = np.frombuffer(raw.tobytes(), dtype="S32")
    shared, repeated = distinct[:300], distinct[rng.integers(0, 260, 300)]
    # every prefix once; prefixes shared by distinct digests; repeats too; both; nothing
    for keys in (distinct[:200], shared, repeated, np.r_[shared, repeated], distinct[:0]):
        rank = rng.permutation(len(keys)).astype(np.int64)
        at = rng.uniform(0, 100, len(keys))
        items = distinct[rng.integers(0, 400, 1000)]
        seen = rng.integers(0, len(keys) + 1, len(items)).astype(np.int64)
        latest, earliest = _Index(keys, rank, at).look_up(items, seen)
        for k, (item, limit) in enumerate(zip(items.tolist(), seen.tolist(), strict=True)):
            booked = [
                a
                for key, r, a in zip(keys.tolist(), rank.tolist(), at.tolist(), strict=True)
                if key == item and r < limit
            ]
            if booked:
                assert (latest[k], earliest[k]) == (max(booked), min(booked))
            else:
                assert math.isnan(latest[k]) and math.isnan(earliest[k])


def test_ledger_expected_members_hold_when_the_engine_interleaved_steps_otherwise() -> None:
    # a live worker enters a fetched batch step by step: the steps' users interleave otherwise
    # than the feed booked them, while each step keeps its own order
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 0.0)])
    enter(ledger, "email-only", [("c", "c@x.io", None, 0.0)])
    enter(ledger, "add", [("b", "b@x.io", None, 1.0)])
    users = users_frame(
        [("add", "synced", 2.0), ("add", "errored", 3.0), ("email-only", "synced", 4.0)]
    )
    expected = expected_of(ledger, users, {"add": "K", "email-only": "E"}, removes=[])
    assert expected == {"K": frozenset({sha("a@x.io")}), "E": frozenset({sha("c@x.io")})}
