"""Synthetic Canvas users: messy but realistic identities, cheap enough for millions.

Rules:
- Faker is slow (~90 µs an email), so it runs only once per pool: ``size`` base identities
  (names from several locales, emails on real-looking domains, some Unicode local parts).
  Users are derived from them by number: user ``k`` takes a base identity and a unique tag
  (``local+k@domain`` or ``local.k@domain``), so emails stay unique after normalisation.
- Every per-user choice is a pure function of ``(seed, k)`` (a splitmix64 counter hash over
  numpy arrays), never of call order: ``batch(0, 10)`` and ``batch(0, 4)`` + ``batch(4, 6)``
  give the same users, which lets a driver pick any tick size and replay users later.
- Messiness is data: the ``_EMAIL_MESS`` table says which share of emails is upper-cased,
  padded or mixed-case; malformed emails (share per traffic row) come from ``_MALFORMED``.
  MAIDs are uuid4-format, upper-case (IDFA style) or lower-case (GAID style) half the time.
- No global ``random``: Faker and a ``random.Random`` are seeded from the pool's seed.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from faker import Faker

__all__ = ["DEFAULT_POOL_SIZE", "ProfilePool", "Profiles"]

DEFAULT_POOL_SIZE = 2048
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "pt_BR", "it_IT", "sv_SE")
_UNICODE_SHARE = 0.15  # base identities keeping accents in their local part (josé.garcía@…)
_COMPANY_SHARE = 0.2  # base identities on a work domain rather than a free-mail one

U64 = npt.NDArray[np.uint64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

# (share of emails, how the well-formed email is transformed); the rest stay as made
_EMAIL_MESS: tuple[tuple[float, Callable[[str], str]], ...] = (
    (0.06, str.upper),
    (0.04, lambda email: f"  {email} "),
    (0.03, lambda email: email.title()),
)
# ways an email is broken; chosen evenly among users drawn as malformed
_MALFORMED: tuple[Callable[[str, str], str], ...] = (
    lambda local, domain: f"{local}{domain}",
    lambda local, domain: f"{local}@@{domain}",
    lambda local, domain: f"{local}@",
    lambda local, domain: f"@{domain}",
    lambda local, domain: f"{local} @{domain}",
    lambda local, domain: f"{local}@{domain.split('.')[0]}",
)

_HEX = np.frombuffer(b"0123456789abcdef0123456789ABCDEF", dtype=np.uint8)
# ((first, end) characters of each hyphen-separated group of a UUID, index of its first digit)
_UUID_GROUPS = (((0, 8), 0), ((9, 13), 8), ((14, 18), 12), ((19, 23), 16), ((24, 36), 20))


@dataclass(frozen=True, slots=True)
class Profiles:
    """A batch of users as columns (what ``SyncEngine.enter_many`` takes)."""

    user_ids: list[str]
    emails: list[str | None]
    maids: list[str | None]

    def __len__(self) -> int:
        return len(self.user_ids)

    def __iter__(self) -> Iterator[tuple[str, str | None, str | None]]:
        return zip(self.user_ids, self.emails, self.maids, strict=True)


class ProfilePool:
    """Seeded base identities from which any number of unique users are derived."""

    def __init__(self, seed: int, size: int = DEFAULT_POOL_SIZE) -> None:
        if size < 1:
            raise ValueError("a profile pool needs at least one base identity")
        self.seed = seed
        self._key = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
        self._locals, self._domains = _base_identities(seed, size)
        # a user's number goes between head and tail: ``local+`` k ``@domain``; the separator
        # belongs to the base identity, so two users can only collide if their numbers do
        self._heads = np.array(
            [f"{local}{'.' if i % 3 == 0 else '+'}" for i, local in enumerate(self._locals)],
            dtype=object,
        )
        self._tails = np.array([f"@{domain}\n" for domain in self._domains], dtype=object)

    @property
    def size(self) -> int:
        return len(self._locals)

    def batch(
        self,
        start: int,
        count: int,
        *,
        missing_email: float = 0.0,
        missing_maid: float = 0.0,
        malformed: float = 0.0,
    ) -> Profiles:
        """Users ``start`` … ``start + count - 1``; shares say how many lack or break a field.

        A user's id is its number as a string; its email is unique after normalisation.
        """
        numbers = np.arange(start, start + count, dtype=np.uint64)
        draws = _draws(numbers, self._key, 6)
        base = (draws[0] % np.uint64(self.size)).astype(np.intp)
        user_ids = list(map(str, range(start, start + count)))
        emails = self._emails(user_ids, base, _uniform(draws[1]), malformed)
        maids = _uuids(draws[2], draws[3], upper=draws[4] & np.uint64(1) == 1)
        _blank(emails, _uniform(draws[5]) < missing_email)
        _blank(maids, _uniform(_mix(draws[5])) < missing_maid)
        return Profiles(user_ids=user_ids, emails=emails, maids=maids)

    def _emails(
        self,
        numbers: list[str],
        base: npt.NDArray[np.intp],
        draw: npt.NDArray[np.float64],
        malformed: float,
    ) -> list[str | None]:
        # one join and one split (both in C) instead of millions of concatenations; tails end
        # in a newline, which no base identity contains
        parts = zip(self._heads[base].tolist(), numbers, self._tails[base].tolist(), strict=True)
        emails: list[str | None] = [*"".join(itertools.chain.from_iterable(parts)).split("\n")]
        emails.pop()
        for i in np.flatnonzero(draw < malformed).tolist():
            breaker = _MALFORMED[i % len(_MALFORMED)]
            emails[i] = breaker(self._locals[base[i]], self._domains[base[i]])
        _mess_up(emails, draw, low=malformed)
        return emails


def _mess_up(emails: list[str | None], draw: npt.NDArray[np.float64], *, low: float) -> None:
    """Apply ``_EMAIL_MESS`` to consecutive slices of one uniform draw per user, from ``low``."""
    for share, transform in _EMAIL_MESS:
        high = low + share
        for i in np.flatnonzero((draw >= low) & (draw < high)).tolist():
            emails[i] = transform(str(emails[i]))
        low = high


def _blank(values: list[str | None], mask: npt.NDArray[np.bool_]) -> None:
    for i in np.flatnonzero(mask).tolist():
        values[i] = None


def _mix(x: U64) -> U64:
    """splitmix64's finaliser, elementwise (uint64 arithmetic wraps, as intended)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _draws(numbers: U64, key: np.uint64, streams: int) -> list[U64]:
    """``streams`` independent 64-bit hashes of each user number under the pool's key."""
    current = _mix(numbers * _GOLDEN ^ key)
    draws = [current]
    for _ in range(streams - 1):
        current = _mix(current)
        draws.append(current)
    return draws


