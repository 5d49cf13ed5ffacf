"""sim.book.ledger: the simulation's own hashing of ids, its body audit and its expected audiences.

Truths come from ``hashlib`` and hand-computed closed forms, and, for agreement, from
``sync_core.identity`` (an independent implementation of the same DESIGN.md rules).
"""

import hashlib
import json
import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from sim.book.ledger import Ledger, normalise_email, normalise_maid
from sim.world.profiles import ProfilePool
from sync_core.identity import hash_email, hash_maid

GOLDEN_EMAIL = "321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"
GOLDEN_MAID = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"
MAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
WINDOW = 1000.0


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def body(records: str, **extra: object) -> bytes:
    return json.dumps({"records": records, **extra}).encode()


# -- normalisation -----------------------------------------------------------------------


def test_normalise_email_golden_vector() -> None:
    assert normalise_email(" Foo@Example.COM ") == GOLDEN_EMAIL
    assert sha("foo@example.com") == GOLDEN_EMAIL


def test_normalise_maid_golden_vector_keeps_hyphens() -> None:
    assert normalise_maid("6D92078A-8246-4BA4-AE5B-76104861E7DC") == GOLDEN_MAID
    assert sha(MAID) == GOLDEN_MAID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@b.co", sha("a@b.co")),
        ("\tMixed.Case+Tag@Sub.Example.ORG\n", sha("mixed.case+tag@sub.example.org")),
        ("josé.garcía@correo.es", sha("josé.garcía@correo.es")),
        ("\u00a0x@y.z\u00a0", sha("x@y.z")),  # Unicode whitespace is trimmed too
    ],
)
def test_normalise_email_trims_lowercases_and_hashes(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (MAID, sha(MAID)),
        (f"  {MAID.upper()}\n", sha(MAID)),
        (MAID.replace("-", "").upper(), sha(MAID.replace("-", ""))),  # bare 32-hex form
    ],
)
def test_normalise_maid_trims_lowercases_and_hashes(raw: str, expected: str) -> None:
    assert normalise_maid(raw) == expected


@pytest.mark.parametrize("normalise", [normalise_email, normalise_maid])
@pytest.mark.parametrize(
    "digest", [GOLDEN_EMAIL, GOLDEN_EMAIL.upper(), f"  {GOLDEN_MAID.upper()} ", "0" * 64]
)
def test_normalise_digest_passes_through_lowercased(
    normalise: Callable[[str | None], str | None], digest: str
) -> None:
    assert normalise(digest) == digest.strip().lower()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "foo",
        "foo.example.com",
        "foo@@example.com",
        "foo@",
        "@example.com",
        "foo @example.com",
        "foo@exa mple.com",
        "foo@example",
        "foo@example.",
        "foo@.example.com",
        "foo@example..com",
        "a@b@c.com",
        "a,b@c.com",
        "a@b.com,c@d.com",
        "a" * 63,  # one short of a digest
        "g" * 64,  # digest length, not hex
    ],
)
def test_normalise_email_malformed_is_none(raw: str | None) -> None:
    assert normalise_email(raw) is None
    assert hash_email(raw) is None  # the engine agrees these are unusable


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "  ",
        "not-a-maid",
        MAID[:-1],  # 35 characters
        MAID + "0",  # 37 characters
        MAID.replace("-", "")[:-1],  # 31 bare hex digits
        MAID.replace("-", "") + "0",  # 33 bare hex digits
        MAID.replace("d", "g"),  # not hex
        MAID.replace("-", "_"),
        MAID.replace("-", " "),
        "6d92078-a8246-4ba4-ae5b-76104861e7dc",  # 36 characters, a hyphen misplaced
        "foo@example.com",
    ],
)
def test_normalise_maid_malformed_is_none(raw: str | None) -> None:
    assert normalise_maid(raw) is None
    assert hash_maid(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "6d92078a82464ba4-ae5b-76104861e7dc",  # first hyphen missing
        "6d92078a-8246-4ba4-ae5b76104861e7dc",  # last hyphen missing
    ],
)
def test_normalise_maid_agrees_with_engine_on_partial_hyphens(raw: str) -> None:
    assert normalise_maid(raw) == hash_maid(raw)


