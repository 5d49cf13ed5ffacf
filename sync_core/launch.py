"""Whether a Canvas step can launch: the checks, in the order a user fixes them.

Rules:
- ``validate`` raises the first failed check's typed ``LaunchError``; its message names the
  step and what is missing, never a token.
- Checks are the table ``_CHECKS``: (error class, predicate that is true when the step is
  broken, message).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sync_core.errors import (
    AdAccountNotGranted,
    ConnectionNotUsable,
    LaunchError,
    NoAdAccount,
    NoAudienceName,
    NoMatchField,
)
from sync_core.model import MATCH_FIELDS, REQUIRED_SCOPES, Step
from sync_core.token import TokenState, TokenStatus

__all__ = ["validate"]

_Check = tuple[type[LaunchError], Callable[[Step, TokenState | None], bool], str]


def _connection_unusable(step: Step, token: TokenState | None) -> bool:
    return token is None or token.status is TokenStatus.INVALID


def _scopes_missing(step: Step, token: TokenState | None) -> bool:
    return token is not None and not token.connection.scopes >= REQUIRED_SCOPES


def _not_granted(step: Step, token: TokenState | None) -> bool:
    return token is not None and step.ad_account_id not in token.connection.ad_account_ids


def _unknown_field(step: Step, token: TokenState | None) -> bool:
    return any(field not in MATCH_FIELDS for field in step.match_fields)


_CHECKS: tuple[_Check, ...] = (
    (ConnectionNotUsable, _connection_unusable, "its connection is missing or invalid"),
    (ConnectionNotUsable, _scopes_missing, "its connection lacks the ads:read/ads:write scopes"),
    (NoAdAccount, lambda step, _: not step.ad_account_id.strip(), "no ad account is chosen"),
    (NoAudienceName, lambda step, _: not step.audience.name, "no audience is named"),
    (NoMatchField, lambda step, _: not step.match_fields, "no match field is selected"),
    (NoMatchField, _unknown_field, "a match field is not one of email, maid"),
    (AdAccountNotGranted, _not_granted, "its ad account is not granted to the connection"),
)


def validate(step: Step, tokens: Mapping[str, TokenState]) -> None:
    """Raise the ``LaunchError`` for the first thing ``step`` is missing."""
    token = tokens.get(step.connection_id)
    for error, broken, message in _CHECKS:
        if broken(step, token):
            raise error(f"step {step.id!r} cannot launch: {message}")