def _uniform(bits: U64) -> npt.NDArray[np.float64]:
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _uuids(high: U64, low: U64, *, upper: npt.NDArray[np.bool_]) -> list[str | None]:
    """uuid4-format strings from two 64-bit draws per user, built as one byte matrix."""
    count = len(high)
    raw = np.stack([high, low], axis=1).view(np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    # one gather through a 32-entry table: index = nibble, +16 for upper case
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    nibbles += (upper.astype(np.uint8) << 4)[:, None]
    digits = _HEX[nibbles]
    text = np.full((count, 37), ord("-"), dtype=np.uint8)
    text[:, 36] = ord("\n")
    for (first, end), digit in _UUID_GROUPS:
        text[:, first:end] = digits[:, digit : digit + end - first]
    # one decode and one split (both in C) instead of millions of slices
    uuids: list[str | None] = [*text.tobytes().decode("ascii").split("\n")[:count]]
    return uuids


def _base_identities(seed: int, size: int) -> tuple[list[str], list[str]]:
    """``size`` (local part, domain) pairs from a seeded multi-locale Faker."""
    fake = Faker(list(_LOCALES))
    fake.seed_instance(seed)
    rng = random.Random(seed)
    locals_, domains = [], []
    for _ in range(size):
        first, last = fake.first_name(), fake.last_name()
        style = rng.randrange(4)
        local = (f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}", f"{last}{first[0]}")
        text = "".join(local[style].lower().split()).replace("'", "")
        keep_unicode = rng.random() < _UNICODE_SHARE
        locals_.append(text if keep_unicode else _ascii(text))
        work = rng.random() < _COMPANY_SHARE
        domains.append(fake.domain_name() if work else fake.free_email_domain())
    return locals_, domains


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded or "user"