@pytest.fixture(scope="module")
def messy_profiles() -> list[tuple[str, str | None, str | None]]:
    pool = ProfilePool(seed=11, size=128)
    users = pool.batch(0, 4000, missing_email=0.1, missing_maid=0.3, malformed=0.15)
    return list(users)


def test_normalise_agrees_with_engine_on_messy_profiles(
    messy_profiles: list[tuple[str, str | None, str | None]],
) -> None:
    emails = [email for _, email, _ in messy_profiles]
    maids = [maid for _, _, maid in messy_profiles]
    email_disagreements = [e for e in emails if normalise_email(e) != hash_email(e)]
    maid_disagreements = [m for m in maids if normalise_maid(m) != hash_maid(m)]
    assert email_disagreements == []
    assert maid_disagreements == []
    # the sample really is messy: both verdicts occur, so agreement is not vacuous
    unusable = sum(normalise_email(e) is None for e in emails if e is not None)
    assert 0.1 * len(emails) < unusable < 0.3 * len(emails)
    assert any(e is not None and e != e.strip().lower() and normalise_email(e) for e in emails)
    assert any(m is not None and m.isupper() for m in maids)


# -- the ledger's book -------------------------------------------------------------------


def make_ledger(fields: tuple[str, ...] = ("email", "maid")) -> Ledger:
    return Ledger(WINDOW, {"add": fields, "remove": fields, "email-only": ("email",)})


def enter(ledger: Ledger, step: str, rows: list[tuple[str, str | None, str | None, float]]) -> None:
    ledger.enter(
        step,
        [r[0] for r in rows],
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


def users_frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["step", "user_id", "outcome", "outcome_at"])


def test_ledger_expected_members_replays_adds_and_removes_in_outcome_order() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("a", "a@x.io", None, 0.0), ("b", "b@x.io", MAID, 0.0)])
    enter(ledger, "remove", [("a", "a@x.io", None, 0.0), ("b", "b@x.io", None, 0.0)])
    enter(ledger, "add", [("c", "c@x.io", None, 0.0), ("d", "d@x.io", None, 0.0)])
    users = users_frame(
        [  # deliberately not in outcome_at order
            ("add", "a", "synced", 50.0),  # a: removed at 20, re-added at 50 → present
            ("remove", "a", "synced", 20.0),
            ("remove", "b", "synced", 90.0),  # b: added at 10, email removed at 90
            ("add", "b", "synced", 10.0),
            ("add", "c", "errored", 30.0),  # not synced: ignored
            ("add", "d", "pending", math.nan),
        ]
    )
    expected = ledger.expected_members(
        users, {"add": "K", "remove": "K"}, removes=["remove"], initial={}
    )
    assert expected == {"K": frozenset({sha("a@x.io"), sha(MAID)})}


def test_ledger_expected_members_keeps_initial_members_unless_removed() -> None:
    ledger = make_ledger()
    seeds = frozenset({sha("seed1@x.io"), sha("seed2@x.io")})
    enter(ledger, "add", [("n", "new@x.io", None, 0.0)])
    enter(ledger, "remove", [("s", "seed2@x.io", None, 0.0)])
    users = users_frame([("add", "n", "synced", 5.0), ("remove", "s", "synced", 6.0)])
    expected = ledger.expected_members(
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
    users = users_frame(
        [
            ("add", "ok", "synced", 1.0),
            ("add", "bad", "synced", 2.0),
            ("add", "none", "synced", 3.0),
            ("add", "never-entered", "synced", 4.0),
        ]
    )
    expected = ledger.expected_members(users, {"add": "K"}, removes=[], initial={})
    assert expected == {"K": frozenset({sha("ok@x.io")})}


def test_ledger_expected_members_takes_a_re_entered_users_latest_ids() -> None:
    ledger = make_ledger()
    enter(ledger, "add", [("r", "old@x.io", None, 0.0), ("o", "o@x.io", None, 0.0)])
    enter(ledger, "add", [("r", "new@x.io", MAID, 5.0), ("p", "p@x.io", None, 5.0)])
    enter(ledger, "add", [("o", None, None, 9.0)])  # re-entered with no usable id
    users = users_frame(
        [("add", "r", "synced", 7.0), ("add", "p", "synced", 8.0), ("add", "o", "synced", 9.0)]
    )
    expected = ledger.expected_members(users, {"add": "K"}, removes=[], initial={})
    assert expected == {"K": frozenset({sha("new@x.io"), sha(MAID), sha("p@x.io")})}


# -- bulk paths ----------------------------------------------------------------------------


def test_ledger_blank_class_is_exactly_what_strip_removes() -> None:
    from sim.book.ledger import _BLANK

    assert set(_BLANK) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


@pytest.mark.parametrize("name", ["email", "maid"])
def test_ledger_column_hashing_agrees_with_one_value_at_a_time(
    name: str, messy_profiles: list[tuple[str, str | None, str | None]]
) -> None:
    from sim.book.ledger import _digest_column, _hash_one

    column = [email if name == "email" else maid for _, email, maid in messy_profiles]
    edge = [" Σ@Χ.gr ", "İ@x.com", "\u3000a@b.co\u00a0", "a\u2028b@c.co", GOLDEN_EMAIL.upper()]
    for raws in (column + edge, [*edge, "x\ny@z.com"], []):  # a line break: the slow path
        blob, usable = _digest_column(name, raws)
        expected = [_hash_one(name, raw) for raw in raws]
        assert usable.tolist() == [h is not None for h in expected]
        assert blob.hex() == "".join(h for h in expected if h is not None)


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


@pytest.mark.parametrize(
    "records",
    [
        "",
        ",",
        GOLDEN_EMAIL,
        f"{GOLDEN_EMAIL},",
        f"{GOLDEN_EMAIL},,",
        f"{GOLDEN_EMAIL},{GOLDEN_MAID}",
        f"{GOLDEN_EMAIL},{GOLDEN_MAID},",
        f",{GOLDEN_EMAIL}",
        f"{GOLDEN_EMAIL}{GOLDEN_MAID}",
        f"{GOLDEN_EMAIL[:-1]},{GOLDEN_MAID}0",
        f"{GOLDEN_EMAIL.upper()}",
        f"{GOLDEN_EMAIL[:-1]}é",
        f"{GOLDEN_EMAIL} ",
    ],
)
def test_ledger_digest_only_records_agree_with_the_regex(records: str) -> None:
    from sim.book.digests import digest_list

    listed = re.fullmatch(r"(?:[0-9a-f]{64},)*[0-9a-f]{64},?", records) is not None
    assert digest_list(records) == (bytes.fromhex(records.replace(",", "")) if listed else None)


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
        [
            ("add", "a", "synced", 1.0),
            ("add", "b", "synced", 2.0),
            ("email-only", "c", "synced", 3.0),
            ("remove", "b", "synced", 4.0),
        ]
    )
    expected = ledger.expected_members(
        users, {"add": "K", "remove": "K", "email-only": "E"}, removes=["remove"], initial={}
    )
    assert expected == {"K": frozenset({sha("a@x.io")}), "E": frozenset({sha("c@x.io")})}


def test_ledger_index_hash_and_sorted_paths_agree_with_a_scan() -> None:
    from sim.book.ledger import _Index

    rng = np.random.default_rng(5)
    distinct = np.frombuffer(rng.bytes(32 * 400), dtype="S32")
    for keys in (distinct[:300], distinct[rng.integers(0, 200, 300)]):  # unique, repeated
        rank = rng.permutation(len(keys)).astype(np.int64)
        at = rng.uniform(0, 100, len(keys))
        items = distinct[rng.integers(0, 400, 1000)]
        seen = rng.integers(0, len(keys) + 1, len(items)).astype(np.int64)
        index = _Index(keys, rank, at)
        assert (index.table is not None) == (len(set(keys.tolist())) == len(keys))
        latest, earliest = index.lookup(items, seen)
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
